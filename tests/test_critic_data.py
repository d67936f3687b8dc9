"""Annotation records (programmatic and a scripted model annotator), the Monte-Carlo rule, and the
critique dataset export: deduplication, balance, formats, statistics, and the stages' files."""

from __future__ import annotations

import json

import pytest

from selfimprove.core.io import atomic_write_jsonl, read_jsonl
from selfimprove.critic.annotate import annotate_paths, annotation_id
from selfimprove.critic.critiques import predicted_first_error, step_blocks
from selfimprove.critic.dataset import select_examples, statistics, to_rows
from selfimprove.critic.mcfilter import decide, mc_filter
from selfimprove.generation.engines import SamplingParams, ScriptedEngine
from selfimprove.generation.prompts import SOLUTION_PREFIX, critique_message
from selfimprove.stages import critic_dataset

QUESTION = "Lena has 14 shells. She finds 5 more. Then she gives 3 away. How many shells does Lena have?"
STEPS = [{"expr": "14+5", "value": 19}, {"expr": "19-3", "value": 16}]


def path(pid, strategy, lines, correct, pred, question=QUESTION, steps=STEPS, **extra):
    rec = {
        "id": pid,
        "qid": pid.split("/")[0],
        "strategy": strategy,
        "question": question,
        "response": SOLUTION_PREFIX + "\n".join(lines),
        "gold": "16",
        "dataset_type": "gsm8k",
        "correct": correct,
        "pred": pred,
        "selected": True,
        **extra,
    }
    if steps:
        rec["steps"] = steps
    return rec


WRONG = path(
    "q0/rg3/0",
    "rg3",
    ["Lena has 14 + 5 = 21 shells.", "She has 21 - 3 = 18 shells.", "The answer is 18."],
    False,
    "18",
    step=0,
    mistake_type="calculation error",
)
RIGHT = path(
    "q0/ref",
    "reference",
    ["Lena has 14 + 5 = 19 shells.", "She has 19 - 3 = 16 shells.", "The answer is 16."],
    True,
    "16",
)
SAME_AS_WRONG = path(
    "q0/rg1/0", "rg1", ["Lena has 14 + 5 = 21 shells.", "She has 21 - 3 = 18 shells.", "The answer is 18."], False, "18"
)
UNLOCALISED = path(
    "q1/rg1/0", "rg1", ["He has 14 + 5 = 19 shells.", "19 + 3 = 22", "The answer is 22."], False, "22", steps=None
)
PATHS = [WRONG, RIGHT, SAME_AS_WRONG, UNLOCALISED]


def test_programmatic_annotations(tmp_path):
    recs, counts = annotate_paths(PATHS, tmp_path / "a.jsonl", "programmatic")
    by = {r["path_id"]: r for r in recs}
    w = by["q0/rg3/0"]
    assert w["id"] == annotation_id("q0/rg3/0") == "q0/rg3/0/a"
    assert (w["annotator"], w["status"], w["verdict"], w["first_error"], w["verdict_right"]) == (
        "programmatic",
        "ok",
        "wrong",
        0,
        True,
    )
    assert (w["step"], w["mistake_type"], w["step_verdicts"]) == (0, "calculation error", ["wrong", "wrong", "wrong"])
    assert "14 + 5 = 19, not 21." in w["critique"]
    assert (by["q0/ref"]["verdict"], by["q0/ref"]["first_error"]) == ("correct", None)
    u = by["q1/rg1/0"]
    assert (u["status"], u["critique"], u["verdict"], u["verdict_right"]) == ("unlocalised", None, None, False)
    assert counts["unlocalised"] == 1 and counts["with_critique"] == 3
    # resumed: nothing is annotated twice
    again, counts2 = annotate_paths(PATHS, tmp_path / "a.jsonl", "programmatic")
    assert again == recs and counts2["skipped_done"] == 4


def test_model_annotator_gets_the_hints_and_is_named(tmp_path):
    prompts = []

    def respond(prompt, k):
        prompts.append(prompt.messages[0]["content"])
        return (
            "Step sentence: Lena has 14 + 5 = 21 shells.\nCorrectness of the step: Correct\nExplanation: ok\n\n"
            "Step sentence: She has 21 - 3 = 18 shells.\nCorrectness of the step: Wrong\nExplanation: no\n\n"
            "Correctness of the final answer: Wrong\nExplanation: no"
        )

    engine = ScriptedEngine(respond, name="annotator-llm")
    (rec,) = annotate_paths([WRONG], tmp_path / "a.jsonl", engine, SamplingParams(max_tokens=64))[0]
    assert (rec["annotator"], rec["verdict"], rec["first_error"], rec["verdict_right"]) == (
        "annotator-llm",
        "wrong",
        1,
        True,
    )
    assert prompts[0].startswith(critique_message(QUESTION, WRONG["response"]))
    assert "The reference answer is: 16" in prompts[0]
    assert "The first mistake is in step 1, a calculation error" in prompts[0]


