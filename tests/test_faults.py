"""Fault injection (``scripts/fault_inject.py``): tiny runs SIGKILLed in every stage and rerun must
lose and duplicate nothing; SIGTERM, SIGINT and SIGHUP (to the driver's pid or to its process
group) must stop them cleanly, and a SIGKILL of the driver alone must keep the run locked while
its stage lives; a full disk and an unwritable runs folder are one line; damage done by hand is
repaired or refused with what to do.

The drivers run unchanged, with the scripted engine and a stand-in trainer injected through
``PYTHONPATH`` and ``LLAMAFACTORY_CLI`` (see the script). Tests marked ``faults`` take about a
minute each on 2 cores; the checks themselves are tested first, on hand-made runs, in seconds.
The kill moments are random: ``FAULT_SEED`` replays a failing draw (its seed is in the message).
The whole matrix (every signal, both ways, every target) is the script's, not CI's.
"""

from __future__ import annotations

import importlib.util
import json
import os
import random
import sys
from pathlib import Path
from types import ModuleType

import pytest

from selfimprove.core.io import atomic_write_jsonl
from selfimprove.core.manifest import Step
from selfimprove.generation.prompts import critique_prompt, refine_prompt, solve_prompt

ROOT = Path(__file__).resolve().parent.parent


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fault_inject", ROOT / "scripts" / "fault_inject.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["fault_inject"] = module
    spec.loader.exec_module(module)
    return module


FI = _load()
SEED = int(os.environ.get("FAULT_SEED") or random.SystemRandom().randrange(10**6))


# ----------------------------------------------------------------------------- the checks, on hand-made runs


def test_scripted_answers_depend_on_the_prompt_alone(monkeypatch, tmp_path):
    monkeypatch.setenv("RUNS_DIR", str(tmp_path))
    monkeypatch.setenv("EXP_NUM", "x")
    atomic_write_jsonl(
        tmp_path / "x" / "data" / "train.jsonl",
        [
            {"id": f"q{i}", "question": f"Ann has {i} pens and buys 3.", "gold": str(i + 3), "dataset_type": "gsm8k"}
            for i in range(12)
        ]
        + [{"id": "m", "question": "Find $x$.", "gold": "7", "dataset_type": "math"}],
    )
    from selfimprove.generation.engines import SamplingParams

    engine = FI.FaultEngine()
    prompts = [solve_prompt(f"Ann has {i} pens and buys 3.", "gsm8k") for i in range(12)]
    one = engine.generate(prompts, SamplingParams(n=2, seed=1))
    other = engine.generate(prompts, SamplingParams(n=3, seed=99))  # seed and n do not change a text
    assert [o[0].text for o in one] == [o[0].text for o in other] and all(len(set(o)) == 1 for o in one)
    right = [i for i, o in enumerate(one) if o[0].text.endswith(f"The answer is {i + 3}.")]
    assert 0 < len(right) < 12  # some right, some wrong
    assert "\\boxed{" in engine.generate([solve_prompt("Find $x$.", "math")], SamplingParams())[0][0].text
    critique = engine.generate([critique_prompt("Q", "S")], SamplingParams())[0][0].text
    assert "Correctness of the final answer: " in critique
    refine = refine_prompt("Ann has 1 pens and buys 3.", "S", critique, "gsm8k", "chat")
    assert engine.generate([refine], SamplingParams())[0][0].text.startswith("We read the numbers.")


def _finished_run(root: Path) -> dict[str, list]:
    rows = [{"id": f"q/s{i}", "x": i} for i in range(4)]
    atomic_write_jsonl(root / "iter_1" / "01_samples.jsonl", rows)
    FI.write_model(root / "iter_1" / "actor")
    with Step(root, "iter_1/01_samples", {}, outputs=[root / "iter_1" / "01_samples.jsonl"]):
        pass
    return FI.jsonl_ids(root)


