"""The run lock: one live driver per experiment, stale locks taken over, experiments independent."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from selfimprove.core import runlock
from selfimprove.core.errors import RunLocked, UsageError
from selfimprove.core.layout import RunLayout
from selfimprove.core.manifest import Step
from selfimprove.core.manifest import read as read_manifest


@pytest.fixture
def sleeper():
    """A live process that stands in for a running driver."""
    p = subprocess.Popen(["sleep", "120"])
    yield p
    p.kill()
    p.wait()


def dead_pid() -> int:
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def test_a_second_owner_is_refused_while_the_first_lives(tmp_path, sleeper):
    run = tmp_path / "exp"
    token, taken = runlock.acquire(run, sleeper.pid, env={})
    assert taken and RunLayout(run).run_lock.is_file()
    with pytest.raises(RunLocked, match=rf"experiment exp is already running \(pid {sleeper.pid} on "):
        runlock.acquire(run, os.getpid(), env={})
    # a process started under the owner (it inherits the token) is let through, and takes nothing
    assert runlock.acquire(run, os.getpid(), env={runlock.TOKEN_ENV: token}) == (token, False)
    runlock.check_free(run, env={runlock.TOKEN_ENV: token})
    with pytest.raises(RunLocked):
        runlock.check_free(run, env={})
    # only the owner releases it
    assert not runlock.release(run, os.getpid())
    assert runlock.release(run, sleeper.pid) and not RunLayout(run).run_lock.exists()
    runlock.acquire(run, os.getpid(), env={})


def test_a_lock_left_by_a_dead_process_is_taken_over(tmp_path, caplog):
    run = tmp_path / "exp"
    runlock.acquire(run, dead_pid(), env={})
    token, taken = runlock.acquire(run, os.getpid(), env={})
    assert taken and "taking over a stale run lock" in caplog.text
    assert json.loads(RunLayout(run).run_lock.read_text())["pid"] == os.getpid()


def test_a_reused_pid_is_told_apart_by_its_start_time(tmp_path, sleeper):
    path = RunLayout(tmp_path / "exp").run_lock
    path.parent.mkdir(parents=True)
    holder = {"pid": sleeper.pid, "host": socket.gethostname(), "start": "1", "token": "t"}
    path.write_text(json.dumps(holder))  # the pid lives, but it is not the process that took the lock
    assert runlock.process_start(sleeper.pid) != "1"
    assert runlock.acquire(tmp_path / "exp", os.getpid(), env={})[1]


def test_a_lock_from_another_host_is_refused_with_what_to_do(tmp_path):
    path = RunLayout(tmp_path / "exp").run_lock
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"pid": 1, "host": "elsewhere", "start": None, "token": "t", "started": "then"}))
    with pytest.raises(RunLocked, match=rf"pid 1 on elsewhere since then.*If that run is gone, delete {path}"):
        runlock.acquire(tmp_path / "exp", os.getpid(), env={})


def test_a_run_folder_that_cannot_be_created_is_one_usage_error(tmp_path):
    """Drivers check RUNS_DIR first; a folder that turns unusable after that check still ends in
    one line (exit 2), not a traceback from the lock's mkdir."""
    (tmp_path / "afile").write_text("")
    lock = RunLayout(tmp_path / "afile" / "exp").run_lock
    with pytest.raises(UsageError, match=rf"cannot take the run lock {lock}: Not a directory; check RUNS_DIR"):
        runlock.acquire(tmp_path / "afile" / "exp", os.getpid(), env={})


def test_a_step_does_not_start_while_another_process_drives_the_run(tmp_path, sleeper, monkeypatch):
    monkeypatch.delenv(runlock.TOKEN_ENV, raising=False)
    token, _ = runlock.acquire(tmp_path, sleeper.pid, env={})
    with pytest.raises(RunLocked):
        with Step(tmp_path, "iter_1/01_samples", {}):
            pass
    monkeypatch.setenv(runlock.TOKEN_ENV, token)
    with Step(tmp_path, "iter_1/01_samples", {}):
        pass
    assert read_manifest(tmp_path)["steps"]["iter_1/01_samples"]["status"] == "done"


FAKE_DRIVER = textwrap.dedent(
    """
    import os, sys, time
    from selfimprove.core import runlock
    from selfimprove.core.errors import RunLocked, UsageError
    from selfimprove.core.io import ResumableJsonl
    from selfimprove.core.manifest import Step
    run_dir, go = sys.argv[1], float(sys.argv[2])
    while time.time() < go:
        time.sleep(0.001)
    try:
        token, _ = runlock.acquire(run_dir, os.getpid(), env={})
    except RunLocked as e:
        print(e, file=sys.stderr)
        sys.exit(75)
    os.environ[runlock.TOKEN_ENV] = token
    for k in range(5):  # a short fake stage per step: appends records, records the step
        out = f"{run_dir}/steps.jsonl"
        with Step(run_dir, f"fake/{k}", {"k": k}, outputs=[out]) as step:
            ResumableJsonl(out).append([{"id": f"{os.path.basename(run_dir)}/{k}"}])
            step.count(records=1)
        time.sleep(0.05)
    if len(sys.argv) > 3:
        os.kill(os.getpid(), 9)  # a crash: the lock stays behind
    runlock.release(run_dir, os.getpid())
    """
)


def fake_drivers(*runs: str, crash: bool = False) -> list[subprocess.Popen]:
    go = str(time.time() + 1.0)
    extra = ["crash"] if crash else []
    return [
        subprocess.Popen([sys.executable, "-c", FAKE_DRIVER, r, go, *extra], stderr=subprocess.PIPE, text=True)
        for r in runs
    ]


def test_the_same_experiment_started_twice_at_once_runs_once(tmp_path):
    procs = fake_drivers(str(tmp_path / "same"), str(tmp_path / "same"))
    errs = [p.communicate(timeout=60)[1] for p in procs]
    assert sorted(p.returncode for p in procs) == [0, 75], errs
    assert any("experiment same is already running" in e for e in errs)
    ids = [json.loads(x)["id"] for x in (tmp_path / "same" / "steps.jsonl").read_text().splitlines()]
    assert ids == [f"same/{k}" for k in range(5)]  # never interleaved


def test_two_experiments_side_by_side_do_not_interfere(tmp_path):
    procs = fake_drivers(str(tmp_path / "a"), str(tmp_path / "b"))
    errs = [p.communicate(timeout=60)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errs
    for name in ("a", "b"):
        lines = (tmp_path / name / "steps.jsonl").read_text().splitlines()
        assert [json.loads(x)["id"] for x in lines] == [f"{name}/{k}" for k in range(5)]
        steps = read_manifest(tmp_path / name)["steps"]
        assert sorted(steps) == [f"fake/{k}" for k in range(5)] and all(s["status"] == "done" for s in steps.values())
        assert not RunLayout(tmp_path / name).run_lock.exists()


def test_a_crashed_driver_leaves_a_lock_that_the_next_run_takes_over(tmp_path, caplog):
    (proc,) = fake_drivers(str(tmp_path / "c"), crash=True)
    assert proc.wait(timeout=60) == -signal.SIGKILL
    assert RunLayout(tmp_path / "c").run_lock.is_file()
    assert runlock.acquire(tmp_path / "c", os.getpid(), env={})[1]
    assert "stale run lock" in caplog.text
