"""The critique-data mode at scale: RG3 mistakes carried forward through the reference (no model),
programmatic labels, balanced and nested example limits, and no held-out question in training."""

from __future__ import annotations

import random
from collections import Counter
from fractions import Fraction
from typing import cast

import pytest

from selfimprove.core.io import atomic_write_jsonl, read_json, read_jsonl
from selfimprove.core.records import Question
from selfimprove.critic.annotate import annotate_paths
from selfimprove.critic.dataset import select_examples
from selfimprove.critic.insert import carry_forward, insert_mistake
from selfimprove.critic.mcfilter import mc_filter
from selfimprove.critic.paths import PathSettings, build_paths
from selfimprove.critic.programmatic import annotate_record, solution_steps
from selfimprove.data.synthetic import generate
from selfimprove.generation.engines import SamplingParams
from selfimprove.stages import critic_dataset, critic_paths

LINES = ["Lena has 14 + 5 = 19 shells.", "She has 19 - 3 = 16 shells left.", "The answer is 16."]


def _insertion(step: int, kind: str):
    ins = insert_mistake(LINES, random.Random(3), "Lena has 14 shells. She finds 5 more.", (kind,), step=step)
    assert ins is not None and ins.mistake_type == kind
    return ins


def test_a_wrong_value_is_carried_through_every_later_line():
    ins = _insertion(0, "calculation error")
    new = ins.new_value
    carried = carry_forward(LINES, ins)
    assert carried == [ins.line, f"She has {new} - 3 = {new - 3} shells left.", f"The answer is {new - 3}."]


def test_a_mistake_in_the_last_step_changes_only_it_and_the_answer():
    ins = _insertion(1, "wrong operation")
    assert carry_forward(LINES, ins) == [LINES[0], "She has 19 + 3 = 22 shells left.", "The answer is 22."]


def test_a_carry_that_would_go_negative_is_refused():
    lines = ["Tom has 11 - 6 = 5 coins left.", "He has 5 - 3 = 2 coins left.", "The answer is 2."]
    ins = insert_mistake(lines, random.Random(0), "", ("calculation error",), step=0)
    assert ins is not None
    if ins.new_value < 3:
        assert carry_forward(lines, ins) is None
    low = ins.__class__(0, "calculation error", "Tom has 11 - 6 = 1 coins left.", lines[0], Fraction(5), Fraction(1))
    assert carry_forward(lines, low) is None


QUESTIONS = cast("list[Question]", generate(300, split="train", seed=0, difficulty="easy"))
HELD_OUT = generate(60, split="test", seed=0, difficulty="easy")
SCALE = PathSettings(strategies=("rg3", "reference"), rg3_continue="reference", rg3_per_question=1, max_steps=6)


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    d = tmp_path_factory.mktemp("scale")
    records, counts = build_paths(None, QUESTIONS, d / "paths.jsonl", SCALE)  # no engine at all
    annotations, _ = annotate_paths([r for r in records if r["selected"]], d / "ann.jsonl", "programmatic")
    params = SamplingParams(n=1, temperature=0.0, max_tokens=8)
    decisions, _ = mc_filter(
        None, {r["id"]: r for r in records}, annotations, d / "mc.jsonl", d / "mcr.jsonl", 1, 0, params
    )
    return d, records, counts, annotations, decisions


def test_rg3_carried_needs_no_model_and_puts_the_first_error_where_it_inserted(pool):
    _, records, counts, _, _ = pool
    assert counts["rg3_paths"] == counts["reference_paths"] == len(QUESTIONS)
    rg3 = [r for r in records if r["strategy"] == "rg3" and not r.get("insert_failed")]
    assert len(rg3) >= 0.95 * len(QUESTIONS)
    assert {r["mistake_type"] for r in rg3} == {"calculation error", "wrong operation", "misused quantity"}
    assert {r["step"] for r in rg3} == {0, 1}  # every position of a two-step problem
    localised = 0
    for r in rg3:
        assert r["continued_by"] == "reference" and r["model"] is None and r["correct"] is False
        assert len(solution_steps(r["response"])) == len(r["steps"]) + 1  # complete: every step and the answer
        ann = annotate_record(r)
        # a carried value can land on a true value of a later step; the annotator then abstains
        if ann.status == "ok":
            assert ann.first_error == r["step"]
            localised += 1
    assert localised >= 0.97 * len(rg3)


