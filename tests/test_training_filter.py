"""The filter stage: feedback files for several datasets, loud when missing; calculator notes; EOS."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from selfimprove.core.cli import run
from selfimprove.core.manifest import read as read_manifest
from selfimprove.stages.filter import main as filter_main

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "models" / "SmolLM2-135M-Instruct"

QUESTIONS = [
    {
        "id": "shop/train/0",
        "dataset_type": "gsm8k",
        "question": "A pen costs 4 dollars. How much do 6 pens cost?",
        "reference": "6 pens cost 6 * 4 = <<6*4=24>>24 dollars.\n#### 24",
        "gold": "24",
    },
    {
        "id": "alg/train/0",
        "dataset_type": "math",
        "question": "Solve $2x = 10$.",
        "reference": "Divide by 2: $x = 5$.",
        "gold": "5",
    },
]


def feedback_rows(tag: str, n: int) -> list[dict]:
    return [
        {
            "instruction": f"{tag} question {i}\n\nAssistant:Let's see\nwrong {i}\n<|end_of_text|>\n"
            "Human: I have made a step-by-step critic for your solution.\n\nStep 1 is wrong\n",
            "input": "",
            "output": f"fixed {tag} {i}",
        }
        for i in range(n)
    ]


@pytest.fixture
def run_dir(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.jsonl").write_text("".join(json.dumps(q) + "\n" for q in QUESTIONS))
    (tmp_path / "gsm8k-fb.json").write_text(json.dumps(feedback_rows("gsm", 3)))
    (tmp_path / "math-fb.json").write_text(json.dumps(feedback_rows("math", 2) + [{"instruction": "broken"}]))
    return tmp_path


def call(run_dir: Path, *extra: str) -> int:
    argv = ["--run-dir", str(run_dir), "--iter", "0", "--questions", str(run_dir / "data" / "train.jsonl")]
    with pytest.raises(SystemExit) as e:
        run(filter_main, argv + list(extra))
    return int(e.value.code or 0)


def test_feedback_from_several_files(run_dir):
    fb = ["--feedback-file", str(run_dir / "gsm8k-fb.json"), "--feedback-file", str(run_dir / "math-fb.json")]
    assert call(run_dir, "--use-gpt4-feedback", "1", *fb) == 0
    sft = json.loads((run_dir / "iter_0" / "sft.json").read_text())
    assert len(sft) == 2 + 3 + 2
    assert sft[-1]["conversations"][-1]["value"] == "fixed math 1"
    counts = read_manifest(run_dir)["steps"]["iter_0/sft"]["counts"]
    assert counts["gpt4_feedback"] == 5 and counts["feedback_skipped"] == 1
    assert counts["feedback_per_file"] == {str(run_dir / "gsm8k-fb.json"): 3, str(run_dir / "math-fb.json"): 2}


def test_feedback_switched_on_without_a_file_fails_loudly(run_dir, caplog):
    assert call(run_dir, "--use-gpt4-feedback", "1") == 2
    (message,) = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert message.startswith("USE_GPT4_FEEDBACK=1 but no --feedback-file") and "\n" not in message
    assert not (run_dir / "iter_0" / "sft.json").exists()
    caplog.clear()
    assert call(run_dir, "--use-gpt4-feedback", "1", "--feedback-file", str(run_dir / "nope.json")) == 2
    assert "nope.json: file not found" in caplog.text
    caplog.clear()
    (run_dir / "empty.json").write_text("[]")
    assert call(run_dir, "--use-gpt4-feedback", "1", "--feedback-file", str(run_dir / "empty.json")) == 2
    assert "no usable critique->refinement example" in caplog.text


def test_feedback_flag_is_quiet_where_feedback_does_not_apply(run_dir):
    # iteration k >= 1 without USE_ORIGINAL adds no external feedback, so needs no file
    (run_dir / "iter_1").mkdir()
    sample = {"id": "shop/train/0/s0", "qid": "shop/train/0", "dataset_type": "gsm8k", "response": "r", "correct": True}
    (run_dir / "iter_1" / "01_samples.jsonl").write_text(json.dumps(sample) + "\n")
    argv = ["--iter", "1", "--use-gpt4-feedback", "1", "--use-original", "0"]
    with pytest.raises(SystemExit) as e:
        run(filter_main, ["--run-dir", str(run_dir), "--questions", str(run_dir / "data" / "train.jsonl"), *argv])
    assert e.value.code == 0


def test_calculator_annotations_kept_unless_stripped(run_dir, tmp_path):
    assert call(run_dir) == 0
    kept = json.loads((run_dir / "iter_0" / "sft.json").read_text())[0]["conversations"][1]["value"]
    assert "6 * 4 = <<6*4=24>>24 dollars." in kept and "####" not in kept
    other = tmp_path / "other"
    other.mkdir()
    (other / "data").mkdir()
    (other / "data" / "train.jsonl").write_text((run_dir / "data" / "train.jsonl").read_text())
    assert call(other, "--strip-calculator", "1") == 0
    stripped = json.loads((other / "iter_0" / "sft.json").read_text())[0]["conversations"][1]["value"]
    assert "6 * 4 = 24 dollars." in stripped
    assert read_manifest(other)["steps"]["iter_0/sft"]["settings"]["strip_calculator"] is True


def test_alpaca_export_takes_the_eos_of_the_model_to_be_trained(run_dir):
    if not (MODEL / "tokenizer_config.json").is_file():
        pytest.skip("embedded model absent")
    assert call(run_dir, "--format", "alpaca", "--base-model", str(MODEL)) == 0
    rec = json.loads((run_dir / "iter_0" / "sft.json").read_text())[0]
    assert rec["instruction"].startswith("Human: A pen costs") and rec["instruction"].endswith("\n\nAssistant:")
    assert rec["output"].endswith("The answer is 24.<|im_end|>")  # the reply, then the EOS


def test_filter_step_is_redone_when_its_output_is_gone(run_dir, caplog):
    assert call(run_dir) == 0
    assert call(run_dir) == 0 and "already done" in caplog.text
    (run_dir / "iter_0" / "sft.json").unlink()
    assert call(run_dir) == 0
    assert (run_dir / "iter_0" / "sft.json").is_file()
