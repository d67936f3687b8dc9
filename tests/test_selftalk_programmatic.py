"""The programmatic critic as the step judge of self-talk construction and as a critic."""

from __future__ import annotations

import re

from selfimprove.core.records import Question, Sample
from selfimprove.critic.programmatic import annotate_samples, critique
from selfimprove.generation.engines import ScriptedEngine
from selfimprove.generation.prompts import SOLUTION_PREFIX, Prompt, parse_critique
from selfimprove.selftalk.build import finish_records
from selfimprove.selftalk.chains import ChainConfig, build_chains
from selfimprove.selftalk.judges import judge_step, programmatic_judge

# a two-step synthetic-style record with the true value of each step
MARBLES: Question = {
    "id": "syn/train/7",
    "dataset": "synthetic-easy",
    "dataset_type": "gsm8k",
    "question": "Ines has 15 marbles. She loses 6 marbles. Then her brother gives her 3 times as many as she has left. How many does he give her?",
    "gold": "27",
    "steps": [
        {"text": "Ines has 15 - 6 = <<15-6=9>>9 marbles left.", "expr": "15-6", "value": 9},
        {"text": "Her brother gives her 9 * 3 = <<9*3=27>>27 marbles.", "expr": "9*3", "value": 27},
    ],
}


def test_step_judgements():
    ok, why = judge_step(MARBLES, [], "Ines has 15 - 6 = 8 marbles left.")
    assert not ok and why == "15 - 6 = 9, not 8."
    assert judge_step(MARBLES, [], "Ines has 15 - 6 = 9 marbles left.")[0]
    # right arithmetic, wrong quantity: off the track of true values
    ok, why = judge_step(MARBLES, ["Ines has 15 - 6 = 9 marbles left."], "He gives her 9 + 3 = 12 marbles.")
    assert not ok and "should give 27" in why
    # a final answer is accepted only when it is right
    done = ["Ines has 15 - 6 = 9 marbles left.", "He gives her 9 * 3 = 27 marbles."]
    assert judge_step(MARBLES, done, "The answer is 27.")[0]
    ok, why = judge_step(MARBLES, done, "The answer is 9.")
    assert not ok and why == "The final answer should be 27, not 9."


def test_whole_solution_critique_and_sample_records(tmp_path):
    wrong = SOLUTION_PREFIX + "Ines has 15 - 6 = 8 marbles left.\nHe gives her 8 * 3 = 24 marbles.\nThe answer is 24."
    text = critique(MARBLES, wrong)
    parsed = parse_critique(text)
    assert parsed.verdict == "wrong" and parsed.steps == ("wrong", "wrong", "wrong")
    right = SOLUTION_PREFIX + "15 - 6 = 9.\n9 * 3 = 27.\nThe answer is 27."
    assert parse_critique(critique(MARBLES, right)).verdict == "correct"
    samples: list[Sample] = [
        {"id": "syn/train/7/s0", "qid": "syn/train/7", "response": wrong, "correct": False},
        {"id": "syn/train/7/s1", "qid": "syn/train/7", "response": right, "correct": True},
    ]
    qs: dict[str, Question] = {MARBLES["id"]: MARBLES}
    recs, counts = annotate_samples(qs, samples, tmp_path / "c.jsonl")
    assert [(r["id"], r["sample_id"], r["verdict"]) for r in recs] == [
        ("syn/train/7/s0/c0", "syn/train/7/s0", "wrong"),
        ("syn/train/7/s1/c0", "syn/train/7/s1", "correct"),
    ]
    assert counts == {"critiques": 2, "written": 2, "verdict_wrong": 1, "verdict_correct": 1}
    again, counts = annotate_samples(qs, samples, tmp_path / "c.jsonl")
    assert again == recs and counts["written"] == 0


