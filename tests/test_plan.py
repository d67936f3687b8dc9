"""PLAN=1: every paper preset's plan against the released settings, and a plan that runs nothing.

The released values below are read from the authors' scripts (github.com/WooooDyy/MathCritique);
each names the file it comes from. A preset that differs from one on purpose is asserted with its
own value, and docs/deviations.md says why (``test_deviations_are_stated``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from selfimprove.core import runlock
from selfimprove.core.errors import UsageError
from selfimprove.stages import plan as P

ROOT = Path(__file__).resolve().parent.parent
PRESETS = ROOT / "selfimprove" / "presets"

# ---------------------------------------------------------------------- the released values
# selfimprove/inference-all.sh, its `llamafactory-cli train` call
RELEASED_LR = 5e-6  # --learning_rate 5e-06
RELEASED_EPOCHS = 1.0  # --num_train_epochs 1.0
RELEASED_CUTOFF = 4096  # --cutoff_len 4096
RELEASED_ZERO = 2  # --deepspeed examples/deepspeed/ds_z2_config.json
RELEASED_FINETUNING = "full"  # --finetuning_type full
# --per_device_train_batch_size 4 x --gradient_accumulation_steps 8 x 8 GPUs (selfimprove/inference.py
# and critic.py: total_gpu = 8, one process per GPU)
RELEASED_GLOBAL_BATCH = 4 * 8 * 8
# selfimprove/inference-all.sh
RELEASED_TEMPERATURE = 0.7  # temperature=0.7, for sampling (--mode inference) and refinement (--mode new)
RELEASED_N = 1  # sample_num=1
RELEASED_ITERATIONS = 1  # ITER_NUM=1: iterations 0 and 1, one fine-tuning each
RELEASED_CRITIC_TEMPERATURE = 0.0  # critic.py --temperature 0 (inference-all.sh and evaluate-all.sh)
# selfimprove/evaluate-all.sh
RELEASED_TEST_TEMPERATURE = 0.0  # temperature=0 (the answers) and --temperature 0 (the refinements)
RELEASED_TEST_N = 1  # sample_num=1
RELEASED_MV_NUM = 1  # MV_NUM=1: one critique-refine round
# selfimprove/inference.py: SamplingParams(max_tokens=1024); critic.py: SamplingParams(max_tokens=1536)
RELEASED_MAX_TOKENS, RELEASED_CRITIC_MAX_TOKENS = 1024, 1536
# inference.py and critic.py: LLM(model=..., tensor_parallel_size=1, gpu_memory_utilization=0.95), no
# max_model_len: vLLM reserves the model's own context, max_position_embeddings = 8192 in the
# config.json of meta-llama/Meta-Llama-3-8B (and -Instruct)
RELEASED_CONTEXT, RELEASED_TP = 8192, 1


def clean_env(tmp_path: Path, **env: str) -> dict[str, str]:
    """An environment with no knob of the caller's: the preset and the test decide."""
    return {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "RUNS_DIR": str(tmp_path), **env}


def driver_plan(tmp_path: Path, preset: str, driver: str, **env: str) -> dict:
    return P.build(driver, clean_env(tmp_path, PRESET=str(PRESETS / f"{preset}.env"), **env))


def sweep_plan(tmp_path: Path, monkeypatch, preset: str, **env: str) -> dict:
    monkeypatch.chdir(ROOT)  # presets name each other relative to the checkout, as scripts/sweep.sh runs them
    return P.sweep_plan(str(PRESETS / f"{preset}.env"), clean_env(tmp_path, SCALE="paper", **env))


def steps(plan: dict, kind: str, driver: str | None = None) -> list[dict]:
    return [s for s in plan["steps"] if s["kind"] == kind and driver in (None, s["driver"])]


def named(plan: dict, suffix: str, driver: str | None = None) -> list[dict]:
    return [s for s in steps(plan, "generate", driver) if s["step"].endswith(suffix)]


