"""A model whose training data came out empty: train --if-empty skip, its evaluation row, the report."""

from __future__ import annotations

import json

import pytest

from selfimprove.core.errors import DataError
from selfimprove.core.io import RecordError
from selfimprove.core.records import Question, Sample
from selfimprove.selftalk.table import row_results
from selfimprove.stages import selftalk_eval, selftalk_report, train

QUESTION: Question = {
    "id": "m/0",
    "dataset": "toy",
    "dataset_type": "gsm8k",
    "question": "2 + 2?",
    "gold": "4",
    "level": None,
}


def test_empty_data_is_an_error_unless_skipped_and_the_row_says_not_trained(tmp_path, capsys):
    run_dir, data, model = tmp_path / "run", tmp_path / "selfcorrect_sft.json", tmp_path / "selfcorrect_model"
    data.write_text("[]\n")
    common = ["--role", "critic", "--run-dir", str(run_dir), "--dataset-file", str(data), "--out-dir", str(model)]
    common += ["--base-model", str(tmp_path / "base"), "--template", "default", "--step", "selftalk/06_selfcorrect"]
    with pytest.raises(DataError, match="non-empty JSON list"):
        train.main(common)
    assert train.main([*common, "--if-empty", "skip"]) == 0
    marker = json.loads((model / "not_trained.json").read_text())
    assert marker["reason"] == "selfcorrect_sft.json holds no training example"
    assert not (model / "config.json").exists()
    step = json.loads((run_dir / "manifest.json").read_text())["steps"]["selftalk/06_selfcorrect"]
    assert step["status"] == "done" and step["counts"] == {"examples": 0, "trained": 0}
    assert train.main([*common, "--if-empty", "skip"]) == 0  # a rerun changes nothing
    assert "not trained" in capsys.readouterr().out

    # the evaluation of that model loads no engine and writes a row with the reason
    questions = tmp_path / "test.jsonl"
    questions.write_text(json.dumps(QUESTION) + "\n")
    eval_dir = tmp_path / "eval_onep"
    args = ["--method", "selfcorrect", "--questions", str(questions), "--out-dir", str(eval_dir / "selfcorrect")]
    assert selftalk_eval.main([*args, "--actor-model", str(model), "--run-dir", str(run_dir)]) == 0
    row = json.loads((eval_dir / "selfcorrect" / "row.json").read_text())
    assert row["final"] is None and row["not_trained"] == marker["reason"]

    # the report keeps the row in its place, says why it has no numbers, and needs one scored row
    with pytest.raises(RecordError, match="no row has results"):
        selftalk_report.main(["--methods", "selfcorrect", "--out", str(eval_dir)])
    talk = row_results("selftalk", [QUESTION], [_answer("4")], [_answer("4")], {})
    (eval_dir / "selftalk").mkdir()
    (eval_dir / "selftalk" / "row.json").write_text(json.dumps(talk))
    assert selftalk_report.main(["--methods", "selftalk", "selfcorrect", "--out", str(eval_dir)]) == 0
    report = (eval_dir / "report.md").read_text()
    assert "| Self-correction FT (trajectory level, one player) | not trained |" in report
    assert json.loads((eval_dir / "results.json").read_text())["not_trained"] == {"selfcorrect": marker["reason"]}


def test_a_model_folder_is_never_replaced_by_a_marker(tmp_path):
    data, model = tmp_path / "d.json", tmp_path / "m"
    data.write_text("[]")
    model.mkdir()
    (model / "config.json").write_text("{}")
    args = [
        "--role",
        "critic",
        "--run-dir",
        str(tmp_path / "run"),
        "--dataset-file",
        str(data),
        "--out-dir",
        str(model),
    ]
    with pytest.raises(DataError, match="holds a model"):
        train.main([*args, "--base-model", "b", "--template", "default", "--if-empty", "skip"])
    assert not (model / "not_trained.json").exists()


def _answer(pred: str) -> Sample:
    return {
        "id": "m/0/s0",
        "qid": "m/0",
        "index": 0,
        "response": f"The answer is {pred}.",
        "pred": pred,
        "correct": pred == "4",
    }