def test_a_chain_judged_by_the_programmatic_critic():
    """An actor that follows the critique's correction: the wrong step is fixed, the rest regenerated."""

    def respond(p: Prompt, k: int) -> str:
        if p.prefix == "":  # rewrite: use the value the critique names
            why = p.messages[2]["content"]
            value = re.search(r"= (\d+), not|should give (\d+)", why)
            assert value is not None
            return f"Ines has 15 - 6 = {value.group(1) or value.group(2)} marbles left."
        last = p.prefix.rstrip("\n").splitlines()[-1]
        if last.startswith("Ines has"):
            return "Her brother gives her 9 * 3 = 27 marbles."
        return "The answer is 27."

    actor = ScriptedEngine(respond)
    flawed = SOLUTION_PREFIX + "Ines has 15 - 6 = 8 marbles left.\nHe gives her 8 * 3 = 24 marbles.\nThe answer is 24."
    chains = build_chains(actor, programmatic_judge(), [("c", MARBLES, flawed, "s")], ChainConfig())
    [rec] = finish_records(chains)
    assert rec["kept"] and rec["rewritten_steps"] == [0] and rec["rounds"] == 1
    assert rec["steps"][0]["attempts"][0]["explanation"] == "15 - 6 = 9, not 8."
    assert rec["response"].endswith(
        "Ines has 15 - 6 = 9 marbles left.\nHer brother gives her 9 * 3 = 27 marbles.\nThe answer is 27."
    )
    assert "15 - 6 = 9, not 8." in rec["selftalk"]


def test_the_critique_stage_with_the_programmatic_critic(tmp_path):
    """``critique --critic-model programmatic``: no model, the run's questions, the usual records."""
    import json

    import pytest

    from selfimprove.core.errors import UsageError
    from selfimprove.stages import critique as stage

    run = tmp_path / "run"
    (run / "data").mkdir(parents=True)
    (run / "data" / "train.jsonl").write_text(json.dumps(MARBLES) + "\n")
    wrong = SOLUTION_PREFIX + "Ines has 15 - 6 = 8 marbles left.\nHe gives her 8 * 3 = 24 marbles.\nThe answer is 24."
    right = SOLUTION_PREFIX + "15 - 6 = 9.\n9 * 3 = 27.\nThe answer is 27."
    samples: list[Sample] = [
        {"id": "syn/train/7/s0", "qid": "syn/train/7", "question": MARBLES["question"], "response": r, "correct": c}
        for r, c in ((wrong, False), (right, True))
    ]
    samples[1]["id"] = "syn/train/7/s1"
    (run / "iter_1").mkdir()
    (run / "iter_1" / "01_samples.jsonl").write_text("".join(json.dumps(s) + "\n" for s in samples))
    assert stage.main(["--run-dir", str(run), "--iter", "1", "--critic-model", "programmatic"]) == 0
    [rec] = [json.loads(x) for x in (run / "iter_1" / "02_critiques.jsonl").read_text().splitlines()]
    assert rec["id"] == "syn/train/7/s0/c0" and rec["verdict"] == "wrong" and rec["critic_model"] == "programmatic"
    assert parse_critique(rec["critique"]).steps == ("wrong", "wrong", "wrong")
    step = json.loads((run / "manifest.json").read_text())["steps"]["iter_1/02_critiques"]
    assert step["counts"]["critiques"] == 1 and step["settings"]["questions"].endswith("data/train.jsonl")
    # without a run folder it needs the questions; questions that miss a sample's are named
    out = ["--samples", str(run / "iter_1" / "01_samples.jsonl"), "--out", str(tmp_path / "c.jsonl")]
    with pytest.raises(UsageError, match="needs --questions"):
        stage.main([*out, "--critic-model", "programmatic"])
    (tmp_path / "other.jsonl").write_text(json.dumps({**MARBLES, "id": "syn/train/8"}) + "\n")
    with pytest.raises(UsageError, match="lacks questions of .*syn/train/7"):
        stage.main([*out, "--critic-model", "programmatic", "--questions", str(tmp_path / "other.jsonl")])


def test_the_programmatic_critic_never_judges_test_answers():
    import pytest

    from selfimprove.core import config as C
    from selfimprove.core.errors import UsageError
    from selfimprove.stages.config import resolve

    env = {"critic_model_name": "programmatic", "dataset_name": "synthetic-easy"}
    assert resolve(C.INFERENCE, {**env, "EVALUATE": "0"}).critic_model_name == "programmatic"
    with pytest.raises(UsageError, match="critiques training samples only"):
        resolve(C.EVALUATE, {**env, "TEST_USE_CRITIC": "1", "ACTOR_MODELS": ""})
