"""Multi-node training: LLaMA-Factory's torchrun variables, checked before anything is launched.

LLaMA-Factory launches ``torchrun`` itself and reads ``NNODES``, ``NODE_RANK``, ``MASTER_ADDR``,
``MASTER_PORT``, ``NPROC_PER_NODE`` and ``FORCE_TORCHRUN`` from the environment. A wrong value there
does not fail: the nodes wait for each other until NCCL's time-out, hours later. So before launching,
:func:`read_topology` checks the values (all of the multi-node ones or none, integer ranges, GPUs
per node available, master address resolvable), and :func:`wait_for_nodes` makes every node leave
a marker in the run folder and wait until all nodes' markers are there: a node that does not see
the same run folder (no shared filesystem) stops with a message instead of hanging.

``USE_RAY=1`` is LLaMA-Factory's alternative: Ray places ``ray_num_workers`` workers on a running
cluster (``--set ray_num_workers=16``); torchrun and the node variables are then not used.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from selfimprove.core.errors import UsageError
from selfimprove.core.io import atomic_write_text

MULTINODE = ("NNODES", "NODE_RANK", "MASTER_ADDR", "MASTER_PORT")
_TRUE, _FALSE = ("1", "true", "y", "yes"), ("0", "false", "n", "no")


class DistributedError(UsageError):
    """The multi-node settings are incomplete or inconsistent (a one-line reason)."""


@dataclass(frozen=True)
class Topology:
    nnodes: int = 1
    node_rank: int = 0
    master_addr: str | None = None
    master_port: int | None = None
    nproc_per_node: int | None = None
    force_torchrun: bool | None = None
    use_ray: bool = False

    @property
    def multinode(self) -> bool:
        return self.nnodes > 1

    @property
    def is_main(self) -> bool:
        """The node that records the step and publishes the model (rank 0)."""
        return self.node_rank == 0


def _int(env: Mapping[str, str], name: str, low: int, high: int | None = None) -> int | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise DistributedError(f"{name} must be an integer, not {raw!r}") from None
    if value < low or (high is not None and value > high):
        bound = f">= {low}" if high is None else f"in {low}..{high}"
        raise DistributedError(f"{name} must be {bound}, not {value}")
    return value


def _resolve(host: str) -> object:
    return socket.getaddrinfo(host, None)


def read_topology(
    env: Mapping[str, str], gpus: int | None = None, resolve: Callable[[str], object] | None = None
) -> Topology:
    """The node layout the environment asks for, or :class:`DistributedError` saying what is wrong.

    ``gpus`` is the number of GPUs this node sees (None: unknown); ``resolve`` looks a host name
    up (default: :func:`socket.getaddrinfo`).
    """
    nnodes = _int(env, "NNODES", 1) or 1
    port = _int(env, "MASTER_PORT", 1, 65535)
    nproc = _int(env, "NPROC_PER_NODE", 1)
    rank = _int(env, "NODE_RANK", 0)
    addr = env.get("MASTER_ADDR", "").strip() or None
    force_raw = env.get("FORCE_TORCHRUN", "").strip().lower()
    if force_raw and force_raw not in _TRUE + _FALSE:
        raise DistributedError(f"FORCE_TORCHRUN must be 0 or 1, not {env['FORCE_TORCHRUN']!r}")
    force = None if not force_raw else force_raw in _TRUE
    use_ray = env.get("USE_RAY", "").strip().lower() in _TRUE
    if use_ray and (nnodes > 1 or force):
        raise DistributedError(
            "USE_RAY=1 places the workers through Ray (ray_num_workers); unset NNODES and FORCE_TORCHRUN"
        )
    if nnodes > 1:
        missing = [n for n in MULTINODE if not env.get(n, "").strip()]
        if missing:
            raise DistributedError(
                f"NNODES={nnodes} needs {', '.join(MULTINODE)} on every node; missing here: {', '.join(missing)}"
            )
        assert rank is not None and addr is not None
        if rank >= nnodes:
            raise DistributedError(f"NODE_RANK must be in 0..{nnodes - 1} for NNODES={nnodes}, not {rank}")
        if force is False:
            raise DistributedError(f"NNODES={nnodes} runs through torchrun; unset FORCE_TORCHRUN=0")
    elif rank:
        raise DistributedError(f"NODE_RANK={rank} without NNODES > 1; set NNODES (and MASTER_ADDR, MASTER_PORT)")
    if nproc is not None and gpus is not None and nproc > gpus:
        raise DistributedError(f"NPROC_PER_NODE={nproc} but this node sees {gpus} GPU(s)")
    if addr is not None:
        try:
            (resolve or _resolve)(addr)
        except (OSError, UnicodeError) as e:
            raise DistributedError(f"MASTER_ADDR {addr!r} does not resolve on this node ({e})") from None
    return Topology(nnodes, rank or 0, addr, port, nproc, force, use_ray)


def launch_env(topo: Topology, profile: str) -> dict[str, str]:
    """Variables to set for ``llamafactory-cli``: torchrun whenever DeepSpeed or several nodes are
    used, unless Ray launches the workers (``USE_RAY=1``)."""
    if topo.force_torchrun is None and not topo.use_ray and (profile == "gpu" or topo.multinode):
        return {"FORCE_TORCHRUN": "1"}
    return {}


def world_size(topo: Topology, gpus: int | None, profile: str, args: Mapping[str, object]) -> int | None:
    """Training processes, as LLaMA-Factory launches them: ``ray_num_workers`` (default 1) with
    ``USE_RAY=1``; else, under torchrun (the gpu profile, several nodes, or ``FORCE_TORCHRUN=1``),
    ``NPROC_PER_NODE`` (default: the ``gpus`` this node sees) x ``NNODES``; else one process.
    None when torchrun's processes per node are unknown (no GPU count)."""
    if topo.use_ray:
        return int(str(args.get("ray_num_workers", 1)))
    if profile == "gpu":
        per_node = topo.nproc_per_node or gpus
    elif topo.multinode or topo.force_torchrun:
        per_node = topo.nproc_per_node or 1
    else:
        return 1
    return per_node * topo.nnodes if per_node else None


