"""How a run ends on a shared machine: a signal stops a stage between two whole records and says
where; a full disk is one line; a record produced again is skipped; the run lock stays held while
any process of the run lives; a training without room for its model copy does not start.

The drivers themselves, signalled at random moments of every stage, are in ``tests/test_faults.py``.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from selfimprove.core import runlock, stop
from selfimprove.core.cli import run as run_command
from selfimprove.core.errors import NotEnoughSpace, RecordError, RunLocked
from selfimprove.core.io import ResumableJsonl, atomic_write_json
from selfimprove.core.manifest import Step
from selfimprove.core.manifest import read as read_manifest

ROOT = Path(__file__).resolve().parent.parent


def _ids(path: Path) -> list[str]:
    return [json.loads(line)["id"] for line in path.read_text().splitlines()]


# ----------------------------------------------------------------------------- records written again


def test_a_record_produced_again_is_skipped_and_named_not_a_crash(tmp_path, caplog):
    out = ResumableJsonl(tmp_path / "out.jsonl")
    out.append([{"id": "a", "v": 1}, {"id": "b", "v": 1}])
    again = ResumableJsonl(tmp_path / "out.jsonl")  # a rerun that produces a and c, and c twice
    again.append([{"id": "a", "v": 2}, {"id": "c", "v": 2}, {"id": "c", "v": 3}])
    assert _ids(tmp_path / "out.jsonl") == ["a", "b", "c"]
    assert [json.loads(x)["v"] for x in (tmp_path / "out.jsonl").read_text().splitlines()] == [1, 1, 2]
    assert f"{tmp_path / 'out.jsonl'}: 2 record(s) already written were produced again (first: 'a')" in caplog.text
    assert again.done == {"a", "b", "c"} and len(again.records) == 3


def test_a_duplicate_line_in_an_output_names_the_file_and_what_to_do(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_text('{"id": "a"}\n{"id": "b"}\n{"id": "a"}\n')
    with pytest.raises(RecordError, match=rf"{path}:3: duplicate id 'a' .*delete one of the two lines and rerun"):
        ResumableJsonl(path)


# ----------------------------------------------------------------------------- a full disk


def _full_disk(monkeypatch) -> None:
    def no_space(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", no_space)


def test_a_full_disk_leaves_whole_records_and_names_the_file(tmp_path, monkeypatch):
    path = tmp_path / "out.jsonl"
    out = ResumableJsonl(path)
    out.append([{"id": "a"}])
    before = path.read_bytes()
    with monkeypatch.context() as m:
        _full_disk(m)
        with pytest.raises(OSError) as caught:
            out.append([{"id": "b"}, {"id": "c"}])
        assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(path)
        with pytest.raises(OSError) as caught:
            atomic_write_json(tmp_path / "x.json", {"k": 1})
        assert caught.value.filename == str(tmp_path / "x.json") and not list(tmp_path.glob(".x.json.*"))
    assert path.read_bytes() == before and out.done == {"a"}  # the chunk that did not fit is not there
    out.append([{"id": "b"}, {"id": "c"}])  # room again: the same chunk is written whole
    assert _ids(path) == ["a", "b", "c"]


def test_a_disk_that_fills_mid_step_is_one_line_and_exit_1_even_without_a_manifest_record(
    tmp_path, monkeypatch, capsys
):
    out_path = tmp_path / "run" / "iter_1" / "01_samples.jsonl"

    def main(argv):
        with Step(tmp_path / "run", "iter_1/01_samples", {}, outputs=[out_path]):
            out = ResumableJsonl(out_path)
            out.append([{"id": "q/s0"}])
            _full_disk(monkeypatch)  # from here on every fsync fails, the manifest's too
            out.append([{"id": "q/s1"}])
        return 0

    with pytest.raises(SystemExit) as ended:
        run_command(main, [])
    monkeypatch.undo()
    err = capsys.readouterr().err
    assert ended.value.code == 1, err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: {out_path}: cannot write: No space left on device (errno 28); free space on that disk and "
        "rerun the same command: it continues where it stopped"
    ]
    assert "Traceback" not in err and _ids(out_path) == ["q/s0"]
    assert read_manifest(tmp_path / "run")["steps"]["iter_1/01_samples"]["status"] == "running"


def test_training_without_room_for_the_model_copy_does_not_start(tmp_path, monkeypatch):
    import shutil

    from selfimprove.training import runner

    base = tmp_path / "base"
    base.mkdir()
    (base / "config.json").write_text("{}")
    (base / "model.safetensors").write_bytes(bytes(3 * 1024 * 1024))
    job = runner.TrainJob(
        run_dir=tmp_path,
        step="iter_0/05_train",
        data_file=tmp_path / "sft.json",
        out_dir=tmp_path / "iter_0" / "actor",
        dataset="d",
        fmt="sharegpt",
        base_model=str(base),
        template="t",
    )
    (tmp_path / "iter_0").mkdir()
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage._replace(free=1024 * 1024))
    with pytest.raises(NotEnoughSpace) as refused:
        runner.check_space(job, {})
    assert refused.value.exit_code == 2
    assert str(refused.value) == (
        f"{tmp_path / 'iter_0'}: 1.0 MB free, but training iter_0/05_train writes a model copy of about 3.0 MB "
        f"(the size of {base}); free space on that disk and rerun the same command: it continues where it stopped"
    )
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage._replace(free=4 * 1024 * 1024))
    runner.check_space(job, {})


# ----------------------------------------------------------------------------- signals


def test_a_signal_inside_a_write_waits_until_the_write_is_done():
    previous = stop.install()
    try:
        with pytest.raises(stop.Interrupted) as caught:
            with stop.deferred():
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(0.01)  # the handler runs here, and only notes the signal
                finished = True
        assert finished and caught.value.signum == signal.SIGTERM
        with pytest.raises(stop.Interrupted):
            stop.check()  # nothing is written after a stop
        os.kill(os.getpid(), signal.SIGTERM)  # a second signal while stopping changes nothing
        time.sleep(0.01)
    finally:
        stop.uninstall(previous)
    assert signal.getsignal(signal.SIGTERM) is previous[signal.SIGTERM]


STAGE = textwrap.dedent(
    """
    import subprocess, sys, time
    from pathlib import Path
    from selfimprove.core.cli import run
    from selfimprove.core.io import ResumableJsonl
    from selfimprove.core.manifest import Step

    def main(argv):
        run_dir = Path(sys.argv[1])
        out_path = run_dir / "01_samples.jsonl"
        child = subprocess.Popen(["sleep", "300"])  # a process the stage started (an engine, a worker)
        (run_dir / "child.pid").write_text(str(child.pid))
        with Step(run_dir, "iter_1/01_samples", {}, outputs=[out_path]):
            out = ResumableJsonl(out_path)
            for i in range(100000):
                out.append([{"id": f"q{i}/s0", "text": "x" * 2000}, {"id": f"q{i}/s1", "text": "y" * 2000}])
                if i == 2:
                    print("ready", flush=True)
        return 0

    run(main)
    """
)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_stage_stopped_by_a_signal_keeps_whole_records_ends_its_children_and_says_where(tmp_path, sig):
    proc = subprocess.Popen(
        [sys.executable, "-c", STAGE, str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "MATHCRITIQUE_RUN_LOCK": "", "LOG_LEVEL": "INFO"},
    )
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + sig, err
    out_path = tmp_path / "01_samples.jsonl"
    data = out_path.read_bytes()
    ids = _ids(out_path)
    assert data.endswith(b"\n") and len(ids) % 2 == 0 and len(ids) >= 6  # whole chunks only
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert lines == [
        f"error: stopped by {signal.Signals(sig).name} in step iter_1/01_samples ({len(ids)} records in {out_path}); "
        "rerun the same command to continue where it stopped"
    ]
    assert "Traceback" not in err
    assert read_manifest(tmp_path)["steps"]["iter_1/01_samples"]["status"] == "stopped"
    child = int((tmp_path / "child.pid").read_text())
    assert not _alive(child)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] == "Z")


def test_a_stage_signalled_while_it_imports_says_so_in_one_line():
    """``python -m selfimprove <command>`` handles the signals from its first import on; importing
    the package elsewhere changes nothing."""
    assert stop.stage_entry(["python", "-m", "selfimprove", "sample", "--n", "2"])
    assert stop.stage_entry(["python", "-X", "importtime", "-m", "selfimprove", "train"])
    assert not stop.stage_entry(["python", "-m", "selfimprove.grading.worker"])
    assert not stop.stage_entry(["python", "-m", "selfimprove.stages.sample"])
    assert not stop.stage_entry(["python", "-m", "pytest", "tests"])
    assert not stop.stage_entry(["python", "-c", "import selfimprove"])
    kill = "import os, signal, time; os.kill(os.getpid(), signal.SIGTERM); time.sleep(30)"
    early = "from selfimprove.core import stop; stop.install_early(); " + kill
    proc = subprocess.run([sys.executable, "-c", early], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 143 and "Traceback" not in proc.stderr
    assert proc.stderr == "error: stopped by SIGTERM; rerun the same command to continue where it stopped\n"
    plain = "import selfimprove; " + kill
    proc = subprocess.run([sys.executable, "-c", plain], capture_output=True, text=True, timeout=60)
    assert proc.returncode == -signal.SIGTERM
    env = {**os.environ, "MATHCRITIQUE_STOP_SIGNALS": "TERM"}  # what a driver traps (nohup: no HUP)
    check = "import signal, selfimprove.core.stop as s; print([signal.Signals(x).name for x in s.handled_signals()])"
    proc = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=60, env=env)
    assert proc.stdout.strip() == "['SIGTERM']"


# ----------------------------------------------------------------------------- the run lock

HOLDER = textwrap.dedent(
    """
    import fcntl, sys, time
    f = open(sys.argv[1], "a")
    fcntl.flock(f, fcntl.LOCK_EX)
    print("holding", flush=True)
    time.sleep(300)
    """
)


def test_a_driver_killed_alone_leaves_its_run_locked_while_what_it_started_lives(tmp_path, caplog, monkeypatch):
    monkeypatch.delenv(runlock.TOKEN_ENV, raising=False)
    run = tmp_path / "exp"
    gone = subprocess.Popen(["true"])
    gone.wait()
    runlock.acquire(run, gone.pid, env={})  # a driver that took the lock, then was SIGKILLed
    stage = subprocess.Popen(  # its stage: lives on, holding the descriptor the driver flocked
        [sys.executable, "-c", HOLDER, str(runlock.held_path(run))], stdout=subprocess.PIPE, text=True
    )
    try:
        assert stage.stdout is not None and stage.stdout.readline() == "holding\n"
        assert runlock.held_by_others(run) and runlock.holders(runlock.held_path(run)) == [stage.pid]
        with pytest.raises(RunLocked, match=rf"experiment exp is still running: its driver \(pid {gone.pid} on "):
            runlock.acquire(run, os.getpid(), env={})
        with pytest.raises(RunLocked, match=rf"still runs \(pid {stage.pid}\).*kill {stage.pid}\), then rerun"):
            runlock.check_free(run, env={})  # a stage started by hand is refused too
    finally:
        stage.kill()
        stage.wait()
    assert not runlock.held_by_others(run)
    assert runlock.acquire(run, os.getpid(), env={})[1] and "taking over a stale run lock" in caplog.text
    assert runlock.held_path(run).exists()  # never removed: a removed lock file could be locked twice


def test_an_experiment_name_with_a_space_or_a_dollar_is_refused_before_compute(tmp_path):
    for name, why in (("my run", "contains ' '"), ("run$HOME", "contains '$'")):
        env = {**os.environ, "PYTHON": sys.executable, "RUNS_DIR": str(tmp_path), "EXP_NUM": name}
        env.pop("PRESET", None)
        env.pop(runlock.TOKEN_ENV, None)
        proc = subprocess.run(
            ["bash", str(ROOT / "selfimprove" / "inference-all.sh")],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
        assert proc.returncode == 2 and len(errors) == 1, proc.stderr
        assert errors[0].startswith(f"error: EXP_NUM={name!r} (environment): {why}"), errors[0]
        assert list(tmp_path.iterdir()) == []
