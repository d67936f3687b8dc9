"""Stopping a stage cleanly on a signal: SIGTERM, SIGINT or SIGHUP ends it between two whole records.

Every stage (``python -m selfimprove <command>``) handles the three signals from its first import
on (:func:`install_early`, called by ``selfimprove/__init__.py``), so a signal that lands while
it is still importing ends it with the same one line as later. While its ``main`` runs
(:func:`selfimprove.core.cli.run` calls :func:`install`), the first signal raises
:class:`Interrupted` in the main thread, at once or, when it lands inside :func:`deferred` (a
chunk of records being appended, a file being written atomically), as soon as that write is
complete; no record is appended after it (:func:`check`). The exception unwinds the stage, so
``with``/``finally`` blocks close engines, grader workers and trainer processes and the manifest
records the step as stopped; then :func:`shut_down_children` ends whatever this process started
that still runs (SIGCONT and SIGTERM, SIGKILL after a grace period), the stage prints one line
saying where it stopped (:func:`message`) and exits with 128 + the signal's number. Further
signals while it stops are ignored: a signal sent to the whole process group and forwarded by
the driver arrives twice, and the driver sends it again until the stage has ended.

Which signals: those named in ``MATHCRITIQUE_STOP_SIGNALS`` (the drivers export the ones they
trap, so a signal ignored by the driver, e.g. SIGHUP under ``nohup``, stays ignored), else those
not ignored when the stage started. SIGUSR1 and SIGUSR2 are the driver's: it turns them into a
SIGTERM for its stage, and starts its stages with them ignored (a library may still take them:
vLLM uses SIGUSR1 between its own processes; ``selfimprove/driver-begin.sh``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

log = logging.getLogger(__name__)

NAMES = ("TERM", "INT", "HUP")
SIGNALS_ENV = "MATHCRITIQUE_STOP_SIGNALS"
GRACE_SECONDS = 10.0  # what a child gets between SIGTERM and SIGKILL


class Interrupted(BaseException):
    """A stop signal arrived. A ``BaseException``, like ``KeyboardInterrupt``: ``except Exception``
    does not catch it."""

    def __init__(self, signum: int):
        super().__init__(f"stopped by {signal_name(signum)}")
        self.signum = signum


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


_owner: int | None = None  # the process that installed the handler (a forked child is not it)
_state = "off"  # early: importing, before main; active: main runs; done: main returned
_received: int | None = None  # the first stop signal
_pending = False  # it arrived inside deferred(): raise when the write is done
_depth = 0
_children: list[Any] = []  # descendants when the signal arrived (psutil processes)
_callbacks: list[Callable[[], None]] = []
_where: dict[str, Any] = {}


def handled_signals() -> list[int]:
    """The stop signals of this process: ``$MATHCRITIQUE_STOP_SIGNALS`` when set (names such as
    ``TERM INT``; empty: none), else those of SIGTERM, SIGINT and SIGHUP that are not ignored."""
    named = os.environ.get(SIGNALS_ENV)
    if named is not None:
        return [getattr(signal, f"SIG{n}") for n in named.split() if n in NAMES and hasattr(signal, f"SIG{n}")]
    sigs = [getattr(signal, f"SIG{n}") for n in NAMES if hasattr(signal, f"SIG{n}")]
    return [s for s in sigs if _handler_of(s) is not signal.SIG_IGN]


def _handler_of(sig: int) -> Any:
    try:
        return signal.getsignal(sig)
    except ValueError:
        return None


def install_early() -> None:
    """A stage process handles its stop signals from its first import on (a signal before its
    ``main`` ends it at once, with the same one line)."""
    global _owner, _state
    if threading.current_thread() is not threading.main_thread() or _owner == os.getpid():
        return
    _owner, _state = os.getpid(), "early"
    for sig in handled_signals():
        signal.signal(sig, _handler)


def install() -> dict[int, Any]:
    """Handle the stop signals while a command's ``main`` runs (main thread only; elsewhere a
    no-op). Returns the handlers it replaced, for :func:`uninstall`."""
    global _owner, _state
    if threading.current_thread() is not threading.main_thread():
        return {}
    reset()
    _owner, _state = os.getpid(), "active"
    return {sig: signal.signal(sig, _handler) for sig in handled_signals()}


def uninstall(previous: dict[int, Any]) -> None:
    """``main`` returned: a stage process keeps ignoring stop signals until it exits (its work is
    done); elsewhere (a test calling a stage in-process) the replaced handlers are put back."""
    global _owner, _state
    _state = "done"  # first: a signal from here on changes nothing
    mine = [sig for sig, handler in previous.items() if handler is _handler]
    for sig, handler in previous.items():
        # a stage ignores them until it has exited: the interpreter's shutdown would otherwise put
        # back their default action, and a signal then would end it as if it had stopped on it
        signal.signal(
            sig, signal.SIG_IGN if handler is _handler else handler if handler is not None else signal.SIG_DFL
        )
    reset()
    if mine:
        _state = "done"
    else:
        _owner, _state = None, "off"


def ending() -> None:
    """The command ends (an error is being reported): a signal from here on changes nothing."""
    global _state
    if _state == "active":
        _state = "done"


def reinstall() -> None:
    """Take the signals back after a library set its own handlers (Ray's ``init`` sets SIGTERM's)."""
    if _owner != os.getpid() or threading.current_thread() is not threading.main_thread():
        return
    for sig in handled_signals():
        if _handler_of(sig) is not _handler:
            signal.signal(sig, _handler)


def installed() -> bool:
    return _owner == os.getpid() and _state == "active"


def _handler(signum: int, frame: Any) -> None:
    global _received, _pending
    if os.getpid() != _owner:  # a forked child kept the handler: end as the signal's default would
        os._exit(128 + signum)
    if _received is not None or _state == "done":
        return
    _received = signum
    if _state == "early":  # still importing: nothing written yet, nothing started
        for sig in handled_signals():
            signal.signal(sig, signal.SIG_IGN)
        sys.stderr.write(f"error: {message(signum)}\n")
        sys.stderr.flush()
        raise SystemExit(128 + signum)
    _children[:] = descendants()
    for fn in list(_callbacks):
        with contextlib.suppress(Exception):
            fn()
    if _depth:
        _pending = True
        return
    raise Interrupted(signum)


def stage_entry(orig_argv: list[str]) -> bool:
    """True for ``python [options] -m selfimprove <command> ...`` (not a module inside the
    package run on its own, such as a grader worker)."""
    if "-m" not in orig_argv[:-1]:
        return False
    return orig_argv[orig_argv.index("-m") + 1] == "selfimprove"


def received() -> int | None:
    """The stop signal this process got, if any."""
    return _received


def at_stop(fn: Callable[[], None]) -> None:
    """Call ``fn`` as soon as a stop signal arrives (e.g. resume paused engine processes)."""
    if fn not in _callbacks:
        _callbacks.append(fn)


def check() -> None:
    """Raise :class:`Interrupted` if a stop signal arrived: nothing more is written after it."""
    if _received is not None and installed():
        raise Interrupted(_received)


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """A signal arriving inside waits until the block is done (a write is never cut in two)."""
    global _depth, _pending
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
    if _pending and not _depth and installed():
        _pending = False
        raise Interrupted(_received or signal.SIGTERM)


# --------------------------------------------------------------------------- where it stopped


def note_step(name: str | None) -> None:
    """The step this process works on (set by the manifest's ``Step``)."""
    _where.clear()
    if name:
        _where["step"] = name


def note_output(path: str | os.PathLike, records: int) -> None:
    """The output file last written, with the records it holds."""
    _where["output"], _where["records"] = str(path), records


def message(signum: int) -> str:
    """One line: the signal, the step and how far its output got, and how to continue."""
    what = f"stopped by {signal_name(signum)}"
    if _where.get("step"):
        what += f" in step {_where['step']}"
    if _where.get("output"):
        what += f" ({_where['records']} records in {_where['output']})"
    return f"{what}; rerun the same command to continue where it stopped"


# --------------------------------------------------------------------------- child processes


def descendants() -> list[Any]:
    """Every process this one started, and theirs (psutil processes; empty without psutil)."""
    try:
        import psutil
    except ImportError:
        return []
    try:
        return list(psutil.Process().children(recursive=True))
    except psutil.Error:
        return []


def shut_down_children(grace: float = GRACE_SECONDS) -> int:
    """End every process this one started that still runs (those seen when the signal arrived
    too, in case their parent died first): SIGCONT and SIGTERM, SIGKILL after ``grace`` seconds.
    Returns how many were still running."""
    try:
        import psutil
    except ImportError:
        import multiprocessing

        for child in multiprocessing.active_children():
            child.terminate()
        return 0
    procs = {p.pid: p for p in [*_children, *descendants()]}
    alive = [p for p in procs.values() if _running(p)]
    for p in alive:
        with contextlib.suppress(psutil.Error):
            p.resume()
            p.terminate()
    _, left = psutil.wait_procs(alive, timeout=grace)
    for p in left:
        with contextlib.suppress(psutil.Error):
            p.kill()
    psutil.wait_procs(left, timeout=grace)
    return len(alive)


def _running(p: Any) -> bool:
    import psutil

    try:
        return bool(p.is_running()) and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def reset() -> None:
    """Forget a received signal and the notes (tests call stages in one process)."""
    global _received, _pending, _depth
    _received, _pending, _depth = None, False, 0
    _children.clear()
    _where.clear()