def test_first_error_is_matched_by_sentence_not_position():
    response = SOLUTION_PREFIX + "A = 1 + 1 = 2\nB = 2 * 3 = 6\nC = 6 - 1 = 4\nThe answer is 4."
    critique = (  # the critic skipped the first two lines
        "Step sentence: C = 6 - 1 = 4\nCorrectness of the step: Wrong\nExplanation: 5.\n\n"
        "Correctness of the final answer: Wrong\nExplanation: 5."
    )
    assert predicted_first_error(critique, response) == 2
    no_sentence = (
        "Correctness of the step: Correct\nCorrectness of the step: Wrong\nCorrectness of the final answer: Wrong"
    )
    assert step_blocks(no_sentence) == [(None, "correct"), (None, "wrong")]
    assert predicted_first_error(no_sentence, response) == 1
    assert predicted_first_error("Correctness of the final answer: Correct", response) is None


# ------------------------------------------------------------------------------------------ MC filter


@pytest.mark.parametrize(
    "ann, n_correct, k, expected",
    [
        ({"critique": None}, None, 1, (False, "no critique")),
        ({"critique": "x", "follows_format": False}, None, 1, (False, "format")),
        ({"critique": "x", "follows_format": True, "verdict_right": False}, None, 1, (False, "verdict wrong")),
        (
            {"critique": "x", "follows_format": True, "verdict_right": True, "path_correct": True},
            None,
            1,
            (True, "correct path, verdict right"),
        ),
        (
            {"critique": "x", "follows_format": True, "verdict_right": True, "path_correct": False},
            2,
            2,
            (True, "n_correct >= k"),
        ),
        (
            {"critique": "x", "follows_format": True, "verdict_right": True, "path_correct": False},
            1,
            2,
            (False, "n_correct < k"),
        ),
        (
            {"critique": "x", "follows_format": True, "verdict_right": True, "path_correct": False},
            0,
            0,
            (True, "n_correct >= k"),
        ),
    ],
)
def test_mc_rule(ann, n_correct, k, expected):
    assert decide(ann, n_correct, k) == expected


def _annotations(tmp_path):
    recs, _ = annotate_paths(PATHS, tmp_path / "a.jsonl", "programmatic")
    # a critique of the wrong path that calls it correct: dropped without refining
    bad = dict(recs[0], id="q0/rg3/0/a-bad", verdict="correct", verdict_right=False)
    return recs + [bad]


def test_mc_filter_counts_correct_refinements(tmp_path):
    anns = _annotations(tmp_path)
    paths = {p["id"]: p for p in PATHS}
    refined = []

    def respond(prompt, k):
        refined.append(prompt.messages[0]["content"])
        return "Lena has 19 shells, then 16.\nThe answer is 16." if k == 0 else "The answer is 17."

    actor = ScriptedEngine(respond, name="actor")
    params = SamplingParams(temperature=0.7, max_tokens=64)
    recs, counts = mc_filter(actor, paths, anns, tmp_path / "f.jsonl", tmp_path / "r.jsonl", n=2, k=1, params=params)
    by = {r["id"]: r for r in recs}
    # only the two wrong paths with a right verdict were refined, twice each
    assert len(refined) == 4 and counts["refined"] == 2 and counts["refinements"] == 4
    assert (by["q0/rg3/0/a"]["n_correct"], by["q0/rg3/0/a"]["n_refinements"], by["q0/rg3/0/a"]["kept"]) == (1, 2, True)
    assert (by["q0/ref/a"]["kept"], by["q0/ref/a"]["reason"], by["q0/ref/a"]["n_correct"]) == (
        True,
        "correct path, verdict right",
        None,
    )
    assert (by["q1/rg1/0/a"]["kept"], by["q1/rg1/0/a"]["reason"]) == (False, "no critique")
    assert (by["q0/rg3/0/a-bad"]["kept"], by["q0/rg3/0/a-bad"]["reason"]) == (False, "verdict wrong")
    assert read_jsonl(tmp_path / "f.jsonl") == recs
    assert counts["kept"] == 3 and counts["pass_rate"] == round(3 / 4, 4)
    # stricter k: one correct refinement out of two is not enough
    recs2, _ = mc_filter(actor, paths, anns, tmp_path / "f2.jsonl", tmp_path / "r.jsonl", n=2, k=2, params=params)
    assert len(refined) == 4  # the refinements were reused, not generated again
    assert {r["id"]: r["kept"] for r in recs2}["q0/rg3/0/a"] is False


