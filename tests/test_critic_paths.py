"""Flawed-path strategies with scripted engines: ids, tags (strategy, step, mistake type), the
RG2 prefix, the RG3 insertion, selection, and resuming without new generation."""

from __future__ import annotations

import random
from fractions import Fraction

import pytest

from selfimprove.core.io import read_jsonl
from selfimprove.core.records import Question
from selfimprove.critic.insert import candidate_steps, insert_mistake
from selfimprove.critic.paths import PathSettings, build_paths
from selfimprove.critic.programmatic import annotate_record, solution_steps
from selfimprove.generation.engines import ScriptedEngine
from selfimprove.generation.prompts import SOLUTION_PREFIX

QUESTIONS: list[Question] = [
    {
        "id": "toy/train/0",
        "dataset": "toy",
        "dataset_type": "gsm8k",
        "question": "Lena has 14 shells. She finds 5 more. Then she gives 3 away. How many shells does Lena have?",
        "reference": "Lena has 14 + 5 = <<14+5=19>>19 shells.\nShe has 19 - 3 = <<19-3=16>>16 shells left.\n#### 16",
        "gold": "16",
        "level": 2,
        "steps": [{"expr": "14+5", "value": 19}, {"expr": "19-3", "value": 16}],
    },
    {
        "id": "toy/train/1",
        "dataset": "toy",
        "dataset_type": "gsm8k",
        "question": "Omar buys 3 bags with 6 pears in each bag. How many pears does Omar have?",
        "reference": "Omar has 3 * 6 = <<3*6=18>>18 pears.\n#### 18",
        "gold": "18",
        "level": 1,
        "steps": [{"expr": "3*6", "value": 18}],
    },
]

# the actor's own answers from scratch: sample 0 as below (Lena's wrong, Omar's right), sample 1 right
FROM_SCRATCH = {
    "Lena": ["Lena has 14 shells.", "She finds 5 more, 14 + 5 = 20.", "Then 20 - 3 = 17.", "The answer is 17."],
    "Omar": ["Omar buys 3 bags.", "Each bag has 6 pears.", "3 * 6 = 18 pears.", "The answer is 18."],
}


def actor_respond(prompt, k):
    q = prompt.messages[0]["content"]
    name = "Lena" if "Lena" in q else "Omar"
    if prompt.prefix == SOLUTION_PREFIX:  # from scratch
        lines = (
            FROM_SCRATCH[name]
            if k == 0
            else ["Working it out.", "The answer is " + ("16" if name == "Lena" else "18") + "."]
        )
        return "\n".join(lines)
    return "So the answer is 99."  # any continuation


def test_rg1_rg2_rg3_reference_bookkeeping(tmp_path):
    actor = ScriptedEngine(actor_respond, name="actor")
    settings = PathSettings(strategies=("rg1", "rg2", "rg3", "reference"), samples=2, rg3_per_question=2, seed=3)
    records, counts = build_paths(actor, QUESTIONS, tmp_path / "paths.jsonl", settings)
    by_id = {r["id"]: r for r in records}
    assert sorted(by_id) == sorted(
        [f"toy/train/{i}/ref" for i in range(2)]
        + [f"toy/train/{i}/rg{g}/{j}" for i in range(2) for g in (1, 3) for j in range(2)]
        + [f"toy/train/{i}/rg2/{j}" for i in range(2) for j in range(2)]
    )
    assert read_jsonl(tmp_path / "paths.jsonl") == records  # rewritten with the selection

    # reference: the actor's answer format, calculator annotations removed, correct
    ref = by_id["toy/train/0/ref"]
    assert (
        ref["response"]
        == SOLUTION_PREFIX + "Lena has 14 + 5 = 19 shells.\nShe has 19 - 3 = 16 shells left.\nThe answer is 16."
    )
    assert (ref["strategy"], ref["correct"], ref["selected"], ref["step"]) == ("reference", True, True, None)

    # rg1: graded samples; the wrong one and one correct one per question selected
    s0, s1 = by_id["toy/train/0/rg1/0"], by_id["toy/train/0/rg1/1"]
    assert (s0["correct"], s0["selected"], s1["correct"], s1["selected"]) == (False, True, True, True)

    # rg2: the first t lines of the rg1 sample it continues, then the continuation; t recorded
    for j in range(2):
        r2 = by_id[f"toy/train/0/rg2/{j}"]
        src = solution_steps(by_id[f"toy/train/0/rg1/{j}"]["response"])
        t = r2["step"]
        assert r2["source_id"] == f"toy/train/0/rg1/{j}"
        assert 1 <= t < len(src)
        assert solution_steps(r2["response"]) == src[:t] + ["So the answer is 99."]
    # the raised temperature was used for rg2 only
    temps = [params.temperature for _, params in actor.calls]
    assert temps.count(1.0) == 1 and temps.count(0.7) == 2

    # rg3: one line of the reference changed at step t with a named type; the actor continued after it
    for i in range(2):
        for j in range(2):
            r3 = by_id[f"toy/train/{i}/rg3/{j}"]
            ref_lines = solution_steps(by_id[f"toy/train/{i}/ref"]["response"])
            lines = solution_steps(r3["response"])
            t = r3["step"]
            assert r3["mistake_type"] in ("calculation error", "wrong operation", "misused quantity")
            assert r3["inserter"] == "programmatic"
            assert lines[:t] == ref_lines[:t] and lines[t] != ref_lines[t] and r3["original_line"] == ref_lines[t]
            assert lines[t + 1 :] == ["So the answer is 99."]
            # the programmatic annotator finds the first error exactly where it was put
            assert annotate_record(r3).first_error == t
    # Omar's two samples are both right: one of them is kept
    assert (counts["rg1_selected"], counts["rg1_correct"]) == (3, 3)
    assert (counts["rg2_selected"], counts["rg3_selected"], counts["reference_selected"]) == (4, 4, 2)
    assert counts["selected"] == 13


