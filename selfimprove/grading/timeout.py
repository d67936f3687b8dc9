"""A small pool of killable worker processes that enforces a hard deadline per call.

Why not ``signal.alarm``: signals only work in the main thread of the main interpreter, so
graders that rely on them break (or silently stop bounding time) inside thread pools and
worker pools. Here the expensive call runs in a separate process
(``python -m selfimprove.grading.worker``); the caller waits on its pipe with ``select`` and a
timeout and, if the worker overruns, kills it (SIGKILL) and starts a replacement in the
background. This works the same from any thread and from any kind of worker process
(including daemonic ``multiprocessing.Pool`` workers, which may not use ``multiprocessing``
children), and never re-imports the caller's ``__main__`` module.

Workers are plain interpreters that import sympy and latex2sympy2_extended once (about a
second, paid when the pool starts). On platforms without ``select`` on pipes (Windows) the
symbolic layer runs in-process: the regex guards of :mod:`selfimprove.grading.symbolic`
still refuse the inputs known to explode, but the hard deadline is then not enforced.
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

__all__ = ["SymbolicPool", "get_pool", "shutdown_pool"]

log = logging.getLogger(__name__)


def _child_env() -> dict[str, str]:
    """Environment for a worker: the project importable, threads of numeric libs capped."""
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


class _Worker:
    """One ``python -m selfimprove.grading.worker`` child speaking JSON lines on its pipes."""

    __slots__ = ("proc", "_buf")

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "selfimprove.grading.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=_child_env(),
            close_fds=True,
        )
        self._buf = b""

    def _readline(self, timeout: float) -> bytes | None:
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buf:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                return None
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return line

    def wait_ready(self, timeout: float) -> bool:
        try:
            return self._readline(timeout) == b"ready"
        except OSError:
            return False

    def request(self, a: str, b: str, timeout: float) -> bool | None:
        try:
            self.proc.stdin.write(json.dumps([a, b]).encode() + b"\n")
            self.proc.stdin.flush()
            line = self._readline(timeout)
        except (OSError, ValueError):
            return None
        if line is None:
            return None
        try:
            return bool(json.loads(line))
        except ValueError:
            return None

    def kill(self) -> None:
        try:
            self.proc.kill()
        except Exception:
            pass
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except Exception:
                pass
        try:
            self.proc.wait(timeout=2.0)
        except Exception:
            pass


class SymbolicPool:
    """``size`` worker processes answering ``symbolic_equal(a, b)`` under a deadline."""

    def __init__(self, size: int = 2) -> None:
        self.size = max(1, int(size))
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._lock = threading.Lock()
        self._workers: set[_Worker] = set()
        self._inprocess = os.name != "posix"
        self._started = False
        self.kills = 0

    # -- lifecycle ---------------------------------------------------------------------
    def start(self, startup_timeout: float = 60.0) -> None:
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
        self._add_workers(extra, 60.0)

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
        dead.kill()
        if self._inprocess:
            return
        try:
            w = _Worker()
        except Exception as exc:  # pragma: no cover - resource exhaustion
            log.warning("could not start a replacement grader worker: %s", exc)
            return
        if w.wait_ready(60.0):
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

    # -- calls -------------------------------------------------------------------------
    def call(self, a: str, b: str, timeout: float) -> bool | None:
        """``symbolic_equal(a, b)`` or ``None`` when it could not finish within ``timeout``."""
        if not self._started:
            self.start()
        if self._inprocess:
            from . import symbolic

            return symbolic.symbolic_equal(a, b)
        deadline = time.monotonic() + max(0.0, timeout)
        try:
            w = self._idle.get(timeout=max(0.001, timeout))
        except queue.Empty:
            return None
        remaining = deadline - time.monotonic()
        result = w.request(a, b, remaining) if remaining > 0 else None
        if result is not None:
            self._idle.put(w)
            return result
        self.kills += 1
        threading.Thread(target=self._replace, args=(w,), daemon=True).start()
        return None


_POOL: SymbolicPool | None = None
_POOL_LOCK = threading.Lock()
_POOL_PID: int | None = None


def get_pool(min_size: int | None = None) -> SymbolicPool:
    """The process-wide pool (created lazily; a forked child gets its own)."""
    global _POOL, _POOL_PID
    with _POOL_LOCK:
        if _POOL is None or _POOL_PID != os.getpid():
            size = min_size or int(os.environ.get("GRADER_SYMBOLIC_WORKERS", "0") or 0) or min(2, os.cpu_count() or 1)
            _POOL = SymbolicPool(size)
            _POOL_PID = os.getpid()
        pool = _POOL
    if min_size and min_size > pool.size:
        pool.resize(min_size)
    return pool


def shutdown_pool() -> None:
    """Stop the process-wide pool (also registered with ``atexit``)."""
    global _POOL
    with _POOL_LOCK:
        pool, _POOL = _POOL, None
    if pool is not None and _POOL_PID == os.getpid():
        pool.close()


atexit.register(shutdown_pool)
