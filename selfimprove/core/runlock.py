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
        raise UsageError(f"cannot take the run lock {path}: {e.strerror or e}; check RUNS_DIR") from None


def _acquire(path: Path, pid: int, env: dict) -> tuple[str, bool]:
    with _guard(path):
        holder = read_holder(path)
        if holder is not None:
            if holder.get("token") and holder.get("token") == env.get(TOKEN_ENV) and not is_stale(holder):
                return str(holder["token"]), False
            if not is_stale(holder):
                raise RunLocked(_refusal(path, holder))
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
    if holder is None or is_stale(holder):
        return
    if holder.get("token") and holder.get("token") == env.get(TOKEN_ENV):
        return
    if holder.get("pid") == os.getpid() and holder.get("host") == socket.gethostname():
        return
    raise RunLocked(_refusal(path, holder))


def _refusal(path: Path, holder: dict) -> str:
    exp = path.parent.name
    return (
        f"experiment {exp} is already running ({_describe(holder)}); wait for it, or use another EXP_NUM. "
        f"If that run is gone, delete {path}"
    )