def test_resume_generates_nothing_new(tmp_path):
    actor = ScriptedEngine(actor_respond, name="actor")
    settings = PathSettings(strategies=("rg1", "rg2", "rg3"), samples=2, seed=1)
    first, _ = build_paths(actor, QUESTIONS, tmp_path / "p.jsonl", settings)
    calls = len(actor.calls)
    again, _ = build_paths(actor, QUESTIONS, tmp_path / "p.jsonl", settings)
    assert len(actor.calls) == calls
    assert again == first


def test_model_inserter_rewrites_the_chosen_step(tmp_path):
    actor = ScriptedEngine(actor_respond, name="actor")
    seen = []

    def inserter_respond(prompt, k):
        seen.append(prompt.messages[0]["content"])
        return "Rewritten step 1: Omar has 3 + 6 = 9 pears.\nmore text"

    inserter = ScriptedEngine(inserter_respond, name="inserter")
    settings = PathSettings(strategies=("rg3",), inserter="model", mistake_types=("wrong operation",), seed=0)
    records, _ = build_paths(actor, QUESTIONS[1:], tmp_path / "p.jsonl", settings, inserter=inserter)
    (r,) = records
    assert (r["step"], r["mistake_type"], r["inserter"]) == (0, "wrong operation", "inserter")
    assert solution_steps(r["response"])[:2] == ["Omar has 3 + 6 = 9 pears.", "So the answer is 99."]
    assert "wrong operation" in seen[0] and "Original step 1:\nOmar has 3 * 6 = 18 pears." in seen[0]


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="strategies"):
        PathSettings(strategies=("rg4",))
    with pytest.raises(ValueError, match="mistake type"):
        PathSettings(mistake_types=("typo",))
    with pytest.raises(ValueError, match="inserter"):
        PathSettings(inserter="human")


# ------------------------------------------------------------------------------------------ inserter


LINES = ["Lena has 14 + 5 = 19 shells.", "She has 19 - 3 = 16 shells left.", "The answer is 16."]
Q = str(QUESTIONS[0]["question"])


@pytest.mark.parametrize("seed", range(30))
def test_inserted_mistakes_are_exact_and_detectable(seed):
    ins = insert_mistake(LINES, random.Random(seed), Q, avoid=[Fraction(19), Fraction(16)])
    assert ins is not None and ins.step in (0, 1)
    assert ins.new_value != ins.old_value and ins.new_value >= 0
    assert ins.new_value not in (19, 16, 14, 5, 3)
    changed = LINES[: ins.step] + [ins.line] + LINES[ins.step + 1 :]
    path = {
        "question": Q,
        "response": SOLUTION_PREFIX + "\n".join(changed[: ins.step + 1]),
        "gold": "16",
        "correct": False,
        "pred": None,
        "steps": QUESTIONS[0]["steps"],
    }
    assert annotate_record(path).first_error == ins.step


def test_inserter_is_deterministic_per_seed_and_respects_the_type():
    a = insert_mistake(LINES, random.Random(7), Q, types=("calculation error",))
    b = insert_mistake(LINES, random.Random(7), Q, types=("calculation error",))
    assert a is not None and a == b and a.mistake_type == "calculation error"
    op = insert_mistake(LINES, random.Random(7), Q, types=("wrong operation",), step=1)
    assert op is not None
    assert op.line == "She has 19 + 3 = 22 shells left." and op.mistake_type == "wrong operation"
    assert insert_mistake(["No numbers here.", "The answer is 5."], random.Random(0), Q) is None
    assert candidate_steps(LINES + ["So 2 + 2 = 5 is odd."]) == [0, 1]