def assert_released_recipe(plan: dict, template: str | None = None) -> None:
    """Every fine-tuning of ``plan`` has the released recipe and a batch of 256 per optimizer step."""
    trains = steps(plan, "train")
    assert trains
    for s in trains:
        lf = s["llamafactory"]
        assert lf["learning_rate"] == RELEASED_LR and lf["num_train_epochs"] == RELEASED_EPOCHS
        assert lf["cutoff_len"] == RELEASED_CUTOFF and lf["zero_stage"] == RELEASED_ZERO
        assert lf["finetuning_type"] == RELEASED_FINETUNING and lf["bf16"] is True
        assert s["batch"]["global_batch"] == RELEASED_GLOBAL_BATCH == s["batch"]["effective_batch"]
        if template:
            assert lf["template"] == template


def assert_released_engines(plan: dict) -> None:
    for settings in plan["vllm"].values():
        assert settings["max_model_len"] == RELEASED_CONTEXT and settings["tensor_parallel_size"] == RELEASED_TP
    for s in steps(plan, "generate"):
        wanted = (
            RELEASED_CRITIC_MAX_TOKENS if s["role"] in ("critic", "annotator", "self-critic") else RELEASED_MAX_TOKENS
        )
        # not released: RG3's one-line mistakes, self-talk steps and monologues (selftalk_max_tokens)
        if not any(x in s["step"] for x in ("rg3 mistakes", "/04_chains", "eval_onep/selftalk ")):
            assert s["max_tokens"] == wanted, s["step"]
        if s["role"] in ("critic", "annotator", "self-critic"):
            assert s["temperature"] == RELEASED_CRITIC_TEMPERATURE, s["step"]


def assert_released_evaluation(plan: dict, test_n: int = RELEASED_TEST_N, temp: float = RELEASED_TEST_TEMPERATURE):
    for s in named(plan, " greedy", "evaluate") + named(plan, " refinements", "evaluate"):
        assert s["temperature"] == RELEASED_TEST_TEMPERATURE, s["step"]
    pools = named(plan, " pool", "evaluate")
    assert pools and all(s["n"] == test_n and s["temperature"] == temp for s in pools)


# ---------------------------------------------------------------------- the driver presets
def test_llama3_8b_plan_has_the_released_settings(tmp_path):
    plan = driver_plan(tmp_path, "llama3-8b", "inference", PLAN_GPUS="8")
    assert plan["drivers"] == ["inference", "evaluate"]
    assert len(steps(plan, "train")) == RELEASED_ITERATIONS + 1
    assert_released_recipe(plan, template="empty")  # the released `default` template, read as `empty`
    assert_released_engines(plan)
    samples, critiques, refinements = (
        named(plan, f"/0{i}_{r}") for i, r in enumerate(("samples", "critiques", "refinements"), 1)
    )
    assert [s["n"] for s in samples] == [RELEASED_N] and samples[0]["temperature"] == RELEASED_TEMPERATURE
    assert refinements[0]["temperature"] == RELEASED_TEMPERATURE and refinements[0]["n"] == RELEASED_N
    assert critiques[0]["temperature"] == RELEASED_CRITIC_TEMPERATURE
    assert_released_evaluation(plan)
    evaluate = plan["knobs"]["evaluate"]
    assert (evaluate["MV_NUM"], evaluate["TEST_KNOW_ANSWER"], evaluate["TEST_USE_CRITIC"]) == (RELEASED_MV_NUM, 0, 1)
    # every prompt of MATH (7,500) and GSM8K (7,473) is sampled once; 1,024 tokens at most each
    assert samples[0]["prompts"] == 7500 + 7473 and samples[0]["token_budget"] == (7500 + 7473) * 1024


def test_critic_llama3_8b_plan_trains_on_the_released_recipe(tmp_path):
    # no critic training is released: the preset trains the critic on the actor's released recipe
    plan = driver_plan(tmp_path, "critic-llama3-8b", "critic", PLAN_GPUS="8")
    assert_released_recipe(plan, template="llama3")
    assert_released_engines(plan)
    assert named(plan, "01_flawed_paths rg1")[0]["temperature"] == RELEASED_TEMPERATURE
    assert named(plan, "03_mc_filter")[0]["temperature"] == RELEASED_TEMPERATURE
    assert named(plan, "02_annotations")[0]["where"] == "api"  # a GPT-4o-class annotator uses no GPU


