"""A warm pool of worker processes for the symbolic layer, bounded in CPU time, not wall time.

Why processes and not ``signal.alarm`` in the caller: signals only work in the main thread,
so a grader relying on them breaks inside thread pools. Here each sympy comparison runs in a
``python -m selfimprove.grading.worker`` child; the caller waits on its pipe with ``select``.

Why CPU time: on a busy machine (training next door, both cores taken) wall time stretches
while the work does not, so a wall-clock budget turns load into verdicts. The budget of a
call is measured in CPU seconds *of the worker*: the worker arms ``ITIMER_PROF`` (a CPU-time
timer) and answers ``timeout`` when it fires; the caller also reads the worker's CPU clock
(``/proc/<pid>/stat``) while it waits and kills it only when it overran its CPU budget by
``GRACE`` seconds (stuck in C code that never returns to the interpreter). A call that truly
ran out of budget comes back as ``timeout`` -- its own status, never "not equivalent".

Determinism under load, in detail:

* the pool holds one worker more than the threads that use it, and a killed worker's
  replacement is started at once in the background: a warm spare is ready before it is needed;
* a caller that finds no idle worker waits (up to ``WAIT_CAP`` seconds of wall time) instead
  of giving up; a worker that dies in the middle of a call (not killed by us) is replaced and
  the call is retried on another worker (``RETRIES`` times);
* workers run with ``PYTHONHASHSEED=0`` so sympy's set orderings are the same in every run;
* only the wall-clock cap ``WAIT_CAP`` (seconds, far above any CPU budget) can still end a
  call on a machine so overloaded that the worker gets no CPU at all; the call is then
  reported ``timeout`` as well.

On platforms without ``/proc`` the caller falls back to a wall-clock watchdog of the same
size; without ``select`` on pipes (Windows) the symbolic layer runs in-process.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import queue
import select
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

__all__ = ["SymbolicPool", "SymbolicResult", "get_pool", "shutdown_pool", "GRACE", "WAIT_CAP"]

log = logging.getLogger(__name__)

GRACE = 0.1  # CPU seconds a worker may overrun its budget before it is killed
WAIT_CAP = 60.0  # wall seconds a call may wait for a worker or for its answer
RETRIES = 2
_POLL = 0.02
_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") and "SC_CLK_TCK" in os.sysconf_names else 100


@dataclass(frozen=True)
class SymbolicResult:
    """One symbolic comparison: ``equal`` (``None`` unless ``status == "ok"``), CPU seconds used."""

    equal: bool | None
    status: str
    cpu: float


def _proc_cpu(pid: int) -> float | None:
    """CPU seconds (user + system) a process has used, from ``/proc``; ``None`` where unavailable."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rfind(b")") + 2 :].split()
    try:
        return (int(fields[11]) + int(fields[12])) / _CLK_TCK
    except (IndexError, ValueError):
        return None


def _child_env() -> dict[str, str]:
    """Environment for a worker: the project importable, hashing fixed, numeric threads capped."""
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["PYTHONHASHSEED"] = "0"
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


class _Worker:
    """One ``python -m selfimprove.grading.worker`` child speaking JSON lines on its pipes."""

    __slots__ = ("proc", "stdin", "stdout", "_buf", "use_proc")

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "selfimprove.grading.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=_child_env(),
            close_fds=True,
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.stdin, self.stdout = self.proc.stdin, self.proc.stdout
        self._buf = b""
        self.use_proc = _proc_cpu(self.proc.pid) is not None

    def _read_chunk(self, timeout: float) -> bool | None:
        """Read what is there within ``timeout``: True (got data), False (nothing yet), None (EOF)."""
        fd = self.stdout.fileno()
        ready, _, _ = select.select([fd], [], [], max(0.0, timeout))
        if not ready:
            return False
        chunk = os.read(fd, 65536)
        if not chunk:
            return None
        self._buf += chunk
        return True

    def wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        try:
            while b"\n" not in self._buf:
                left = deadline - time.monotonic()
                if left <= 0 or self._read_chunk(left) is None:
                    return False
        except OSError:
            return False
        line, self._buf = self._buf.split(b"\n", 1)
        return line == b"ready"

    def request(self, a: str, b: str, budget: float) -> SymbolicResult | None:
        """The worker's answer; a ``timeout`` result when it overran (then it must be killed);
        ``None`` when it died on its own."""
        cpu0 = _proc_cpu(self.proc.pid) if self.use_proc else None
        start = time.monotonic()
        try:
            self.stdin.write(json.dumps([a, b, budget]).encode() + b"\n")
            self.stdin.flush()
            while b"\n" not in self._buf:
                got = self._read_chunk(_POLL)
                if got is None:
                    return None
                if got:
                    continue
                wall = time.monotonic() - start
                if cpu0 is not None:
                    cpu = _proc_cpu(self.proc.pid)
                    if cpu is None:
                        return None
                    used = cpu - cpu0
                else:
                    used = wall
                if used > budget + GRACE or wall > WAIT_CAP:
                    return SymbolicResult(None, "timeout:killed", used)
        except (OSError, ValueError):
            return None
        line, self._buf = self._buf.split(b"\n", 1)
        try:
            reply = json.loads(line)
            return SymbolicResult(reply["r"], str(reply["s"]), float(reply["cpu"]))
        except (ValueError, KeyError, TypeError):
            return SymbolicResult(None, "error:BadReply", 0.0)

    def kill(self) -> None:
        try:
            self.proc.kill()
        except Exception:
            pass
        for stream in (self.stdin, self.stdout):
            try:
                stream.close()
            except Exception:
                pass
        try:
            self.proc.wait(timeout=2.0)
        except Exception:
            pass