def test_the_checks_pass_an_intact_run_and_name_every_kind_of_harm(tmp_path):
    reference = _finished_run(tmp_path / "ref")
    run = tmp_path / "run"
    assert _finished_run(run) == reference and FI.check_run(run, reference)["ok"]

    samples = run / "iter_1" / "01_samples.jsonl"
    lines = samples.read_text().splitlines(keepends=True)
    samples.write_text("".join(lines[:2] + lines[1:2] + [lines[3][:-5]]))  # q/s1 twice, q/s2 lost, a torn tail
    (run / "iter_1" / "actor" / "model.safetensors").unlink()
    (run / "iter_2" / "actor.partial").mkdir(parents=True)
    with pytest.raises(RuntimeError), Step(run, "iter_1/02_critiques", {}):
        raise RuntimeError("killed")
    check = FI.check_run(run, reference)
    assert not check["ok"]
    assert (check["lost"], check["duplicated"], check["unexpected"]) == (2, 1, 0)  # s3's line is torn, s2 gone
    assert check["torn"] == [
        "iter_1/01_samples.jsonl: last line has no newline",
        "iter_1/01_samples.jsonl:4: not a JSON object",
    ]
    assert "step iter_1/02_critiques is failed" in check["manifest"]
    assert any("01_samples.jsonl has" in p for p in check["manifest"])
    assert any("no weights" in p for p in check["models"]) and "iter_2/actor.partial left behind" in check["models"]


def test_summary_counts_every_kill_and_what_was_lost():
    kill = {"target": "a", "delay": 0.1, "landed": ["a"], "lines": {}}
    good = {"kills": [kill, kill], "completed": True, "records": 10, "lost": 0, "duplicated": 0, "unexpected": 0}
    good |= {"torn": [], "manifest": [], "models": [], "ok": True}
    bad = {**good, "kills": [{**kill, "landed": ["b"]}], "lost": 2, "ok": False}
    damage = [{"damage": "x", "outcome": "repaired", "ok": True}]
    s = FI.summarize([good, bad], damage, 1.0)
    assert (s["kills_tried"], s["kills_landed"], s["lost"], s["duplicated"], s["ok"]) == (
        3,
        {"a": 2, "b": 1},
        2,
        0,
        False,
    )
    assert s["damage"] == ["x: repaired"]


# ----------------------------------------------------------------------------- kills and damage (minutes)


@pytest.fixture(scope="module")
def suite(tmp_path_factory) -> object:
    return FI.Suite(tmp_path_factory.mktemp("faults"), seed=SEED)


def _explain(result: dict) -> str:
    kills = "; ".join(
        f"SIG{k['signal']}/{k['mode']} {k['target']} +{k['delay']}s -> {k['landed']} {k['problems']}"
        for k in result["kills"]
    )
    problems = result["details"] + result["torn"] + result["manifest"] + result["models"]
    return f"FAULT_SEED={SEED}; kills: {kills}; problems: {problems}"


@pytest.mark.faults
@pytest.mark.parametrize("name", ["inference", "critic"])
def test_a_kill_in_every_stage_then_a_rerun_loses_and_duplicates_nothing(suite, name):
    result = suite.kill_chain(name, f"{name}-0")
    why = _explain(result)
    assert result["completed"], why
    assert len(result["kills"]) == len(FI.SCENARIOS[name].targets)
    assert all(k["landed"] and not k["landed"][0].startswith("not killed") for k in result["kills"]), why
    assert (result["lost"], result["duplicated"], result["unexpected"]) == (0, 0, 0), why
    assert result["records"] == sum(len(v) for v in suite.reference(name)[0].values())
    assert result["ok"], why