def test_the_demo_plan_trains_the_likelihood_critic_on_its_own_arguments(tmp_path):
    plan = driver_plan(tmp_path, "demo", "critic")
    trains = {s["step"]: s for s in steps(plan, "train")}
    assert list(trains) == ["critic/05_train", "critic/05_likelihood"]
    lk = trains["critic/05_likelihood"]
    assert lk["examples"] == 192 and lk["optimizer_steps"] == 24  # LIKELIHOOD_SOLUTIONS, batches of 8
    assert (lk["llamafactory"]["learning_rate"], lk["llamafactory"]["finetuning_type"]) == (5e-5, "full")
    assert trains["critic/05_train"]["llamafactory"]["finetuning_type"] == "freeze"  # CRITIC_TRAIN_ARGS
    assert trains["critic/05_train"]["examples"] == 256
    # scored, not generated: the likelihood critic's refinements are planned, no critiques
    assert named(plan, "06_eval likelihood refinements") and not named(plan, "06_eval likelihood critiques")


def test_selftalk_llama3_8b_plan_trains_on_the_released_recipe(tmp_path):
    plan = driver_plan(tmp_path, "selftalk-llama3-8b", "selftalk", PLAN_GPUS="8")
    assert [s["step"] for s in steps(plan, "train")] == [
        "iter_0/05_train",
        "selftalk/06_train_selftalk",
        "selftalk/07_train_selfcorrect",
    ]
    assert_released_recipe(plan, template="empty")
    assert_released_engines(plan)
    samples = named(plan, "selftalk/01_samples")[0]
    assert samples["n"] == RELEASED_N and samples["temperature"] == RELEASED_TEMPERATURE
    assert named(plan, "selftalk/03_refinements")[0]["temperature"] == RELEASED_TEMPERATURE


# ---------------------------------------------------------------------- the sweep presets (SCALE=paper)
def test_fig6_plan_has_the_released_recipe_and_the_figures_n_and_iterations(tmp_path, monkeypatch):
    plan = sweep_plan(tmp_path, monkeypatch, "fig6", PLAN_GPUS="8")
    assert len(plan["cells"]) == 8
    for cell in plan["cells"]:
        inference, evaluate = cell["plans"]
        assert_released_recipe(inference)
        assert_released_engines(inference)
        assert_released_engines(evaluate)
        # on purpose (docs/deviations.md): Fig. 6 runs 3 iterations and sweeps N over 1, 3, 5, 10
        assert len(steps(inference, "train")) == 3 + 1
        samples = named(inference, "01_samples")
        assert {s["n"] for s in samples} == {int(cell["values"]["sample_num"])}
        assert {s["temperature"] for s in samples} == {RELEASED_TEMPERATURE}
        critiques = named(inference, "02_critiques")
        assert len(critiques) == (3 if cell["values"]["USE_CRITIC"] == "1" else 0)
        # the figure reads each actor's own accuracy: the released greedy answer, no critique
        assert_released_evaluation(evaluate)
        assert not named(evaluate, " critiques") and len(named(evaluate, " greedy")) == 3 + 1
    assert sorted({c["values"]["sample_num"] for c in plan["cells"]}, key=int) == ["1", "3", "5", "10"]


