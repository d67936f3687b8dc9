"""Typed readers: a record file reads back as written, and a bad line is refused naming path:line."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from selfimprove.core.errors import DataError, RecordError
from selfimprove.core.layout import RunLayout
from selfimprove.core.record_io import (
    read_chain_steps,
    read_critiques,
    read_questions,
    read_records,
    read_refinements,
    read_samples,
    write_records,
)
from selfimprove.core.records import Critique, Question, Sample
from selfimprove.stages import critique as critique_stage
from selfimprove.stages import refine as refine_stage
from selfimprove.stages import sample as sample_stage
from selfimprove.training.export import assemble

QUESTION: Question = {"id": "toy/train/0", "dataset_type": "gsm8k", "question": "2 + 3?", "gold": "5", "level": None}
SAMPLE: Sample = {
    "id": "toy/train/0/s0",
    "qid": "toy/train/0",
    "index": 0,
    "question": "2 + 3?",
    "gold": "5",
    "dataset_type": "gsm8k",
    "response": "Solution:\nThe answer is 6.",
    "pred": "6",
    "correct": False,
}
CRITIQUE: Critique = {"id": "toy/train/0/s0/c0", "sample_id": "toy/train/0/s0", "critique": "wrong", "verdict": "wrong"}
REFINEMENT = {
    "id": "toy/train/0/s0/c0/r0",
    "critique_id": "toy/train/0/s0/c0",
    "sample_id": "toy/train/0/s0",
    "qid": "toy/train/0",
    "response": "The answer is 5.",
    "correct": True,
    "kept": True,
}
CHAIN = {"id": "toy/train/0/r1", "qid": "toy/train/0", "round": 1, "response": "5", "verdict": None}


def write_lines(path: Path, *lines: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines), encoding="utf-8")
    return path


def refused(path: Path, lineno: int, *words: str) -> str:
    """The pattern of a refusal naming ``path:lineno`` and then the given words, in order."""
    return re.escape(f"{path}:{lineno}: ") + "".join(".*" + re.escape(w) for w in words)


@pytest.mark.parametrize(
    ("reader", "record"),
    [
        (read_questions, QUESTION),
        (read_samples, SAMPLE),
        (read_critiques, CRITIQUE),
        (read_refinements, REFINEMENT),
        (read_chain_steps, CHAIN),
    ],
)
def test_a_valid_file_reads_back_equal(tmp_path, reader, record):
    other = {**record, "id": record["id"] + "x", "extra": {"kept": "as is"}}  # fields beyond the kind's pass through
    path = write_lines(tmp_path / "r.jsonl", record, "", other)
    assert reader(path) == [record, other]


def test_written_records_read_back_equal(tmp_path):
    write_records(tmp_path / "s.jsonl", [SAMPLE, {**SAMPLE, "id": "toy/train/0/s1", "correct": True}])
    assert read_samples(tmp_path / "s.jsonl") == [SAMPLE, {**SAMPLE, "id": "toy/train/0/s1", "correct": True}]


def test_a_missing_required_field_names_path_line_and_field(tmp_path):
    bad = {k: v for k, v in SAMPLE.items() if k != "response"}
    path = write_lines(tmp_path / "s.jsonl", SAMPLE, bad)
    with pytest.raises(RecordError, match=refused(path, 2, "toy/train/0/s0", "lacks field(s) response")):
        read_samples(path)


def test_a_wrong_type_names_path_line_field_and_value(tmp_path):
    path = write_lines(tmp_path / "s.jsonl", {**SAMPLE, "correct": "yes"})
    with pytest.raises(RecordError, match=refused(path, 1, "'correct' must be bool, not str 'yes'")):
        read_samples(path)


@pytest.mark.parametrize(
    ("record", "words"),
    [
        ({**CHAIN, "round": True}, ("'round' must be int, not bool")),  # a bool is no count
        ({**CHAIN, "round": "1"}, ("'round' must be int, not str")),
        ({**CHAIN, "response": None}, ("'response' must be str, not NoneType")),
        ({**CHAIN, "id": 7}, ("'id' must be str, not int")),
    ],
)
def test_basic_types_are_checked(tmp_path, record, words):
    path = write_lines(tmp_path / "c.jsonl", record)
    with pytest.raises(RecordError, match=refused(path, 1, words)):
        read_chain_steps(path)


def test_a_null_passes_where_the_type_allows_it(tmp_path):
    path = write_lines(tmp_path / "q.jsonl", {**QUESTION, "level": None})
    assert read_questions(path, ("id", "level"))[0]["level"] is None
    write_lines(path, {**QUESTION, "level": "hard"})
    with pytest.raises(RecordError, match=refused(path, 1, "'level' must be int or null, not str")):
        read_questions(path, ("id", "level"))


def test_a_line_that_is_not_json_or_not_an_object_is_refused(tmp_path):
    path = write_lines(tmp_path / "q.jsonl", QUESTION, "{not json")
    with pytest.raises(RecordError, match=refused(path, 2, "invalid JSON")):
        read_questions(path)
    write_lines(path, QUESTION, QUESTION, "[1, 2]")
    with pytest.raises(RecordError, match=refused(path, 3, "expected a JSON object")):
        read_questions(path)


def test_required_names_the_fields_a_caller_reads(tmp_path):
    path = write_lines(tmp_path / "s.jsonl", {"id": "q/s0", "qid": "q", "response": "r", "correct": True})
    assert read_samples(path, ("id", "qid", "response", "correct"))[0]["correct"] is True
    with pytest.raises(RecordError, match=refused(path, 1, "lacks field(s) question")):
        read_samples(path)
    with pytest.raises(ValueError, match="unknown record kind 'answer'"):
        read_records(path, "answer")


def test_a_refusal_is_a_data_error_without_a_chained_traceback(tmp_path):
    path = write_lines(tmp_path / "r.jsonl", {**REFINEMENT, "sample_id": None})
    with pytest.raises(DataError) as e:
        read_refinements(path)
    assert e.value.__cause__ is None and str(e.value).count("\n") == 0


# ---------------------------------------------------------------------- the readers of the stages


def test_the_sample_stage_refuses_a_question_without_gold(tmp_path):
    questions = write_lines(tmp_path / "q.jsonl", {k: v for k, v in QUESTION.items() if k != "gold"})
    with pytest.raises(RecordError, match=refused(questions, 1, "lacks field(s) gold")):
        sample_stage.main(["--questions", str(questions), "--out", str(tmp_path / "s.jsonl"), "--actor-model", "m"])
    assert not (tmp_path / "s.jsonl").exists()


def test_the_critique_stage_refuses_an_ungraded_sample(tmp_path):
    samples = write_lines(tmp_path / "s.jsonl", SAMPLE, {**SAMPLE, "id": "toy/train/0/s1", "correct": "yes"})
    with pytest.raises(RecordError, match=refused(samples, 2, "'correct' must be bool")):
        critique_stage.main(["--samples", str(samples), "--out", str(tmp_path / "c.jsonl"), "--critic-model", "m"])


def test_the_refine_stage_refuses_a_broken_critique_line(tmp_path):
    samples = write_lines(tmp_path / "s.jsonl", SAMPLE)
    critiques = write_lines(tmp_path / "c.jsonl", CRITIQUE, '{"id": "toy/train/0/s0/c1", ')
    argv = ["--samples", str(samples), "--critiques", str(critiques), "--out", str(tmp_path / "r.jsonl")]
    with pytest.raises(RecordError, match=refused(critiques, 2, "invalid JSON")):
        refine_stage.main([*argv, "--actor-model", "m"])


def test_the_sft_export_refuses_a_refinement_whose_kept_is_not_a_bool(tmp_path):
    lay = RunLayout(tmp_path)
    write_lines(lay.samples(1), SAMPLE)
    write_lines(lay.critiques(1), CRITIQUE)
    refinements = write_lines(lay.refinements(1), {**REFINEMENT, "kept": 1})
    flags = dict.fromkeys(("use_original", "use_gpt4_feedback", "use_previous", "use_selfimprove_feedback"), False)
    with pytest.raises(RecordError, match=refused(refinements, 1, "'kept' must be bool, not int 1")):
        assemble(tmp_path, 1, [QUESTION], {**flags, "use_critic": True})