def visible_gpus(env: Mapping[str, str]) -> int | None:
    """GPUs this node can use: ``CUDA_VISIBLE_DEVICES`` when set, else ``nvidia-smi -L``; None if unknown."""
    cvd = env.get("CUDA_VISIBLE_DEVICES")
    if cvd is not None:
        return len([d for d in cvd.split(",") if d.strip() and d.strip() != "-1"])
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return sum(1 for line in out.stdout.splitlines() if line.startswith("GPU ")) if out.returncode == 0 else None


def wait_for_nodes(
    marker_dir: Path,
    topo: Topology,
    timeout: float,
    poll: float = 2.0,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Leave this node's marker in ``marker_dir`` (in the run folder) and wait for every node's.

    A marker counts when it was written at most ``timeout`` seconds before this node began to wait
    (older ones are from an earlier attempt). Raises :class:`DistributedError` naming the missing
    ranks when time runs out.
    """
    marker_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(
        marker_dir / f"node{topo.node_rank}",
        f"{socket.gethostname()} pid={os.getpid()} master={topo.master_addr}:{topo.master_port}\n",
    )
    start = clock()
    while True:
        missing = []
        for r in range(topo.nnodes):
            try:
                fresh = (marker_dir / f"node{r}").stat().st_mtime >= start - timeout
            except FileNotFoundError:
                fresh = False
            if not fresh:
                missing.append(r)
        if not missing:
            return
        if clock() - start >= timeout:
            raise DistributedError(
                f"after {timeout:.0f}s, node(s) {', '.join(map(str, missing))} of {topo.nnodes} left no marker in "
                f"{marker_dir}: start the same command on every node, with the run folder on a filesystem they share"
            )
        sleep(poll)