def test_mc_filter_with_k_zero_refines_nothing(tmp_path):
    anns = _annotations(tmp_path)
    recs, counts = mc_filter(
        None,
        {p["id"]: p for p in PATHS},
        anns,
        tmp_path / "f.jsonl",
        tmp_path / "r.jsonl",
        n=1,
        k=0,
        params=SamplingParams(),
    )
    assert counts["refined"] == 0 and counts["kept"] == 3
    with pytest.raises(ValueError):
        mc_filter(None, {}, [], tmp_path / "f.jsonl", tmp_path / "r.jsonl", n=2, k=3, params=SamplingParams())


# ------------------------------------------------------------------------------------------ dataset


def _decisions(tmp_path):
    anns = {a["id"]: a for a in _annotations(tmp_path)}
    recs, _ = mc_filter(
        None,
        {p["id"]: p for p in PATHS},
        list(anns.values()),
        tmp_path / "f.jsonl",
        tmp_path / "r.jsonl",
        n=1,
        k=0,
        params=SamplingParams(),
    )
    return anns, recs


def test_dataset_dedup_balance_and_formats(tmp_path):
    anns, decisions = _decisions(tmp_path)
    pmap = {p["id"]: p for p in PATHS}
    examples, extra = select_examples(pmap, anns, decisions, balance=0)
    # the rg1 path repeats the rg3 path's solution: one example
    assert [ex["path"]["id"] for ex in examples] == ["q0/rg3/0", "q0/ref"]
    assert extra == {"duplicates": 1, "balanced_out": 0, "limited_out": 0}
    rows = to_rows(examples, "sharegpt")
    assert rows[0] == {
        "conversations": [
            {"from": "human", "value": critique_message(QUESTION, WRONG["response"])},
            {"from": "gpt", "value": anns["q0/rg3/0/a"]["critique"]},
        ]
    }
    alpaca = to_rows(examples, "alpaca", eos_token="<|eos|>")
    assert alpaca[1]["output"].startswith(anns["q0/ref/a"]["critique"]) and alpaca[1]["output"].endswith("<|eos|>")
    assert critique_message(QUESTION, RIGHT["response"]) in alpaca[1]["instruction"]
    stats = statistics(PATHS, list(anns.values()), decisions, examples, extra)
    assert stats["per_strategy"] == {"reference": 1, "rg3": 1}
    assert stats["per_verdict"] == {"correct": 1, "wrong": 1}
    assert stats["per_first_error_step"] == {"1": 1, "none": 1}
    assert stats["per_annotator"] == {"programmatic": 2}
    assert stats["per_mistake_type"] == {"calculation error": 1}
    assert (stats["filter_candidates"], stats["filter_kept"], stats["filter_pass_rate"]) == (4, 3, 0.75)


def test_balance_cuts_the_larger_verdict_class(tmp_path):
    anns, decisions = _decisions(tmp_path)
    pmap = {p["id"]: p for p in PATHS}
    extra_path = path("q2/rg3/0", "rg3", ["Lena has 14 + 5 = 20 shells.", "The answer is 17."], False, "17")
    pmap[extra_path["id"]] = extra_path
    (ann,) = annotate_paths([extra_path], tmp_path / "b.jsonl", "programmatic")[0]
    anns[ann["id"]] = ann
    decisions = decisions + [dict(decisions[0], id=ann["id"], path_id=extra_path["id"])]
    examples, extra = select_examples(pmap, anns, decisions, balance=1.0, seed=0)
    verdicts = sorted(ex["annotation"]["verdict"] for ex in examples)
    assert verdicts == ["correct", "wrong"] and extra["balanced_out"] == 1
    examples2, _ = select_examples(pmap, anns, decisions, balance=1.0, seed=0)
    assert [e["path"]["id"] for e in examples2] == [e["path"]["id"] for e in examples]  # seeded


def test_dataset_stage_writes_data_info_and_stats(tmp_path):
    anns, decisions = _decisions(tmp_path)
    atomic_write_jsonl(tmp_path / "p.jsonl", PATHS)
    atomic_write_jsonl(tmp_path / "a.jsonl", list(anns.values()))
    atomic_write_jsonl(tmp_path / "d.jsonl", decisions)
    out = tmp_path / "critic"
    args = ["--paths", str(tmp_path / "p.jsonl"), "--annotations", str(tmp_path / "a.jsonl")]
    args += ["--decisions", str(tmp_path / "d.jsonl"), "--out-dir", str(out), "--balance", "0"]
    assert critic_dataset.main(args) == 0
    rows = json.loads((out / "04_dataset.json").read_text())
    assert len(rows) == 2 and rows[0]["conversations"][0]["from"] == "human"
    info = json.loads((out / "dataset_info.json").read_text())
    assert info["critic_sft"]["file_name"] == "04_dataset.json" and info["critic_sft"]["formatting"] == "sharegpt"
    stats = json.loads((out / "stats.json").read_text())
    assert stats["examples"] == 2 and stats["duplicates"] == 1 and stats["format"] == "sharegpt"
