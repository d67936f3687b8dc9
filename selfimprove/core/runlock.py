"""The run lock: one experiment folder is driven by one process at a time.

``runs/<EXP>/.run.lock`` holds ``{"pid", "host", "start", "started", "token"}`` of the owner (a
driver passes its own shell's pid). A second driver on the same experiment is refused with
:class:`~selfimprove.core.errors.RunLocked`; two experiments never share a lock. The lock
survives a crash as a file, and a lock whose owner is gone is *stale*: on the same host a pid
that no longer runs (or runs a different process, told apart by its start time) is taken over
with a warning. A lock from another host cannot be checked and is refused with the command that
removes it.

The owner exports ``MATHCRITIQUE_RUN_LOCK=<token>``; every process started under it (the stages,
the evaluation driver called at the end of a run) inherits the token and is let through.

A driver's pid alone does not tell whether its run still writes: a driver killed by SIGKILL
leaves its stage running. So the driver also holds an exclusive ``flock`` on
``runs/<EXP>/.run.lock.held`` through a file descriptor that every process it starts inherits
(:func:`held_path`; ``selfimprove/driver-begin.sh`` opens it after :func:`acquire`). The kernel
keeps that lock while any of them keeps the descriptor open and drops it when the last one ends,
however it ends. A lock whose driver is gone is therefore taken over only when no process of its
run still holds the file; otherwise the next driver (and a stage started by hand) is refused,
naming the processes that still run. The file itself is never removed (a removed lock file could
be locked twice).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

from selfimprove.core.errors import RunLocked, UsageError
from selfimprove.core.io import atomic_write_json
from selfimprove.core.layout import RunLayout

log = logging.getLogger(__name__)
TOKEN_ENV = "MATHCRITIQUE_RUN_LOCK"


def process_start(pid: int) -> str | None:
    """The start time of a process (clock ticks since boot, Linux), to tell a reused pid apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_stale(holder: dict) -> bool:
    """True when the holder is known to be gone (same host, and its process is not running)."""
    if holder.get("host") != socket.gethostname():
        return False
    pid = int(holder.get("pid", -1))
    if pid <= 0 or not pid_alive(pid):
        return True
    start = holder.get("start")
    return start is not None and process_start(pid) not in (None, start)


@contextlib.contextmanager
def _guard(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".guard"), "w") as g:
        fcntl.flock(g, fcntl.LOCK_EX)
        yield


def read_holder(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {"pid": -1, "host": socket.gethostname()}  # written atomically, so only damage makes this
    return data if isinstance(data, dict) else {"pid": -1, "host": socket.gethostname()}


def held_path(run_dir: str | os.PathLike) -> Path:
    """The file every process of a running driver holds open with an exclusive ``flock``."""
    lock = RunLayout(run_dir).run_lock
    return lock.with_name(lock.name + ".held")


def held_by_others(run_dir: str | os.PathLike) -> bool:
    """True when some process holds the ``flock`` of :func:`held_path` (a driver, or a stage it
    started that outlived it)."""
    path = held_path(run_dir)
    if not path.exists():
        return False
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        os.close(fd)  # drops the test lock, if taken
    return False


def holders(path: Path) -> list[int]:
    """The processes that have ``path`` open (Linux ``/proc``; empty elsewhere or when unreadable)."""
    try:
        target = os.stat(path)
        pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return []
    found = []
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                st = os.stat(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if (st.st_dev, st.st_ino) == (target.st_dev, target.st_ino):
                found.append(pid)
                break
    return sorted(found)


def _describe(holder: dict) -> str:
    return f"pid {holder.get('pid')} on {holder.get('host')} since {holder.get('started', '?')}"


def acquire(run_dir: str | os.PathLike, pid: int | None = None, env: dict | None = None) -> tuple[str, bool]:
    """Take the run lock for process ``pid`` (default: this one). Returns ``(token, taken)``;
    ``taken`` is False when the caller already runs under the lock's owner (same token)."""
    env = dict(os.environ) if env is None else env
    path = RunLayout(run_dir).run_lock
    pid = os.getpid() if pid is None else pid
    try:
        return _acquire(path, pid, env)
    except OSError as e:  # the folder cannot be created or written (checked up front; this is the race)
        raise UsageError(
            f"cannot take the run lock {path}: {e.strerror or e}; check RUNS_DIR (errno {e.errno})"
        ) from None


def _acquire(path: Path, pid: int, env: dict) -> tuple[str, bool]:
    with _guard(path):
        holder = read_holder(path)
        if holder is not None:
            if holder.get("token") and holder.get("token") == env.get(TOKEN_ENV) and not is_stale(holder):
                return str(holder["token"]), False
            if not is_stale(holder):
                raise RunLocked(_refusal(path, holder))
        if held_by_others(path.parent):
            raise RunLocked(_orphans_refusal(path, holder))
        if holder is not None:
            log.warning("%s: taking over a stale run lock (%s is gone)", path, _describe(holder))
        me = {
            "pid": pid,
            "host": socket.gethostname(),
            "start": process_start(pid),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        me["token"] = f"{me['host']}:{pid}:{me['start']}:{time.time_ns()}"
        atomic_write_json(path, me)
    return str(me["token"]), True


def release(run_dir: str | os.PathLike, pid: int | None = None) -> bool:
    """Remove the lock if process ``pid`` on this host owns it; True when removed."""
    path = RunLayout(run_dir).run_lock
    if not path.parent.is_dir():
        return False
    pid = os.getpid() if pid is None else pid
    with _guard(path):
        holder = read_holder(path)
        if holder and holder.get("pid") == pid and holder.get("host") == socket.gethostname():
            path.unlink(missing_ok=True)
            return True
    return False


def check_free(run_dir: str | os.PathLike, env: dict | None = None) -> None:
    """Raise :class:`RunLocked` when a live process other than our owner holds the run lock."""
    env = dict(os.environ) if env is None else env
    path = RunLayout(run_dir).run_lock
    holder = read_holder(path)
    if holder is not None and holder.get("token") and holder.get("token") == env.get(TOKEN_ENV):
        return
    if holder is None or is_stale(holder):
        if held_by_others(path.parent):
            raise RunLocked(_orphans_refusal(path, holder))
        return
    if holder.get("pid") == os.getpid() and holder.get("host") == socket.gethostname():
        return
    raise RunLocked(_refusal(path, holder))


def _orphans_refusal(path: Path, holder: dict | None) -> str:
    held = held_path(path.parent)
    pids = " ".join(map(str, holders(held)))
    which = f"pid {pids}" if pids else f"fuser -v {held} lists it"
    driver = f"its driver ({_describe(holder)}) is gone, but " if holder else ""
    return (
        f"experiment {path.parent.name} is still running: {driver}what it started still runs ({which}) and "
        f"writes its files; wait for it to end or stop it (kill {pids or '...'}), then rerun the same command"
    )


def _refusal(path: Path, holder: dict) -> str:
    exp = path.parent.name
    return (
        f"experiment {exp} is already running ({_describe(holder)}); wait for it, or use another EXP_NUM. "
        f"If that run is gone, delete {path}"
    )
