"""A finished step is trusted only after its files are checked; an unreadable manifest is one clear line."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import pytest

from selfimprove.core.errors import ManifestError
from selfimprove.core.io import atomic_write_jsonl
from selfimprove.core.layout import RunLayout
from selfimprove.core.manifest import Step, record_run
from selfimprove.core.manifest import read as read_manifest
from selfimprove.generation.engines import ScriptedEngine
from selfimprove.stages import sample

QUESTIONS = [
    {
        "id": f"set/train/{i}",
        "dataset": "set",
        "dataset_type": "gsm8k",
        "question": f"What is {i} + 1?",
        "gold": str(i + 1),
    }
    for i in range(3)
]


@pytest.fixture
def run(tmp_path, monkeypatch, caplog):
    """A run folder with training questions; the sample stage gets a scripted engine."""
    monkeypatch.delenv("MATHCRITIQUE_RUN_LOCK", raising=False)
    caplog.set_level(logging.INFO, logger="selfimprove")
    lay = RunLayout(tmp_path / "exp")
    atomic_write_jsonl(lay.questions("train"), QUESTIONS)
    engines: list[ScriptedEngine] = []

    def make_engine(**kw):
        engines.append(ScriptedEngine(lambda p, k: f"So it is {k}.\nThe answer is {k}."))
        return engines[-1]

    monkeypatch.setattr(sample, "make_engine", make_engine)
    return lay, engines


def sample_stage(lay: RunLayout) -> int:
    argv = ["--run-dir", str(lay.root), "--iter", "1", "--actor-model", "scripted", "--n", "2", "--temperature", "0.7"]
    return sample.main(argv)


def test_a_lost_record_is_found_and_only_it_is_generated_again(run, caplog):
    lay, engines = run
    assert sample_stage(lay) == 0
    out = lay.samples(1)
    full = out.read_text().splitlines()
    entry = read_manifest(lay.root)["steps"]["iter_1/01_samples"]
    assert entry["outputs"]["iter_1/01_samples.jsonl"]["records"] == 6
    assert entry["inputs"]["data/train.jsonl"]["records"] == 3

    out.write_text("\n".join(full[:3] + full[4:]) + "\n")  # a line deleted in the middle
    caplog.clear()
    assert sample_stage(lay) == 0
    assert "iter_1/01_samples.jsonl has 5 records, 6 when the step finished" in caplog.text
    assert "running it again for what is missing" in caplog.text
    assert len(engines) == 2 and len(engines[1].calls) == 1 and len(engines[1].calls[0][0]) == 1
    assert sorted(json.loads(x)["id"] for x in out.read_text().splitlines()) == sorted(
        json.loads(x)["id"] for x in full
    )
    caplog.clear()
    assert sample_stage(lay) == 0 and "already done, skipping" in caplog.text and len(engines) == 2


def test_a_deleted_output_or_a_changed_input_is_redone(run, caplog):
    lay, engines = run
    sample_stage(lay)
    lay.samples(1).unlink()
    assert sample_stage(lay) == 0 and "01_samples.jsonl is missing" in caplog.text
    assert len(engines) == 2 and len(lay.samples(1).read_text().splitlines()) == 6
    atomic_write_jsonl(lay.questions("train"), QUESTIONS + [{**QUESTIONS[0], "id": "set/train/9"}])
    caplog.clear()
    assert sample_stage(lay) == 0
    assert "input data/train.jsonl has 4 records, 3 when the step finished" in caplog.text
    assert len(lay.samples(1).read_text().splitlines()) == 8 and len(engines[2].calls[0][0]) == 1


def test_an_edited_record_is_noted_not_regenerated(run, caplog):
    lay, engines = run
    sample_stage(lay)
    text = lay.samples(1).read_text().replace("So it is 0.", "So it is zero.", 1)
    lay.samples(1).write_text(text)
    assert sample_stage(lay) == 0
    assert "was edited since the step finished (same 6 ids)" in caplog.text and "already done" in caplog.text
    assert len(engines) == 1


def test_a_model_folder_missing_its_weights_fails_the_check(tmp_path):
    actor = tmp_path / "iter_0" / "actor"
    actor.mkdir(parents=True)
    for name, size in (("config.json", 10), ("model.safetensors", 1000), ("tokenizer.json", 20)):
        (actor / name).write_bytes(b"x" * size)
    with Step(tmp_path, "iter_0/05_train", {"lr": 1}, outputs=[actor]):
        pass
    assert Step(tmp_path, "iter_0/05_train", {"lr": 1}).skip()
    (actor / "model.safetensors").unlink()
    step = Step(tmp_path, "iter_0/05_train", {"lr": 1})
    assert step.verify() == ["iter_0/actor/model.safetensors is missing"] and not step.skip()
    (actor / "model.safetensors").write_bytes(b"x" * 10)
    assert step.verify() == ["iter_0/actor/model.safetensors has 10 bytes, 1000 when the step finished"]
    proc = subprocess.run(
        [sys.executable, "-m", "selfimprove", "manifest", "is-done", str(tmp_path), "iter_0/05_train"],
        capture_output=True,
    )
    assert proc.returncode == 1


def test_a_torn_line_in_a_finished_file_is_a_problem(tmp_path):
    out = tmp_path / "x.jsonl"
    atomic_write_jsonl(out, [{"id": "a"}, {"id": "b"}])
    with Step(tmp_path, "s", {}, outputs=[out]):
        pass
    out.write_text('{"id": "a"}\n{"id": "b"\n')
    assert Step(tmp_path, "s", {}).verify() == ["x.jsonl has 1 unreadable line(s)"]


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"steps": []}', "\x00\x01"])
def test_an_invalid_manifest_is_one_line_naming_the_file_and_what_to_do(tmp_path, content):
    (tmp_path / "manifest.json").write_text(content)
    with pytest.raises(ManifestError) as e:
        Step(tmp_path, "data/train", {}).skip()
    msg = str(e.value)
    assert msg.startswith(f"{tmp_path / 'manifest.json'}: ") and "move it aside" in msg and "\n" not in msg
    proc = subprocess.run(
        [sys.executable, "-m", "selfimprove", "manifest", "summary", str(tmp_path)], capture_output=True, text=True
    )
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and len(proc.stderr.splitlines()) == 1
    assert "Traceback" not in proc.stderr


def test_record_run_keeps_every_start_with_its_whole_configuration(tmp_path):
    record_run(tmp_path, "inference", {"sample_num": 2, "TRAIN_ARGS": 'a="b c"'})
    record_run(tmp_path, "evaluate", {"MV_NUM": 2})
    m = read_manifest(tmp_path)
    assert [r["driver"] for r in m["runs"]] == ["inference", "evaluate"]
    assert m["config"] == {"sample_num": 2, "TRAIN_ARGS": 'a="b c"'} and m["evaluate_config"] == {"MV_NUM": 2}
    assert "python" in m["runs"][0]["versions"]
