"""The scripts of docs/scaling.md: the SLURM array example submits shards and a dependent merge and
hands each task its shard; the GPU check parses and its CPU fallback runs the same measurements
end to end on tiny models."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SBATCH = ROOT / "scripts" / "sbatch_array.sh"
GPU_CHECK = ROOT / "scripts" / "gpu_check.sh"
TRAIN_PY = ROOT / ".venv-train" / "bin" / "python"


@pytest.mark.parametrize("script", ["sbatch_array.sh", "gpu_check.sh", "gpu_wheels.sh"])
def test_scripts_parse(script):
    subprocess.run(["bash", "-n", str(ROOT / "scripts" / script)], check=True)


def fake_bin(tmp_path: Path) -> Path:
    """A ``sbatch`` that logs its arguments and a ``python`` that prints its own."""
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    (bin_ / "sbatch").write_text(
        '#!/usr/bin/env bash\necho "$*" >> "$CALLS"\nn=$(wc -l < "$CALLS"); echo "$((4000 + n));cluster"\n'
    )
    (bin_ / "python").write_text('#!/usr/bin/env bash\necho "python $*"\n')
    for f in bin_.iterdir():
        f.chmod(0o755)
    return bin_


def test_submit_sends_an_array_and_a_merge_that_waits_for_it(tmp_path):
    bin_ = fake_bin(tmp_path)
    calls = tmp_path / "calls"
    env = dict(os.environ, PATH=f"{bin_}:{os.environ['PATH']}", CALLS=str(calls), SBATCH_ARGS="--partition=p")
    out = subprocess.run(
        ["bash", str(SBATCH), "submit", "3", "sample", "--run-dir", "runs/x", "--iter", "1"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    first, second = calls.read_text().splitlines()
    assert first.startswith("--parsable --array=0-2 --partition=p ") and first.endswith(
        "sample --run-dir runs/x --iter 1"
    )
    assert "--dependency=afterok:4001" in second and "MC_MERGE=3" in second and second.endswith("--iter 1")
    assert "job array 4001 (3 tasks); merge: job 4002" in out.stdout


def test_each_task_runs_its_shard_and_the_merge_job_merges(tmp_path):
    bin_ = fake_bin(tmp_path)
    env = dict(os.environ, PYTHON=str(bin_ / "python"), SLURM_ARRAY_TASK_ID="2", SLURM_ARRAY_TASK_COUNT="4")
    run = lambda e: subprocess.run(  # noqa: E731
        ["bash", str(SBATCH), "critique", "--run-dir", "r", "--iter", "1"], env=e, capture_output=True, text=True
    )
    assert run(env).stdout.strip() == "python -m selfimprove critique --run-dir r --iter 1 --shard 2/4"
    merge = dict(os.environ, PYTHON=str(bin_ / "python"), MC_MERGE="4")
    assert run(merge).stdout.strip() == "python -m selfimprove critique --run-dir r --iter 1 --merge-shards 4"
    bare = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    refused = run(dict(bare, PYTHON=str(bin_ / "python")))
    assert refused.returncode != 0 and "not a SLURM array task" in refused.stderr


def test_gpu_check_refuses_a_machine_without_a_gpu_unless_asked_for_the_cpu(tmp_path):
    if not TRAIN_PY.exists():
        pytest.skip(".venv-train not built")
    out = subprocess.run(
        ["bash", str(GPU_CHECK), "--out", str(tmp_path)],
        env=dict(os.environ, PYTHON=str(TRAIN_PY)),
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert out.returncode == 2 and "no GPU visible" in out.stderr


@pytest.mark.integration
def test_gpu_check_cpu_fallback_measures_every_part(tmp_path):
    """Same code as on a GPU: models made from configs, our engine generating, LLaMA-Factory SFT
    steps timed by a callback, one table (here tiny, fp32, without DeepSpeed)."""
    if not TRAIN_PY.exists():
        pytest.skip(".venv-train not built")
    out = subprocess.run(
        ["bash", str(GPU_CHECK), "--cpu", "--tiny", "--out", str(tmp_path / "gc")],
        env=dict(os.environ, PYTHON=str(TRAIN_PY)),
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=900,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    results = json.loads((tmp_path / "gc" / "results.json").read_text())
    assert set(results["parts"]) == {"gen-small", "sft-small", "gen-8b", "sft-8b"}
    for name, r in results["parts"].items():
        assert "error" not in r, (name, r)
    assert all(results["parts"][p]["tokens"] > 0 for p in ("gen-small", "gen-8b"))
    assert all(results["parts"][p]["steps"] == 3 and results["parts"][p]["step_s"] > 0 for p in ("sft-small", "sft-8b"))
    assert results["models"]["8b"]["params"] > results["models"]["small"]["params"]
    table = out.stdout.splitlines()
    assert any(line.startswith("| sft-8b ") and "Llama-3-8B shape" in line for line in table)
    assert not (tmp_path / "gc" / "work" / "model-8b").exists()  # the big model folder is removed