def test_table2_plan_critiques_the_sft_actor_with_the_released_settings(tmp_path, monkeypatch):
    plan = sweep_plan(tmp_path, monkeypatch, "table2", PLAN_GPUS="8")
    cells = {c["values"]["critic"]: c for c in plan["cells"]}
    assert set(cells) == {"llama3-8b-instruct", "llama3-70b-instruct", "gpt-4o", "trained"}
    for name, cell in cells.items():
        by_driver = {p["drivers"][0]: p for p in cell["plans"]}
        inference, evaluate = by_driver["inference"], by_driver["evaluate"]
        # on purpose (docs/deviations.md): Table 2 critiques the SFT actor, iteration 0 only
        assert [s["step"] for s in steps(inference, "train")] == ["iter_0/05_train"]
        assert_released_recipe(inference)
        assert_released_evaluation(evaluate)
        critiques = named(evaluate, " critiques")
        assert len(critiques) == 1 and critiques[0]["temperature"] == RELEASED_CRITIC_TEMPERATURE
        assert critiques[0]["where"] == ("api" if name == "gpt-4o" else "gpu")
        # one critique-refine round: the pool's (MV_NUM=0 adds no sequential round)
        assert evaluate["knobs"]["evaluate"]["MV_NUM"] == 0 and not named(evaluate, "sequential critiques")
        tp = 8 if name == "llama3-70b-instruct" else RELEASED_TP
        assert evaluate["vllm"]["evaluate"]["tensor_parallel_size"] == tp
        assert evaluate["vllm"]["evaluate"]["max_model_len"] == RELEASED_CONTEXT
    trained = {p["drivers"][0]: p for p in cells["trained"]["plans"]}["critic"]
    assert_released_recipe(trained, template="llama3")


def test_table3_plan_has_the_released_recipe_and_the_tables_n_and_pool(tmp_path, monkeypatch):
    plan = sweep_plan(tmp_path, monkeypatch, "table3", PLAN_GPUS="8")
    cells = {c["values"]["method"]: c for c in plan["cells"]}
    assert set(cells) == {"sft", "selfcorrect", "vanilla", "critique"}
    for method, cell in cells.items():
        trainer, evaluate = cell["plans"]
        assert_released_recipe(trainer)
        assert_released_engines(trainer)
        # on purpose (docs/deviations.md): a pool of 5 at 0.7 gives Pass@5 and MV@5; one critique round
        assert_released_evaluation(evaluate, test_n=5, temp=RELEASED_TEMPERATURE)
        assert evaluate["knobs"]["evaluate"]["MV_NUM"] == RELEASED_MV_NUM
        assert len(named(evaluate, " greedy")) == 1  # the cell's last actor only
        if method == "selfcorrect":
            assert trainer["drivers"] == ["selftalk"]
            continue
        # on purpose: 3 iterations (the SFT row: iteration 0 only) with N = 5
        iterations = 0 if method == "sft" else 3
        assert len(steps(trainer, "train")) == iterations + 1
        assert {s["n"] for s in named(trainer, "01_samples")} == ({5} if iterations else set())
        assert bool(named(trainer, "02_critiques")) == (method == "critique")


def test_deviations_are_stated():
    text = (ROOT / "docs" / "deviations.md").read_text(encoding="utf-8")
    row = next(line for line in text.splitlines() if line.startswith("| Sweep presets at `SCALE=paper`"))
    for words in (
        "`fig6` N ∈ {1, 3, 5, 10}, 3 iterations",
        "`table3` N = 5, 3 iterations",
        "pool of 5 at temperature 0.7",
    ):
        assert words in row
    assert "`table2` the SFT actor (`ITER_NUM=0`)" in row and "`MV_NUM=0`" in row
    assert any(
        line.startswith("| Batch per optimizer step") and "GLOBAL_BATCH=256" in line for line in text.splitlines()
    )


# ---------------------------------------------------------------------- what a plan computes
def test_global_batch_holds_on_any_gpu_count(tmp_path):
    for gpus, accumulation in (("8", 8), ("4", 16), ("16", 4), ("1", 64)):
        plan = driver_plan(tmp_path, "llama3-8b", "inference", PLAN_GPUS=gpus)
        batch = steps(plan, "train")[0]["batch"]
        assert (batch["gradient_accumulation_steps"], batch["effective_batch"]) == (accumulation, 256)
        assert batch["world_size"] == int(gpus)
    plan = driver_plan(tmp_path, "llama3-8b", "inference", PLAN_GPUS="4", NNODES="2", NODE_RANK="0")
    assert "NNODES=2 needs" in " ".join(plan["warnings"])  # incomplete node settings: the run would stop
    plan = driver_plan(tmp_path, "llama3-8b", "inference", PLAN_GPUS="3")
    assert any("GLOBAL_BATCH=256 is not a multiple of per-device batch 4 x world size 3" in w for w in plan["warnings"])