def _check_signal_chain(suite, name: str, result: dict) -> None:
    why = _explain(result)
    assert result["completed"], why
    for k in result["kills"]:
        assert k["landed"] and not k["landed"][0].startswith("not "), why
        assert k["problems"] == [] and k["orphans"] == [], why
        if k["signal"] != "KILL":
            assert k["exit"] == 128 + FI.SIGNALS[k["signal"]], why
        elif k["mode"] == "pid":
            assert k["refused"], why  # the second driver was refused while the first one's stage lived
    assert (result["lost"], result["duplicated"], result["unexpected"]) == (0, 0, 0), why
    assert result["records"] == sum(len(v) for v in suite.reference(name)[0].values())
    assert result["ok"], why


@pytest.mark.faults
def test_sigterm_to_the_driver_during_sampling_critique_and_training_then_a_rerun_completes(suite):
    """Each start is stopped (SIGTERM to the driver's pid; the evaluation: SIGINT to the group, as
    a terminal's Ctrl-C) and the next start continues at once; the last one completes."""
    plan = [
        ("iter_0/05_train", "TERM", "pid"),
        ("iter_1/01_samples", "TERM", "pid"),
        ("iter_1/02_critiques", "TERM", "pid"),
        ("eval/iter_1", "INT", "group"),
    ]
    _check_signal_chain(suite, "inference", suite.kill_chain("inference", "inference-signals", plan=plan))


@pytest.mark.faults
def test_sigint_sigusr1_sighup_and_a_sigkill_of_the_driver_alone_in_the_critic_stages(suite):
    plan = [
        ("critic/01_flawed_paths", "INT", "group"),
        ("critic/03_mc_filter", "USR1", "pid"),  # as SLURM's --signal=B:USR1 warns of a time limit
        ("critic/05_train", "HUP", "pid"),
        ("critic/06_eval", "KILL", "pid"),  # its stage lives on: a second driver must be refused
    ]
    _check_signal_chain(suite, "critic", suite.kill_chain("critic", "critic-signals", plan=plan))


@pytest.mark.faults
def test_a_full_disk_and_an_unwritable_runs_folder_are_one_line_and_a_rerun_resumes(suite):
    """A small tmpfs where one can be mounted, else an injected ENOSPC (the world's DISK_HOOK)."""
    cases = suite.disk_cases()
    assert [c["damage"] for c in cases] == [
        "disk fills during sampling",
        "rerun while the disk is still full",
        "rerun once the disk has room",
        "no room for the next model copy",
        "rerun once the disk has room",
        "unwritable runs folder",
    ]
    failed = [c for c in cases if not c["ok"]]
    assert not failed, json.dumps(failed, indent=1)
    assert "01_samples.jsonl: cannot write: No space left on device (errno 28)" in cases[0]["message"]
    assert "writes a model copy of about 4.0 MB" in cases[3]["message"]


@pytest.mark.faults
def test_damage_by_hand_is_repaired_or_refused_with_what_to_do(suite):
    suite.reference("inference")
    cases = suite.damage("inference-reference")
    assert [c["damage"] for c in cases] == [
        "deleted model.safetensors, evaluate-all.sh",
        "truncated last line",
        "deleted middle line",
        "deleted model.safetensors, inference-all.sh",
        "invalid manifest.json",
    ]
    failed = [c for c in cases if not c["ok"]]
    assert not failed, json.dumps(failed, indent=1)
    assert "rerun inference-all.sh" in cases[0]["message"]
    assert "move it aside (mv " in cases[-1]["message"]


@pytest.mark.faults
@pytest.mark.integration
def test_an_evaluation_on_the_embedded_model_killed_and_rerun(suite):
    if not (ROOT / "models" / "SmolLM2-135M-Instruct" / "config.json").is_file():
        pytest.skip("embedded model missing; run `bash scripts/setup_env.sh`")
    result = suite.embedded()
    why = _explain(result)
    assert result["completed"] and result["kills"][0]["landed"] == ["eval/SmolLM2-135M-Instruct"], why
    assert (result["lost"], result["duplicated"], result["unexpected"]) == (0, 0, 0), why
    assert result["ok"], why
