"""The summary stage: per-iteration numbers from the manifest's steps and the evaluation results."""

from __future__ import annotations

import json

import pytest

from selfimprove.core.cli import run
from selfimprove.core.manifest import Step
from selfimprove.stages.summary import main as summary_main
from selfimprove.stages.summary import per_iteration


def _done(run_dir, name, **counts):
    with Step(run_dir, name, {}) as step:
        step.count(**counts)


def test_rows_follow_the_layouts_step_names_and_files(tmp_path):
    _done(tmp_path, "iter_0/sft", total=7)
    _done(tmp_path, "iter_1/01_samples", accuracy=0.25)
    _done(tmp_path, "iter_1/03_refinements", kept=3)
    _done(tmp_path, "iter_1/04_sft", total=11)
    _done(tmp_path, "iter_1/05_train", train_loss=0.5)
    (tmp_path / "iter_0").mkdir()
    (tmp_path / "iter_1" / "actor").mkdir(parents=True)
    (tmp_path / "iter_10").mkdir()
    (tmp_path / "eval" / "iter_1").mkdir(parents=True)
    block = {"overall": {"response_only": {"greedy": {"value": 0.5}}}}
    (tmp_path / "eval" / "iter_1" / "results.json").write_text(json.dumps({"datasets": {"toy": block}}))
    rows = per_iteration(tmp_path)
    assert list(rows) == ["iter_0", "iter_1", "iter_10"]
    assert rows["iter_0"]["sft_examples"] == 7 and rows["iter_0"]["actor"] is None
    one = rows["iter_1"]
    assert one["actor"] == str(tmp_path / "iter_1" / "actor")
    assert (one["train_sample_accuracy"], one["refinements_kept"], one["sft_examples"]) == (0.25, 3, 11)
    assert one["train_loss"] == 0.5 and one["test_greedy_accuracy[toy]"] == 0.5


def test_writes_accuracy_json_and_refuses_a_folder_without_manifest(tmp_path, caplog, capsys):
    with pytest.raises(SystemExit) as e:
        run(summary_main, [str(tmp_path)])
    assert e.value.code == 2
    assert "has no manifest.json" in caplog.text
    _done(tmp_path, "iter_0/sft", total=2)
    (tmp_path / "iter_0").mkdir()
    with pytest.raises(SystemExit) as e:
        run(summary_main, [str(tmp_path)])
    assert e.value.code == 0
    assert json.loads((tmp_path / "accuracy.json").read_text())["iter_0"]["sft_examples"] == 2