def test_counts_and_hours_follow_the_knobs(tmp_path):
    env = dict(
        dataset_name="synthetic",
        train_limit="10",
        test_limit="5",
        sample_num="3",
        refine_num="2",
        reserved_new_data="1",
        ITER_NUM="2",
        USE_GPT4_FEEDBACK="0",
        max_tokens="100",
        critic_max_tokens="200",
        MAX_MODEL_LEN="1024",
        PROFILE="gpu",
        PLAN_GPUS="2",
        GLOBAL_BATCH="16",
        EVALUATE="0",
        PLAN_TOKENS_PER_S="10",
        PLAN_TRAIN_TOKENS_PER_S="100",
    )
    plan = P.build("inference", clean_env(tmp_path, **env))
    gens = {s["step"]: s for s in steps(plan, "generate")}
    assert list(gens) == [
        f"iter_{k}/0{i}_{r}" for k in (1, 2) for i, r in ((1, "samples"), (2, "critiques"), (3, "refinements"))
    ]
    assert (gens["iter_1/01_samples"]["prompts"], gens["iter_1/01_samples"]["generations"]) == (10, 30)
    assert gens["iter_1/02_critiques"]["token_budget"] == 30 * 200  # every sample wrong, at most
    assert gens["iter_1/03_refinements"]["generations"] == 60 and gens["iter_1/03_refinements"]["token_budget"] == 6000
    assert gens["iter_1/01_samples"]["gpu_hours"] == pytest.approx(3000 / 10 / 3600)
    trains = steps(plan, "train")
    # iteration 0: the 10 references; then 10 references + 3 examples per question at most
    assert [t["examples"] for t in trains] == [10, 40, 40]
    assert trains[1]["examples_by_source"] == {"original": 10, "sampled": 30}
    assert trains[1]["batch"]["gradient_accumulation_steps"] == 2  # 16 / (4 per device x 2 GPUs)
    assert [t["optimizer_steps"] for t in trains] == [1, 3, 3]  # ceil(ceil(40 / 8) / 2)
    assert trains[1]["token_ceiling"] == 40 * 4096
    totals = plan["totals"]
    assert totals["generations"] == 2 * (30 + 30 + 60) and totals["trainings"] == 3
    assert totals["gpu_hours"]["training"] == pytest.approx(90 * 4096 / 100 / 3600)


