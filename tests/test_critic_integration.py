"""``selfimprove/critic-all.sh`` end to end on the embedded model with tiny sizes (vLLM or
transformers on CPU, LLaMA-Factory for one training step), plus its bad-input exits.

The end-to-end run takes minutes on 2 cores; it skips when the environments or the model are
missing (``bash scripts/setup_env.sh`` creates them).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "models" / "SmolLM2-135M-Instruct"
TRAIN_CLI = ROOT / ".venv-train" / "bin" / "llamafactory-cli"
DRIVER = ROOT / "selfimprove" / "critic-all.sh"

TINY = {
    "critic_train_limit": "4",
    "critic_test_limit": "4",
    "RG3_PER_QUESTION": "1",
    "MC_N": "1",
    "max_tokens": "32",
    "critic_max_tokens": "48",
    "EVAL_PER_CLASS": "2",
    "EVAL_CRITICS": "none base trained likelihood programmatic",
    "CRITIC_TRAIN_ARGS": "max_steps=1 cutoff_len=512",
    "LIKELIHOOD_SOLUTIONS": "2",
    "LIKELIHOOD_CALIBRATION": "2",
    "LIKELIHOOD_TRAIN_ARGS": "max_steps=1 cutoff_len=256",
    "MAX_MODEL_LEN": "1024",
}


def drive(env: dict, timeout: int = 1800) -> subprocess.CompletedProcess:
    full = {**os.environ, "PYTHON": sys.executable, **env}
    return subprocess.run(["bash", str(DRIVER)], env=full, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.parametrize(
    "knob, value, message",
    [
        ("MC_K", "3", "MC_K=3 is more than MC_N=2"),
        ("STRATEGIES", "rg1,rg9", "unknown strategy rg9"),
        ("EVAL_CRITICS", "none oracle", "unknown critic oracle"),
        ("model_type", "Chat", "model_type='Chat' (environment): must be one of Instruct, Base"),
        ("critic_train_limit", "ten", "critic_train_limit='ten' (environment): expected an integer"),
        ("ANNOTATOR", "model", "ANNOTATOR=model needs ANNOTATOR_MODEL"),
        ("EVAL_CRITICS", "none likelihood", "EVAL_CRITICS has likelihood: set LIKELIHOOD_SOLUTIONS"),
        ("model_name", "/nonexistent/model", "not found"),
    ],
)
def test_bad_knobs_exit_2_with_one_line(tmp_path, knob, value, message):
    proc = drive({"RUNS_DIR": str(tmp_path), knob: value}, timeout=120)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "demo" / "critic").exists()  # refused before any work


@pytest.mark.integration
def test_critic_all_tiny(tmp_path):
    for path, what in ((MODEL / "config.json", "embedded model"), (TRAIN_CLI, "training environment")):
        if not path.exists():
            pytest.skip(f"{what} missing ({path}); run `bash scripts/setup_env.sh`")
    env = {"RUNS_DIR": str(tmp_path), "EXP_NUM": "tiny", **TINY}
    proc = drive(env)
    assert proc.returncode == 0, proc.stderr[-4000:]
    c = tmp_path / "tiny" / "critic"
    paths = jsonl(c / "01_flawed_paths.jsonl")
    assert {p["strategy"] for p in paths} == {"rg1", "rg3", "reference"}
    assert all(p["step"] is not None and p["mistake_type"] for p in paths if p["strategy"] == "rg3" and p["response"])
    anns = jsonl(c / "02_annotations.jsonl")
    assert anns and {a["annotator"] for a in anns} == {"programmatic"}
    decisions = jsonl(c / "03_mc_filter.jsonl")
    assert len(decisions) == len(anns) and all("n_correct" in d and "kept" in d for d in decisions)
    info = json.loads((c / "dataset_info.json").read_text())
    assert info["critic_sft"]["file_name"] == "04_dataset.json"
    stats = json.loads((c / "stats.json").read_text())
    assert stats["examples"] == len(json.loads((c / "04_dataset.json").read_text()))
    assert (c / "model" / "config.json").is_file()
    results = json.loads((c / "eval" / "results.json").read_text())
    assert set(results["critics"]) == {"none", "base", "trained", "likelihood", "programmatic"}
    # the likelihood critic: fine-tuned on 2 right solutions, its threshold fitted on 2 other questions
    split = json.loads((c / "04_solutions.split.json").read_text())
    assert len(split["solutions"]) == 2 and len(split["calibration"]) == 2
    assert not set(split["solutions"]) & set(split["calibration"])
    calibration = json.loads((c / "likelihood" / "likelihood.json").read_text())
    assert calibration["paths"] == len(jsonl(c / "05_likelihood_calibration.jsonl")) >= 4
    assert calibration["dataset_type"] == "gsm8k" and isinstance(calibration["threshold"], float)
    lk = jsonl(c / "eval" / "likelihood" / "critiques.jsonl")
    assert lk and all(r["critic_model"] == str(c / "likelihood") for r in lk)
    assert results["critics"]["likelihood"]["format_compliance"] == 1.0  # a templated critique
    for name, m in results["critics"].items():
        for key in ("discrimination", "helpfulness", "format_compliance", "f1", "accuracy_after_refinement"):
            assert key in m and (m[key] is None or 0.0 <= m[key] <= 1.0), (name, key)
    assert results["critics"]["programmatic"]["discrimination"] == 1.0
    assert (c / "eval" / "report.md").is_file() and (c / "eval" / "critics.png").is_file()
    # resumable: a second run skips every step
    again = drive(env)
    assert again.returncode == 0, again.stderr[-4000:]
    assert again.stderr.count("already done, skipping") >= 10
