"""Idle engines use no CPU: at most one engine computes at a time, the others are paused.

vLLM's CPU backend runs each engine in child processes (engine core and worker) whose threads
are bound to every core. An evaluation holds two engines (actor and critic) for a whole step,
and an idle engine's processes compete with the working one for the same cores. vLLM's sleep
mode (which frees weights and KV cache) is not available on the CPU platform, and restarting an
engine costs its whole start-up (about 17 s for the embedded model on two cores), so an idle
engine is *suspended* instead: its processes get SIGSTOP and, when it is needed again, SIGCONT.
Resuming is immediate and nothing is reloaded; the memory stays allocated.

Engines register here when they have processes to pause; every engine calls :func:`activate`
before it generates, which pauses all other registered engines and resumes the caller.
:func:`set_enabled` (the commands' ``SELFIMPROVE_SUSPEND_IDLE=0``) turns pausing off (engines then stay
running side by side).
Paused processes are resumed at exit, on SIGTERM and when their engine closes, so they can
shut down. Stages handle SIGTERM themselves (:mod:`selfimprove.core.stop`), which resumes them at
once; elsewhere, once an engine is registered, SIGTERM (when nothing else handles it) resumes them and
ends the process by ``SystemExit(143)`` instead of at once: ``with`` blocks and exit handlers then
close the engines, whose vLLM processes would otherwise outlive this one (and keep using CPU).
POSIX only; elsewhere nothing is paused.
"""

from __future__ import annotations

import atexit
import signal
import threading
import weakref
from typing import Any

from selfimprove.core import stop

ENV = "SELFIMPROVE_SUSPEND_IDLE"  #: the variable the commands read (selfimprove.stages)
_enabled = True
_TRACKERS = ("resource_tracker", "semaphore_tracker", "forkserver")

_registered: list[weakref.ref] = []
_lock = threading.Lock()
_handlers_installed = False


def set_enabled(on: bool) -> None:
    """Pause idle engines (the default) or leave them running."""
    global _enabled
    _enabled = bool(on)


def enabled() -> bool:
    return _enabled and hasattr(signal, "SIGSTOP")


def register(engine: Any) -> None:
    """Let :func:`activate` pause ``engine`` while another engine works."""
    with _lock:
        _prune()
        if not any(r() is engine for r in _registered):
            _registered.append(weakref.ref(engine))
    install_exit_handlers()


def unregister(engine: Any) -> None:
    with _lock:
        _registered[:] = [r for r in _registered if r() is not None and r() is not engine]


def registered() -> list[Any]:
    with _lock:
        _prune()
        return [e for e in (r() for r in _registered) if e is not None]


def activate(engine: Any) -> None:
    """``engine`` is about to compute: pause every other registered engine, resume this one."""
    others = [e for e in registered() if e is not engine]
    if enabled():
        for e in others:
            e.suspend()
    else:
        for e in others:
            e.resume()
    engine.resume()


def resume_all() -> None:
    for e in registered():
        try:
            e.resume()
        except Exception:  # best effort at exit
            pass


def _prune() -> None:
    _registered[:] = [r for r in _registered if r() is not None]


def install_exit_handlers() -> None:
    """Resume paused processes before this process ends (a stopped child cannot shut down), and
    let SIGTERM unwind so engines are closed."""
    global _handlers_installed
    if _handlers_installed:
        return
    _handlers_installed = True
    atexit.register(resume_all)
    stop.at_stop(resume_all)  # a stage stopping on a signal resumes them at once (selfimprove/core/stop.py)
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:

        def on_term(signum, frame):
            signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM ends at once
            resume_all()
            raise SystemExit(128 + signum)  # unwind, so engines close and their processes end too

        signal.signal(signal.SIGTERM, on_term)


# --------------------------------------------------------------------------- process sets


def child_pids() -> set[int]:
    """Every descendant process of this one, now."""
    import psutil

    return {p.pid for p in psutil.Process().children(recursive=True)}


class ProcessSet:
    """The processes one engine started: found as the descendants that its construction added
    (:meth:`started_since`), minus the interpreter's shared helper processes. Suspending
    includes any children those processes started later."""

    def __init__(self, processes: list[Any]):
        self.processes = processes
        self.suspended = False

    @classmethod
    def started_since(cls, before: set[int]) -> ProcessSet:
        import psutil

        new = []
        for p in psutil.Process().children(recursive=True):
            if p.pid in before:
                continue
            try:
                cmd = " ".join(p.cmdline())
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            if not any(t in cmd for t in _TRACKERS):
                new.append(p)
        return cls(new)

    @classmethod
    def of_pids(cls, pids: list[int]) -> ProcessSet:
        import psutil

        procs = []
        for pid in pids:
            try:
                procs.append(psutil.Process(pid))
            except psutil.NoSuchProcess:
                pass
        return cls(procs)

    def __len__(self) -> int:
        return len(self.processes)

    def alive(self) -> list[Any]:
        """The processes still running (same pid and start time), with their descendants."""
        import psutil

        out: dict[int, Any] = {}
        for p in self.processes:
            try:
                if p.is_running():
                    out[p.pid] = p
                    for c in p.children(recursive=True):
                        out.setdefault(c.pid, c)
            except psutil.NoSuchProcess:
                pass
        return list(out.values())

    def _signal_all(self, method: str) -> int:
        import psutil

        done = 0
        for p in self.alive():
            try:
                getattr(p, method)()
                done += 1
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                pass
        return done

    def suspend(self) -> bool:
        if self.suspended or not self.processes:
            return self.suspended
        self.suspended = self._signal_all("suspend") > 0
        return self.suspended

    def resume(self) -> None:
        if self.suspended:
            self._signal_all("resume")
            self.suspended = False

    def stop(self, timeout: float = 10.0) -> None:
        """Resume, then terminate whatever is still running after ``timeout`` seconds of waiting
        (the engine's own shutdown normally ended them already)."""
        import psutil

        self.resume()
        procs = self.alive()
        _, left = psutil.wait_procs(procs, timeout=timeout)
        for p in left:
            try:
                p.terminate()
            except psutil.NoSuchProcess:
                pass
        _, left = psutil.wait_procs(left, timeout=5)
        for p in left:
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass
        self.processes = []
