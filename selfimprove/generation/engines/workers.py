"""Data parallelism over device groups: the worker-process pool and GPU grouping.

:func:`gpu_groups` splits the visible GPUs into tensor-parallel groups; :class:`DataParallelWorkers`
runs one process per group (its ``CUDA_VISIBLE_DEVICES`` set before CUDA starts), shards inputs
over them contiguously and reassembles the outputs in order. Nothing here knows about vLLM.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from typing import Any

from selfimprove.core.errors import UsageError


def visible_gpus() -> list[str]:
    """GPU ids this process may use, without initialising CUDA."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [d.strip() for d in env.split(",") if d.strip() and d.strip() != "-1"]
    try:
        import subprocess

        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20)
        return [str(i) for i, line in enumerate(out.stdout.splitlines()) if line.startswith("GPU")]
    except (OSError, subprocess.SubprocessError):
        return []


_visible_gpus = visible_gpus  # the older name


def gpu_groups(gpus: Sequence[str], tp: int, dp: int | None = None) -> list[str]:
    """Split visible GPU ids into ``dp`` tensor-parallel groups of ``tp`` ids each ("0,1", "2,3").

    ``dp=None`` uses as many whole groups as the GPUs allow (at least one).
    """
    if tp < 1:
        raise UsageError(f"tp={tp}; the tensor-parallel size must be at least 1")
    if dp is not None and dp < 1:
        raise UsageError(f"dp={dp}; the number of data-parallel engines must be at least 1")
    gpus = list(gpus)
    n_groups = dp if dp is not None else max(1, len(gpus) // tp)
    if n_groups * tp > len(gpus):
        raise UsageError(f"dp={n_groups} x tp={tp} needs {n_groups * tp} GPUs, {len(gpus)} visible")
    return [",".join(gpus[i * tp : (i + 1) * tp]) for i in range(n_groups)]


def contiguous_shards(items: Sequence, k: int) -> list[list]:
    """``k`` contiguous slices of ``items`` (the last ones may be short or empty), in order."""
    items = list(items)
    size = (len(items) + k - 1) // k
    return [items[i * size : (i + 1) * size] for i in range(k)]


class DataParallelWorkers:
    """One spawned process per device group, each running ``target(rank, devices, kwargs, inbox,
    outbox)``.

    The protocol: a worker sets up (``devices`` is its ``CUDA_VISIBLE_DEVICES``, or None), then puts
    ``("ready", rank, None)`` or ``("error", rank, message)`` on ``outbox``; after that it takes jobs
    ``(texts, params)`` from its ``inbox`` and answers each with ``("ok", rank, outputs)`` (one
    entry per text, in order) or ``("error", rank, message)``; ``None`` on the inbox stops it.
    :meth:`generate` shards texts contiguously over the workers and reassembles the results in
    order. A worker that reports an error, or exits without answering, raises a RuntimeError
    naming its rank. ``target`` must be picklable (a module-level function).

    Each worker has its own outbox: a queue's writers share one lock, and a worker that dies
    while its queue's sender thread holds that lock (a crash right after a reply) would otherwise
    block every other worker's replies for good. The parent waits on the outboxes and the
    processes' exit sentinels together, so a death is seen at once.
    """

    poll_seconds = 1.0  # how often a wait on the workers checks that they are still alive

    def __init__(self, target: Callable, groups: Sequence[str | None], kwargs: dict, label: str = "worker"):
        import multiprocessing as mp

        if not groups:
            raise ValueError("DataParallelWorkers needs at least one device group")
        self.label = label
        self.groups = list(groups)
        ctx = mp.get_context("spawn")
        self._outboxes: list[Any] = []
        self._workers: list[tuple[Any, Any]] = []
        try:
            for rank, devices in enumerate(self.groups):
                inbox, outbox = ctx.Queue(), ctx.Queue()
                proc = ctx.Process(
                    target=target,
                    args=(rank, devices, kwargs, inbox, outbox),
                    daemon=True,
                    name=f"{label} {rank}",
                )
                proc.start()
                self._workers.append((proc, inbox))
                self._outboxes.append(outbox)
            replies = self._collect(range(len(self.groups)), stop_on_error=True)
            for rank in sorted(replies):
                kind, msg = replies[rank]
                if kind == "error":
                    raise RuntimeError(f"{label} {rank} failed to start: {msg}")
        except BaseException:
            self.close()
            raise

    def __len__(self) -> int:
        return len(self.groups)

    @property
    def processes(self) -> list:
        return [proc for proc, _ in self._workers]

    def _collect(self, ranks, stop_on_error: bool = False) -> dict[int, tuple[str, Any]]:
        """Wait for one reply from each of ``ranks`` (or, with ``stop_on_error``, until the first
        error); a worker that died unanswered is an error."""
        import queue
        from multiprocessing.connection import wait

        pending = set(ranks)
        replies: dict[int, tuple[str, Any]] = {}

        def stop() -> bool:
            return not pending or (stop_on_error and any(k == "error" for k, _ in replies.values()))

        while not stop():
            for rank in sorted(pending):  # whatever has arrived
                try:
                    kind, _, payload = self._outboxes[rank].get_nowait()
                except queue.Empty:
                    continue
                replies[rank] = (kind, payload)
                pending.discard(rank)
            if stop():
                break
            readers = [self._outboxes[r]._reader for r in pending]  # the queues' receiving ends
            sentinels = {self._workers[r][0].sentinel: r for r in pending}
            ready = wait(readers + list(sentinels), timeout=self.poll_seconds)
            for rank in sorted(pending):
                proc = self._workers[rank][0]
                if proc.sentinel in ready or not proc.is_alive():
                    try:  # a last word sent just before it exited
                        kind, _, payload = self._outboxes[rank].get(timeout=self.poll_seconds)
                        replies[rank] = (kind, payload)
                    except queue.Empty:
                        proc.join(timeout=self.poll_seconds)
                        replies[rank] = ("error", f"process exited with code {proc.exitcode}")
                    pending.discard(rank)
        return replies

    def generate(self, texts: Sequence[str], params: Any) -> list:
        """Outputs for ``texts`` in order: contiguous shards, one per worker, reassembled.
        ``params`` is one value for every text, or a list with one per text (sharded alike)."""
        if not self._workers:
            raise RuntimeError(f"{self.label}s are closed")
        shards = contiguous_shards(texts, len(self._workers))
        if isinstance(params, list) and len(params) != len(texts):
            raise ValueError(f"{len(params)} parameter sets for {len(texts)} texts")
        jobs = contiguous_shards(params, len(self._workers)) if isinstance(params, list) else [params] * len(shards)
        busy = [rank for rank, shard in enumerate(shards) if shard]
        for rank in busy:
            self._workers[rank][1].put((shards[rank], jobs[rank]))
        # wait for every busy worker, even after an error, so no stale reply is left for the next call
        replies = self._collect(busy)
        for rank in busy:
            kind, payload = replies[rank]
            if kind != "ok":
                raise RuntimeError(f"{self.label} {rank} failed: {payload}")
            if len(payload) != len(shards[rank]):
                raise RuntimeError(
                    f"{self.label} {rank} returned {len(payload)} outputs for {len(shards[rank])} inputs"
                )
        return [out for rank in busy for out in replies[rank][1]]

    def close(self, timeout: float = 30.0) -> None:
        """Ask every worker to stop; terminate those still running after ``timeout`` seconds."""
        workers, self._workers = self._workers, []
        for _proc, inbox in workers:
            try:
                inbox.put(None)
            except Exception:
                pass
        deadline = time.time() + timeout
        for proc, _ in workers:
            proc.join(timeout=max(0.0, deadline - time.time()))
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=5)