class SymbolicPool:
    """``size`` warm worker processes answering ``symbolic_equal(a, b)`` within a CPU budget."""

    def __init__(self, size: int = 2) -> None:
        self.size = max(1, int(size))
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._lock = threading.Lock()
        self._workers: set[_Worker] = set()
        self._inprocess = os.name != "posix"
        self._started = False
        self.kills = 0
        self.deaths = 0

    # -- lifecycle ---------------------------------------------------------------------
    def start(self, startup_timeout: float = 120.0) -> None:
        """Start the workers and wait until they are warm (one-time cost, about a second)."""
        with self._lock:
            if self._started:
                return
            self._started = True
            missing = self.size - len(self._workers)
        self._add_workers(missing, startup_timeout)

    def resize(self, size: int) -> None:
        """Grow the pool to at least ``size`` workers."""
        with self._lock:
            extra = size - self.size
            if extra <= 0 or not self._started:
                self.size = max(self.size, size)
                return
            self.size = size
        self._add_workers(extra, 120.0)

    def _add_workers(self, count: int, timeout: float) -> None:
        if count <= 0 or self._inprocess:
            return
        try:
            fresh = [_Worker() for _ in range(count)]
        except (OSError, ValueError) as exc:
            log.warning("symbolic grader falls back to in-process evaluation: %s", exc)
            self._inprocess = True
            return
        for w in fresh:
            if w.wait_ready(timeout):
                with self._lock:
                    self._workers.add(w)
                self._idle.put(w)
            else:
                w.kill()

    def _replace(self, dead: _Worker) -> None:
        with self._lock:
            self._workers.discard(dead)
            started = self._started
        dead.kill()
        if self._inprocess or not started:
            return
        try:
            w = _Worker()
        except Exception as exc:  # pragma: no cover - resource exhaustion
            log.warning("could not start a replacement grader worker: %s", exc)
            return
        if w.wait_ready(120.0):
            with self._lock:
                self._workers.add(w)
            self._idle.put(w)
        else:
            w.kill()

    def close(self) -> None:
        """Stop every worker."""
        with self._lock:
            workers = list(self._workers)
            self._workers.clear()
            self._started = False
        while True:
            try:
                self._idle.get_nowait()
            except queue.Empty:
                break
        for w in workers:
            w.kill()

    def _replace_later(self, w: _Worker) -> None:
        threading.Thread(target=self._replace, args=(w,), daemon=True).start()

    # -- calls -------------------------------------------------------------------------
    def call(self, a: str, b: str, budget: float) -> SymbolicResult:
        """``symbolic_equal(a, b)`` within ``budget`` CPU seconds of a worker."""
        if not self._started:
            self.start()
        if self._inprocess:
            from . import symbolic

            t0 = time.process_time()
            return SymbolicResult(symbolic.symbolic_equal(a, b), "ok", time.process_time() - t0)
        for _attempt in range(RETRIES + 1):
            try:
                w = self._idle.get(timeout=WAIT_CAP)
            except queue.Empty:
                return SymbolicResult(None, "error:NoWorker", 0.0)
            result = w.request(a, b, budget)
            if result is None:  # died on its own (not our kill): replace it and try another
                self.deaths += 1
                self._replace_later(w)
                continue
            if result.status == "timeout:killed":
                self.kills += 1
                self._replace_later(w)
                return SymbolicResult(None, "timeout", result.cpu)
            self._idle.put(w)
            return result
        return SymbolicResult(None, "error:WorkerDied", 0.0)


_POOL: SymbolicPool | None = None
_POOL_LOCK = threading.Lock()
_POOL_PID: int | None = None
_CONFIGURED_SIZE = 0  # set_pool_size: the commands' GRADER_SYMBOLIC_WORKERS (0: automatic)


def set_pool_size(workers: int) -> None:
    """The size of pools created from now on when no caller asks for one (0: automatic)."""
    global _CONFIGURED_SIZE
    _CONFIGURED_SIZE = max(0, int(workers))


def get_pool(min_size: int | None = None) -> SymbolicPool:
    """The process-wide pool (created lazily; a forked child gets its own).

    Its size is one more than ``min_size`` (the threads that will use it): the spare.
    """
    global _POOL, _POOL_PID
    want = (min_size + 1) if min_size else None
    with _POOL_LOCK:
        if _POOL is None or _POOL_PID != os.getpid():
            size = want or _CONFIGURED_SIZE or min(2, os.cpu_count() or 1) + 1
            _POOL = SymbolicPool(size)
            _POOL_PID = os.getpid()
        pool = _POOL
    if want and want > pool.size:
        pool.resize(want)
    return pool


def shutdown_pool() -> None:
    """Stop the process-wide pool (also registered with ``atexit``)."""
    global _POOL
    with _POOL_LOCK:
        pool, _POOL = _POOL, None
    if pool is not None and _POOL_PID == os.getpid():
        pool.close()


atexit.register(shutdown_pool)
