"""The drivers: bad input stops before any compute, the knob lists stay true, one run per experiment."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from selfimprove.core import config as C
from selfimprove.core import runlock

ROOT = Path(__file__).resolve().parent.parent


def drive(script: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    full = {
        **os.environ,
        "PYTHON": sys.executable,
        "RUNS_DIR": str(tmp_path),
        "EXP_NUM": "bad",
        "HF_HUB_OFFLINE": "1",
        **env,
    }
    full.pop("PRESET", None)
    full.pop("MATHCRITIQUE_RUN_LOCK", None)
    return subprocess.run(
        ["bash", str(ROOT / "selfimprove" / script)], env=full, cwd=ROOT, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    "script, env, message",
    [
        ("inference-all.sh", {"USE_CRITIC": "2"}, "USE_CRITIC='2' (environment): expected 0 or 1"),
        ("inference-all.sh", {"model_type": "Chat"}, "model_type='Chat' (environment): must be one of Instruct, Base"),
        ("inference-all.sh", {"dataset_name": "nosuch"}, "unknown dataset spec 'nosuch'"),
        ("inference-all.sh", {"model_name": "/nonexistent/model"}, "model /nonexistent/model not found"),
        ("inference-all.sh", {"FEEDBACK_FILE": "/nonexistent.json"}, "FEEDBACK_FILE /nonexistent.json not found"),
        # the probes of the hardening review: each one used to cost compute or end in a traceback
        ("inference-all.sh", {"sample_num": "0"}, "sample_num=0 (environment): must be >= 1"),
        ("inference-all.sh", {"sample_num": "-1"}, "sample_num=-1 (environment): must be >= 1"),
        ("inference-all.sh", {"sample_num": "abc"}, "sample_num='abc' (environment): expected an integer"),
        ("inference-all.sh", {"temperature": "-1"}, "temperature=-1.0 (environment): must be >= 0"),
        ("inference-all.sh", {"temperature": "abc"}, "temperature='abc' (environment): expected a number"),
        ("inference-all.sh", {"model_name": "models/nope"}, "model models/nope not found"),
        ("inference-all.sh", {"EXP_NUM": "../escape"}, "EXP_NUM='../escape' (environment): contains a path separator"),
        ("inference-all.sh", {"top_p": "1.5"}, "top_p=1.5 (environment): must be in (0, 1]"),
        ("inference-all.sh", {"max_tokens": "4096"}, "max_tokens=4096 leaves no room for a prompt"),
        # the evaluation's knobs are checked by inference-all.sh before iteration 0 trains
        ("inference-all.sh", {"MV_NUM": "x"}, "MV_NUM='x' (environment): expected an integer"),
        ("evaluate-all.sh", {"TEST_KNOW_ANSWER": "yes"}, "TEST_KNOW_ANSWER='yes' (environment): expected 0 or 1"),
        ("evaluate-all.sh", {"test_dataset_name": "file:/nonexistent.jsonl"}, "nonexistent.jsonl"),
        ("evaluate-all.sh", {"EVAL_ITERS": "7"}, "iter_7/actor not found"),
        ("evaluate-all.sh", {"SEQUENTIAL_MODE": "sometimes"}, "must be one of oracle, all, verifier"),
        # a count with extra zeros is refused before the sample stage builds its lists
        (
            "inference-all.sh",
            {"sample_num": "1" + "0" * 20},
            f"sample_num={10**20} (environment): must be between 1 and 1024",
        ),
        ("evaluate-all.sh", {"MV_NUM": "20000"}, "MV_NUM=20000 (environment): must be between 0 and 100 rounds"),
        ("critic-all.sh", {"MC_N": "99999"}, "MC_N=99999 (environment): must be between 1 and 1024"),
        ("selftalk-all.sh", {"eval_sample_num": "99999"}, "eval_sample_num=99999 (environment): must be between 1"),
        ("inference-all.sh", {"EXP_NUM": "my run"}, "EXP_NUM='my run' (environment): contains ' '"),
    ],
)
def test_bad_input_stops_early(tmp_path, script, env, message):
    proc = drive(script, tmp_path, **env)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, proc.stderr  # one line
    assert not (tmp_path / "bad").exists()  # nothing written, not even the run folder
    assert not (tmp_path.parent / "escape").exists()


def one_error(proc: subprocess.CompletedProcess) -> str:
    """The driver stopped with exit code 2 and exactly one ``error:`` line, which is returned."""
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, proc.stderr
    return errors[0]


@pytest.mark.parametrize("script", ["inference-all.sh", "evaluate-all.sh", "critic-all.sh", "selftalk-all.sh"])
def test_an_unusable_runs_dir_is_one_line_before_any_compute(tmp_path, script):
    afile = tmp_path / "afile"
    afile.write_text("keep me")
    error = one_error(drive(script, tmp_path, RUNS_DIR=str(afile)))
    assert error == f"error: RUNS_DIR={afile}: {afile} is a file, not a folder; set RUNS_DIR to a folder you can write"
    error = one_error(drive(script, tmp_path, RUNS_DIR=str(afile / "runs")))
    assert f"RUNS_DIR={afile / 'runs'}: {afile} is a file, not a folder" in error
    (tmp_path / "dangling").symlink_to(tmp_path / "gone")
    error = one_error(drive(script, tmp_path, RUNS_DIR=str(tmp_path / "dangling" / "runs")))
    assert f"{tmp_path / 'dangling'} is a broken symbolic link" in error
    assert afile.read_text() == "keep me" and sorted(p.name for p in tmp_path.iterdir()) == ["afile", "dangling"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder")
def test_a_read_only_runs_dir_is_one_line(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        error = one_error(drive("inference-all.sh", tmp_path, RUNS_DIR=str(ro)))
    finally:
        ro.chmod(0o755)
    assert f"RUNS_DIR={ro}: {ro} is not writable (read-only)" in error and not list(ro.iterdir())


def test_an_experiment_name_with_shell_syntax_is_refused_and_never_run(tmp_path):
    mark = tmp_path / "ran"
    error = one_error(drive("inference-all.sh", tmp_path, EXP_NUM="$(touch $MARK)", MARK=str(mark)))
    assert "EXP_NUM='$(touch $MARK)' (environment): contains '$( )'" in error
    assert not mark.exists() and list(tmp_path.iterdir()) == []


def test_an_actor_without_its_tokenizer_is_refused_before_the_evaluation(tmp_path):
    if not (ROOT / "models" / "SmolLM2-135M-Instruct" / "config.json").is_file():
        pytest.skip("embedded model missing; run `bash scripts/setup_env.sh`")
    actor = tmp_path / "ev" / "iter_0" / "actor"
    actor.mkdir(parents=True)
    for name in ("config.json", "model.safetensors", "tokenizer_config.json"):  # tokenizer.json was lost
        (actor / name).write_bytes((ROOT / "models" / "SmolLM2-135M-Instruct" / name).read_bytes())
    error = one_error(drive("evaluate-all.sh", tmp_path, EXP_NUM="ev", EVAL_ITERS="0"))
    assert error.startswith(f"error: {actor} is incomplete ({actor}: no tokenizer (one of: tokenizer.json")
    assert error.endswith("rerun inference-all.sh: it trains it again")
    assert sorted(p.name for p in actor.parent.parent.iterdir()) == ["iter_0"]  # no lock, manifest or eval/
    # an actor folder given by ACTOR_MODELS is checked the same way
    error = one_error(drive("evaluate-all.sh", tmp_path, EXP_NUM="ev2", ACTOR_MODELS=str(actor)))
    assert f"ACTOR_MODELS (actor): {actor}: no tokenizer" in error


def test_a_preset_is_read_and_the_environment_wins(tmp_path):
    preset = tmp_path / "p.env"
    preset.write_text('dataset_name="synthetic synthetic-easy"  # two sets\nsample_num=3\ntrain_limit=\n')
    env = {"PRESET": str(preset), "sample_num": "5"}
    cfg = C.load(C.INFERENCE, env=env)
    assert (cfg.dataset_name, cfg.sample_num, cfg.train_limit) == ("synthetic synthetic-easy", 5, None)
    assert cfg.sources["dataset_name"] == f"{preset}:1" and cfg.sources["sample_num"] == "environment"
    preset.write_text("no_such_knob=1\n")
    with pytest.raises(C.UsageError, match=r"p.env:1: expected KNOB=VALUE with a known knob"):
        C.load(C.INFERENCE, env={"PRESET": str(preset)})


def header_knobs(script: str) -> list[str]:
    text = (ROOT / "selfimprove" / script).read_text()
    block = text.split("# ---------------------------------------------------------------------------------- knobs\n")[
        1
    ]
    names = []
    for line in block.splitlines():
        m = re.match(r"#   (\S+)\s{2,}\S", line)
        if not m:
            break
        names.append(m.group(1))
    return names


DRIVERS = [
    ("inference-all.sh", C.INFERENCE),
    ("evaluate-all.sh", C.EVALUATE),
    ("critic-all.sh", C.CRITIC),
    ("selftalk-all.sh", C.SELFTALK),
]


@pytest.mark.parametrize("script, scope", DRIVERS)
def test_driver_header_lists_exactly_the_configured_knobs(script, scope):
    documented = header_knobs(script)
    assert len(documented) == len(set(documented))
    assert sorted(documented) == sorted(k.env for k in C.knobs(scope).values())


def test_drivers_do_not_force_offline_mode_or_edit_the_python_path():
    for script, _ in DRIVERS:
        code = "\n".join(x for x in (ROOT / "selfimprove" / script).read_text().splitlines() if not x.startswith("#"))
        assert "HF_HUB_OFFLINE" not in code and "PYTHONPATH" not in code
        # no file name or step name of a run is spelled in a driver: both come from the layout
        assert not re.search(
            r"\b0[0-7]_\w+|\w+\.jsonl?\b|report\.md|/data/|/iter_|/critic/|/selftalk/|eval_onep|/model\b", code
        ), script
        # no default is set in a driver: they all live in selfimprove/core/config.py
        assert not re.search(r"\$\{\w+:?=", code), script


def test_same_experiment_twice_is_refused_while_the_first_lives(tmp_path):
    if not (ROOT / "models" / "SmolLM2-135M-Instruct" / "config.json").is_file():
        pytest.skip("embedded model missing; run `bash scripts/setup_env.sh`")
    holder = subprocess.Popen(["sleep", "60"])  # stands in for a driver that runs experiment "busy"
    try:
        runlock.acquire(tmp_path / "busy", holder.pid, env={})
        proc = drive("inference-all.sh", tmp_path, EXP_NUM="busy")
        assert proc.returncode == 75, proc.stderr
        assert f"experiment busy is already running (pid {holder.pid}" in proc.stderr
        assert "Traceback" not in proc.stderr and not (tmp_path / "busy" / "data").exists()
        other = drive("evaluate-all.sh", tmp_path, EXP_NUM="other", EVAL_ITERS="3")
        assert "already running" not in other.stderr and "iter_3/actor not found" in other.stderr
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()


@pytest.mark.parametrize(
    "doc, scope",
    [
        ("README.md", C.INFERENCE),
        ("README.md", C.EVALUATE),
        ("docs/critic.md", C.CRITIC),
        ("docs/selftalk.md", C.SELFTALK),
    ],
)
def test_documented_knob_tables_are_the_generated_ones(doc, scope):
    from selfimprove.stages.config import knob_table

    assert knob_table(scope, markdown=True) in (ROOT / doc).read_text(encoding="utf-8")