# ---------------------------------------------------------------------- the drivers with PLAN=1
def drive(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if k not in ("PRESET", "SCALE", runlock.TOKEN_ENV)}
    full.update({"PYTHON": sys.executable, "RUNS_DIR": str(tmp_path), "HF_HUB_OFFLINE": "1", "PLAN": "1", **env})
    return subprocess.run(["bash", *args], env=full, cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_plan_prints_in_seconds_and_stops_before_any_stage(tmp_path):
    holder = subprocess.Popen(["sleep", "60"])  # another driver runs the experiment meanwhile
    try:
        run = tmp_path / "llama3"
        runlock.acquire(run, holder.pid, env={})
        before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
        start = time.monotonic()
        proc = drive(
            ["selfimprove/inference-all.sh"],
            tmp_path,
            PRESET="selfimprove/presets/llama3-8b.env",
            EXP_NUM="llama3",
            PLAN_GPUS="8",
        )
        assert proc.returncode == 0, proc.stderr
        assert time.monotonic() - start < 30
        out = proc.stdout
        assert "plan of selfimprove/inference-all.sh + selfimprove/evaluate-all.sh" in out
        assert "GLOBAL_BATCH 256 = per-device 4 x accumulation 8 x world size 8" in out
        assert "iter_1/01_samples" in out and "meta-llama/Meta-Llama-3-8B" in out and "GPU-hours" in out
        assert f"plan written: {run / 'plan.json'}" in out
        plan = json.loads((run / "plan.json").read_text())
        assert plan["drivers"] == ["inference", "evaluate"] and plan["totals"]["trainings"] == 2
        # nothing ran (no manifest, no data), and the other driver's lock is there as it was
        assert sorted(p.name for p in run.iterdir()) == sorted([*before, "plan.json"])
        assert {name: (run / name).read_bytes() for name in before} == before
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()


@pytest.mark.parametrize("script", ["inference-all.sh", "evaluate-all.sh", "critic-all.sh", "selftalk-all.sh"])
def test_every_driver_plans_its_defaults(tmp_path, script):
    proc = drive([f"selfimprove/{script}"], tmp_path, EXP_NUM="p", PLAN_GPUS="2")
    assert proc.returncode == 0, proc.stderr
    plan = json.loads((tmp_path / "p" / "plan.json").read_text())
    assert plan["drivers"][0] == script.removesuffix("-all.sh") and plan["steps"]
    assert sorted(p.name for p in (tmp_path / "p").iterdir()) == ["plan.json"]


def test_plan_is_a_flag_and_comes_from_the_environment(tmp_path):
    proc = drive(["selfimprove/inference-all.sh"], tmp_path, PLAN="yes")
    assert proc.returncode == 2 and "PLAN='yes' (environment): expected 0 or 1" in proc.stderr
    preset = tmp_path / "p.env"
    preset.write_text("PLAN=1\n")
    from selfimprove.stages.config import main as config_main

    env = clean_env(tmp_path, PRESET=str(preset), EXP_NUM="x", USE_GPT4_FEEDBACK="0", EVALUATE="0", PROFILE="cpu")
    with pytest.MonkeyPatch.context() as mp:
        for k in list(os.environ):
            if k not in env:
                mp.delenv(k, raising=False)
        for k, v in env.items():
            mp.setenv(k, v)
        if not (ROOT / "models" / "SmolLM2-135M-Instruct" / "config.json").is_file():
            pytest.skip("embedded model missing; run `bash scripts/setup_env.sh`")
        with pytest.raises(UsageError, match=r"PLAN=1 \(.*p.env:1\) asks for a plan, not a run"):
            config_main(["shell", "inference"])


def test_plan_loads_no_model_library(tmp_path):
    code = (
        "import sys; from selfimprove.stages import plan; "
        f"plan.build('inference', {{'PRESET': {str(PRESETS / 'llama3-8b.env')!r}, 'RUNS_DIR': {str(tmp_path)!r}}}); "
        "print(sorted(m for m in ('torch', 'vllm', 'transformers', 'deepspeed') if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_sweep_plan_writes_one_file_and_runs_no_cell(tmp_path):
    proc = drive(["scripts/sweep.sh", "selfimprove/presets/fig6.env"], tmp_path, SCALE="tiny")
    assert proc.returncode == 0, proc.stderr
    assert "plan of sweep fig6" in proc.stdout and "fig6_USE_CRITIC-1_sample_num-3" in proc.stdout
    assert sorted(p.name for p in (tmp_path / "fig6").iterdir()) == ["plan.json"]  # no sweep.json, no cell
    plan = json.loads((tmp_path / "fig6" / "plan.json").read_text())
    assert [c["name"] for c in plan["cells"]] == [f"fig6_USE_CRITIC-{c}_sample_num-{n}" for c in (0, 1) for n in (1, 3)]
    totals = plan["totals"]
    assert totals["generations"] == sum(c["totals"]["generations"] for c in plan["cells"]) > 0
    with pytest.raises(UsageError, match="give a driver"):
        P.main([])


def test_a_sweep_preset_cannot_ask_for_a_plan(tmp_path, monkeypatch):
    preset = tmp_path / "s.env"
    preset.write_text('GRID="sample_num=1,2"\nPLAN=1\n')
    monkeypatch.chdir(ROOT)
    with pytest.raises(UsageError, match="PLAN is set in the environment"):
        P.sweep_plan(str(preset), clean_env(tmp_path))
