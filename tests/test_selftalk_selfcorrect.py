"""Trajectory-level self-correction: the training conversations and the test-time mode, scripted."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from selfimprove.core.records import Critique, Question, Refinement, Sample
from selfimprove.generation.engines import SamplingParams, ScriptedEngine
from selfimprove.generation.prompts import SOLUTION_PREFIX, Prompt, question_message
from selfimprove.selftalk.prompts import SELF_CHECK_INSTRUCTION, self_refine_message
from selfimprove.selftalk.selfcorrect import self_correct, trajectory_examples, turn_examples

QS: dict[str, Question] = {
    "farm/0": {
        "id": "farm/0",
        "question": "A hen lays 3 eggs a day. How many in 5 days?",
        "gold": "15",
        "dataset_type": "gsm8k",
    },
    "farm/1": {
        "id": "farm/1",
        "question": "Tom has 9 pears and eats 4. How many are left?",
        "gold": "5",
        "dataset_type": "gsm8k",
    },
}
RIGHT = SOLUTION_PREFIX + "3 * 5 = 15 eggs.\nThe answer is 15."
WRONG = SOLUTION_PREFIX + "9 - 4 = 6 pears.\nThe answer is 6."
FIXED = SOLUTION_PREFIX + "9 - 4 = 5 pears.\nThe answer is 5."
SAYS_WRONG = "Step sentence: 9 - 4 = 6 pears.\nCorrectness of the step: Wrong\nExplanation: 9 - 4 = 5.\n\nCorrectness of the final answer: Wrong\nExplanation: it is 5."
SAYS_RIGHT = "Step sentence: 3 * 5 = 15 eggs.\nCorrectness of the step: Correct\nExplanation: ok.\n\nCorrectness of the final answer: Correct\nExplanation: ok."


def test_trajectories_from_critiques_and_refinements():
    samples: list[Sample] = [
        {"id": "farm/0/s0", "qid": "farm/0", "response": RIGHT, "correct": True},
        {"id": "farm/1/s0", "qid": "farm/1", "response": WRONG, "correct": False},
        {"id": "farm/1/s1", "qid": "farm/1", "response": WRONG, "correct": False},  # critiqued, never fixed
        {"id": "farm/0/s1", "qid": "farm/0", "response": RIGHT, "correct": True},  # the critic called it wrong
        {"id": "farm/1/s2", "qid": "farm/1", "response": WRONG, "correct": False},  # no critique at all
    ]
    critiques: list[Critique] = [
        {"id": "farm/0/s0/c0", "sample_id": "farm/0/s0", "critique": SAYS_RIGHT, "verdict": "correct"},
        {"id": "farm/1/s0/c1", "sample_id": "farm/1/s0", "critique": SAYS_WRONG + " (second)", "verdict": "wrong"},
        {"id": "farm/1/s0/c0", "sample_id": "farm/1/s0", "critique": SAYS_WRONG, "verdict": "wrong"},
        {"id": "farm/1/s1/c0", "sample_id": "farm/1/s1", "critique": SAYS_WRONG, "verdict": "wrong"},
        {"id": "farm/0/s1/c0", "sample_id": "farm/0/s1", "critique": SAYS_WRONG},  # verdict read from the text
    ]
    refinements: list[Refinement] = [
        {
            "id": "farm/1/s0/c0/r0",
            "critique_id": "farm/1/s0/c0",
            "sample_id": "farm/1/s0",
            "response": WRONG,
            "correct": False,
            "kept": False,
        },
        {
            "id": "farm/1/s0/c0/r1",
            "critique_id": "farm/1/s0/c0",
            "sample_id": "farm/1/s0",
            "response": FIXED,
            "correct": True,
            "kept": True,
        },
        {
            "id": "farm/1/s0/c1/r0",
            "critique_id": "farm/1/s0/c1",
            "sample_id": "farm/1/s0",
            "response": FIXED,
            "correct": True,
            "kept": True,
        },
        {
            "id": "farm/1/s1/c0/r0",
            "critique_id": "farm/1/s1/c0",
            "sample_id": "farm/1/s1",
            "response": WRONG,
            "correct": False,
            "kept": False,
        },
    ]
    convs, counts = trajectory_examples(QS, samples, critiques, refinements)
    q0 = question_message(QS["farm/0"]["question"], "gsm8k")
    q1 = question_message(QS["farm/1"]["question"], "gsm8k")
    assert [[t["content"] for t in c] for c in convs] == [
        [q0, RIGHT, SELF_CHECK_INSTRUCTION, SAYS_RIGHT],
        [q1, WRONG, SELF_CHECK_INSTRUCTION, SAYS_WRONG, self_refine_message("gsm8k"), FIXED],  # c0 before c1
    ]
    assert [t["role"] for t in convs[1]] == ["user", "assistant"] * 3
    # targets: a right first answer and its confirmation; a wrong answer only as context
    assert [len(e) for e in turn_examples(convs[0])] == [2, 4]
    assert [len(e) for e in turn_examples(convs[1])] == [4, 6]
    assert turn_examples(convs[1])[1] == convs[1]
    assert counts == {
        "trajectories": 2,
        "confirmed": 1,
        "corrected": 1,
        "skipped_correct_not_confirmed": 1,
        "skipped_not_critiqued": 1,
        "skipped_not_fixed": 1,
    }


def test_self_correction_mode_checks_its_own_answers_and_rewrites_the_flagged_ones(tmp_path):
    def respond(p: Prompt, k: int) -> str:
        if p.messages[-1]["content"] == SELF_CHECK_INSTRUCTION:
            return SAYS_WRONG if "6 pears" in p.messages[1]["content"] else SAYS_RIGHT
        assert p.messages[3]["content"] == SAYS_WRONG and p.prefix == SOLUTION_PREFIX  # its own critique, then rewrite
        return "9 - 4 = 5 pears.\nThe answer is 5."

    engine = ScriptedEngine(respond)
    answers: list[Sample] = [
        {"id": "farm/0/s0", "qid": "farm/0", "index": 0, "response": RIGHT, "pred": "15", "correct": True},
        {"id": "farm/1/s0", "qid": "farm/1", "index": 0, "response": WRONG, "pred": "6", "correct": False},
    ]
    finals, counts = self_correct(engine, QS, answers, tmp_path, "pool", SamplingParams(), SamplingParams())
    assert [(f["id"], f["verdict"], f["revised"], f["pred"], f["correct"]) for f in finals] == [
        ("farm/0/s0", "correct", False, "15", True),
        ("farm/1/s0", "wrong", True, "5", True),
    ]
    assert finals[1]["response"] == FIXED
    assert counts["judged_wrong"] == 1 and counts["correct_before"] == 1 and counts["correct_after"] == 2
    assert [len(prompts) for prompts, _ in engine.calls] == [2, 1]
    # a rerun generates nothing
    again, counts = self_correct(engine, QS, answers, tmp_path, "pool", SamplingParams(), SamplingParams())
    assert again == finals and len(engine.calls) == 2 and counts["checks_generated"] == 0


def test_trajectory_stage_writes_examples_and_an_empty_file_when_nothing_is_usable(tmp_path, caplog):
    import json

    from selfimprove.stages import selftalk_trajectories

    def jsonl(name: str, rows: Sequence[Mapping[str, Any]]) -> str:
        (tmp_path / name).write_text("".join(json.dumps(r) + "\n" for r in rows))
        return str(tmp_path / name)

    questions = jsonl("q.jsonl", list(QS.values()))
    samples = jsonl(
        "s.jsonl",
        [
            {"id": "farm/0/s0", "qid": "farm/0", "response": RIGHT, "correct": True},
            {"id": "farm/1/s0", "qid": "farm/1", "response": WRONG, "correct": False},
        ],
    )
    critiques = jsonl(
        "c.jsonl",
        [
            {"id": "farm/0/s0/c0", "sample_id": "farm/0/s0", "critique": SAYS_RIGHT, "verdict": "correct"},
            {"id": "farm/1/s0/c0", "sample_id": "farm/1/s0", "critique": SAYS_WRONG, "verdict": "wrong"},
        ],
    )
    refinements = jsonl(
        "r.jsonl",
        [
            {
                "id": "farm/1/s0/c0/r0",
                "critique_id": "farm/1/s0/c0",
                "sample_id": "farm/1/s0",
                "response": FIXED,
                "correct": True,
                "kept": True,
            }
        ],
    )
    out = tmp_path / "sft.json"
    args = ["--questions", questions, "--samples", samples, "--critiques", critiques, "--out", str(out)]
    assert selftalk_trajectories.main([*args, "--refinements", refinements, "--run-dir", str(tmp_path / "run")]) == 0
    data = json.loads(out.read_text())
    # sharegpt: the right answer, its confirmation, the flagged answer's critique, its correction
    assert [len(d["conversations"]) for d in data] == [2, 4, 4, 6]
    assert data[3]["conversations"][-1] == {"from": "gpt", "value": FIXED}
    steps = json.loads((tmp_path / "run" / "manifest.json").read_text())["steps"]
    assert steps["selftalk/05_selfcorrect_data"]["counts"]["examples"] == 4
    # nothing usable: an empty file, a warning with the counts, and the step records examples=0
    empty = tmp_path / "x.json"
    with caplog.at_level("WARNING"):
        assert (
            selftalk_trajectories.main(
                [
                    *args[:4],
                    "--critiques",
                    jsonl("none.jsonl", []),
                    "--out",
                    str(empty),
                    "--run-dir",
                    str(tmp_path / "r2"),
                ]
            )
            == 0
        )
    assert json.loads(empty.read_text()) == []
    assert "no usable self-correction trajectory" in caplog.text and "skipped_not_critiqued" in caplog.text
    steps = json.loads((tmp_path / "r2" / "manifest.json").read_text())["steps"]
    assert steps["selftalk/05_selfcorrect_data"]["counts"]["examples"] == 0


def test_self_correction_data_holds_the_sft_data_too_unless_switched_off(tmp_path, monkeypatch):
    import json

    from selfimprove.stages import selftalk_trajectories

    monkeypatch.delenv("SELFCORRECT_SFT_DATA", raising=False)
    monkeypatch.delenv("PRESET", raising=False)
    refs = {"farm/0": "3 * 5 = 15 eggs.\n#### 15", "farm/1": "9 - 4 = 5 pears.\n#### 5"}
    questions = [{**q, "reference": refs[q["id"]]} for q in QS.values()]
    (tmp_path / "q.jsonl").write_text("".join(json.dumps(q) + "\n" for q in questions))
    (tmp_path / "s.jsonl").write_text(
        json.dumps({"id": "farm/0/s0", "qid": "farm/0", "response": RIGHT, "correct": True}) + "\n"
    )
    (tmp_path / "c.jsonl").write_text(
        json.dumps({"id": "farm/0/s0/c0", "sample_id": "farm/0/s0", "critique": SAYS_RIGHT, "verdict": "correct"})
        + "\n"
    )
    args = ["--questions", str(tmp_path / "q.jsonl"), "--samples", str(tmp_path / "s.jsonl")]
    args += ["--critiques", str(tmp_path / "c.jsonl")]

    def written(out: str, *extra: str) -> list[list[dict]]:
        assert selftalk_trajectories.main([*args, "--out", str(tmp_path / out), *extra]) == 0
        return [d["conversations"] for d in json.loads((tmp_path / out).read_text())]

    # default: every question's reference solution (what the SFT model trains on), then the trajectories
    data = written("with.json", "--run-dir", str(tmp_path / "run"))
    assert [len(c) for c in data] == [2, 2, 2, 4]
    assert data[0][1] == {"from": "gpt", "value": f"{SOLUTION_PREFIX}3 * 5 = 15 eggs.\nThe answer is 15."}
    assert data[1][1]["value"].endswith("9 - 4 = 5 pears.\nThe answer is 5.")
    counts = json.loads((tmp_path / "run" / "manifest.json").read_text())["steps"]["selftalk/05_selfcorrect_data"]
    assert counts["counts"]["sft_examples"] == 2 and counts["counts"]["examples"] == 4
    # off (option or knob): the trajectories only
    assert [len(c) for c in written("without.json", "--sft-data", "0")] == [2, 4]
    monkeypatch.setenv("SELFCORRECT_SFT_DATA", "0")
    assert [len(c) for c in written("knob.json")] == [2, 4]