def test_labels_are_the_annotators_and_the_verdicts_are_balanced(pool):
    _, records, _, annotations, decisions = pool
    paths = {r["id"]: r for r in records}
    for a in annotations:
        again = annotate_record(paths[a["path_id"]])
        assert a["critique"] == again.critique and a["status"] == again.status
        if a["critique"] is not None:  # abstentions carry no verdict
            assert (a["verdict"], a["first_error"]) == (again.verdict, again.first_error)
            assert a["verdict"] == ("correct" if paths[a["path_id"]]["correct"] else "wrong")
    examples, extra = select_examples(paths, {a["id"]: a for a in annotations}, decisions, balance=1.0)
    verdicts = Counter(ex["annotation"]["verdict"] for ex in examples)
    assert verdicts["correct"] == verdicts["wrong"] > 250
    assert extra["duplicates"] == 0  # one reference and one carried mistake per question: all distinct


@pytest.mark.parametrize("limit", [10, 64, 101])
def test_a_limit_keeps_that_many_balanced_and_nested_in_a_larger_one(pool, limit):
    _, records, _, annotations, decisions = pool
    paths, amap = {r["id"]: r for r in records}, {a["id"]: a for a in annotations}
    small, extra = select_examples(paths, amap, decisions, balance=1.0, seed=1, limit=limit)
    large, _ = select_examples(paths, amap, decisions, balance=1.0, seed=1, limit=2 * limit)
    assert len(small) == limit and extra["limited_out"] > 0
    verdicts = Counter(ex["annotation"]["verdict"] for ex in small)
    assert abs(verdicts["correct"] - verdicts["wrong"]) <= 1
    assert {ex["path"]["id"] for ex in small} <= {ex["path"]["id"] for ex in large}


def test_a_limit_larger_than_the_data_keeps_everything(pool):
    _, records, _, annotations, decisions = pool
    paths, amap = {r["id"]: r for r in records}, {a["id"]: a for a in annotations}
    everything, _ = select_examples(paths, amap, decisions, balance=1.0)
    capped, extra = select_examples(paths, amap, decisions, balance=1.0, limit=10**6)
    assert capped == everything and extra["limited_out"] == 0


def test_stages_build_the_scale_dataset_without_a_model(tmp_path):
    atomic_write_jsonl(tmp_path / "train.jsonl", QUESTIONS[:80])
    atomic_write_jsonl(tmp_path / "test.jsonl", HELD_OUT)
    run = ["--run-dir", str(tmp_path / "run")]
    assert (
        critic_paths.main(
            [
                "--questions",
                str(tmp_path / "train.jsonl"),
                "--out",
                str(tmp_path / "p.jsonl"),
                "--actor-model",
                str(tmp_path / "no-such-model"),
                "--strategies",
                "rg3,reference",
                "--rg3-continue",
                "reference",
                *run,
            ]
        )
        == 0
    )
    paths = read_jsonl(tmp_path / "p.jsonl")
    annotations, _ = annotate_paths([p for p in paths if p["selected"]], tmp_path / "a.jsonl", "programmatic")
    params = SamplingParams(n=1, temperature=0.0, max_tokens=8)
    mc_filter(None, {p["id"]: p for p in paths}, annotations, tmp_path / "d.jsonl", tmp_path / "r.jsonl", 1, 0, params)
    out = tmp_path / "data"
    args = [
        "--paths",
        str(tmp_path / "p.jsonl"),
        "--annotations",
        str(tmp_path / "a.jsonl"),
        "--decisions",
        str(tmp_path / "d.jsonl"),
        "--out-dir",
        str(out),
        "--examples",
        "40",
        *run,
    ]
    assert critic_dataset.main(args) == 0
    rows = read_json(out / "04_dataset.json")
    stats = read_json(out / "stats.json")
    assert len(rows) == 40 and stats["per_verdict"] == {"correct": 20, "wrong": 20}
    held_out = {q["question"] for q in HELD_OUT}
    assert not any(q in row["conversations"][0]["value"] for row in rows for q in held_out)
    assert {p["qid"] for p in paths} <= {q["id"] for q in QUESTIONS[:80]}
