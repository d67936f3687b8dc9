"""selftalk-all.sh end to end on the embedded model with tiny sizes (vLLM CPU, LLaMA-Factory): minutes."""

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

pytestmark = pytest.mark.integration

TINY = {
    "train_limit": "6",
    "test_limit": "2",
    "sample_num": "2",
    "eval_sample_num": "2",
    "max_tokens": "96",
    "critic_max_tokens": "128",
    "selftalk_max_tokens": "160",
    "MAX_STEPS": "4",
    "TRAIN_ARGS": "max_steps=1 cutoff_len=384",
    "MAX_MODEL_LEN": "1024",
}


def drive(env: dict) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        ["bash", str(ROOT / "selfimprove" / "selftalk-all.sh")],
        env={**os.environ, "PYTHON": sys.executable, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=3000,
    )
    if proc.returncode != 0:
        print(proc.stdout[-5000:])
        print(proc.stderr[-8000:])
    return proc


def test_selftalk_driver_end_to_end_and_resume(tmp_path):
    for path, what in ((MODEL / "config.json", "embedded model"), (TRAIN_CLI, "training environment")):
        if not path.exists():
            pytest.skip(f"{what} missing ({path}); run `bash scripts/setup_env.sh`")
    env = {**TINY, "RUNS_DIR": str(tmp_path), "EXP_NUM": "st"}
    assert drive(env).returncode == 0
    run = tmp_path / "st"
    chains = [json.loads(line) for line in (run / "selftalk" / "chains.jsonl").read_text().splitlines()]
    assert len(chains) == 12  # one chain per sampled solution
    for c in chains:
        assert c["status"] in ("complete", "unresolved", "too_long", "empty_step")
        assert {"initial", "steps", "rewritten_steps", "rounds", "kept", "drop_reason"} <= c.keys()
        assert all(s["rounds"] <= 3 for s in c["steps"]) and len(c["steps"]) <= 4
        assert c["kept"] == (c["drop_reason"] is None)
        if c["kept"]:
            assert c["status"] == "complete" and c["correct"] and c["selftalk_correct"]
    kept = [c for c in chains if c["kept"]]
    assert len(json.loads((run / "selftalk" / "selftalk_sft.json").read_text())) == len(kept)
    results = json.loads((run / "eval_onep" / "results.json").read_text())
    assert results["methods"] == ["selftalk", "selfcorrect", "sft_critic"]
    [block] = results["datasets"].values()
    assert block["n_questions"] == 2
    # a tiny run may end with no kept chain or no usable self-correction trajectory: then that model
    # is recorded as not trained and its row says so; every trained model has a row of numbers
    for method, data in (("selftalk", "selftalk_sft.json"), ("selfcorrect", "selfcorrect_sft.json")):
        model = run / "selftalk" / f"{method}_model"
        if json.loads((run / "selftalk" / data).read_text()):
            assert (model / "config.json").is_file() and method not in results.get("not_trained", {})
            assert block["rows"][method]["final"]["greedy"]["n"] == 2
        else:
            assert (model / "not_trained.json").is_file() and not (model / "config.json").exists()
            assert block["rows"][method]["final"] is None and data in results["not_trained"][method]
    assert block["rows"]["sft_critic"]["final"]["greedy"]["n"] == 2
    report = (run / "eval_onep" / "report.md").read_text()
    assert "Self-talk (one player)" in report and "SFT + test-time critique" in report
    steps = json.loads((run / "manifest.json").read_text())["steps"]
    assert steps["selftalk/04_chains"]["status"] == "done" and steps["selftalk/04_chains"]["counts"]["chains"] == 12
    # a rerun finds every step done and changes nothing
    before = (run / "selftalk" / "chains.jsonl").read_text()
    again = drive(env)
    assert again.returncode == 0 and "already done" in again.stderr + again.stdout
    assert (run / "selftalk" / "chains.jsonl").read_text() == before
