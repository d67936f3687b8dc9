"""scripts/sweep.sh with stand-in drivers (no model): each cell runs once, a finished cell is skipped,
a failing cell stops the sweep and the rerun continues from it, and the comparison reads every cell
(for a sweep of the critic driver alone: the critic's learning curve)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Stand-in drivers: they append what they were given to the cell's calls.log. The evaluation writes
# a small results.json (schema version 2) whose greedy accuracy is sample_num / 10.
INFERENCE = """#!/usr/bin/env bash
set -eu
run="${RUNS_DIR}/${EXP_NUM}"; mkdir -p "${run}"
echo "inference USE_CRITIC=${USE_CRITIC:-} sample_num=${sample_num} EVALUATE=${EVALUATE} ITER_NUM=${ITER_NUM}" >> "${run}/calls.log"
printf '%s\n' "${default_system}" > "${run}/system.txt"
printf '%s\n' "${TRAIN_REUSE_DIR-unset}" > "${run}/reuse.txt"
if [ "${FAIL_CELL:-}" = "${EXP_NUM}" ]; then exit 3; fi
"""
EVALUATE = """#!/usr/bin/env bash
set -eu
run="${RUNS_DIR}/${EXP_NUM}"; mkdir -p "${run}/eval/iter_0"
echo "evaluate sample_num=${sample_num} TEST_USE_CRITIC=${TEST_USE_CRITIC}" >> "${run}/calls.log"
v="0.${sample_num}"
num="{\\"value\\": ${v}, \\"n\\": 10}"
cat > "${run}/eval/iter_0/results.json" <<JSON
{"schema_version": 2, "config": {}, "N": 1, "ks": [1],
 "datasets": {"toy": {"overall": {"n_questions": 10,
   "response_only": {"greedy": ${num}, "pass_at_k": [{"k": 1, "value": ${v}, "n": 10}], "mv_at_k": []},
   "critic": {"n_samples": 10, "accuracy_before_refinement": ${num}}}, "by_level": {}}}}
JSON
"""
PRESET = """\
SWEEP_DRIVERS="inference evaluate"
GRID="{grid}"
ITER_NUM=3
default_system="It's \\"quoted\\" text; $HOME `date` stays as written"
evaluate.TEST_USE_CRITIC=0
[tiny]
ITER_NUM=1
[paper]
evaluate.MV_NUM=0
"""


def setup(tmp_path: Path, grid: str = "USE_CRITIC=0,1 sample_num=1,2") -> tuple[Path, dict]:
    drivers = tmp_path / "drivers"
    drivers.mkdir()
    (drivers / "inference-all.sh").write_text(INFERENCE)
    (drivers / "evaluate-all.sh").write_text(EVALUATE)
    preset = tmp_path / "toy.env"
    preset.write_text(PRESET.replace("{grid}", grid))
    env = {**os.environ, "PYTHON": sys.executable, "RUNS_DIR": str(tmp_path / "runs"), "SWEEP_DRIVER_DIR": str(drivers)}
    for k in (
        "PRESET",
        "SCALE",
        "SWEEP_NAME",
        "MATHCRITIQUE_RUN_LOCK",
        "sample_num",
        "USE_CRITIC",
        "ITER_NUM",
        "TRAIN_REUSE_DIR",
    ):
        env.pop(k, None)
    return preset, env


def sweep(preset: Path, env: dict, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(ROOT / "scripts" / "sweep.sh"), str(preset)],
        env={**env, **extra},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def calls(sweep_dir: Path) -> dict[str, list[str]]:
    return {p.parent.name: p.read_text().splitlines() for p in sorted(sweep_dir.glob("*/calls.log"))}


NAMES = [f"toy_USE_CRITIC-{u}_sample_num-{n}" for u in "01" for n in "12"]


def test_every_cell_runs_once_and_the_comparison_reads_them_all(tmp_path):
    preset, env = setup(tmp_path)
    proc = sweep(preset, env)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "runs" / "toy"
    log = calls(out)
    assert sorted(log) == sorted(NAMES)
    assert log["toy_USE_CRITIC-1_sample_num-2"] == [
        "inference USE_CRITIC=1 sample_num=2 EVALUATE=0 ITER_NUM=1",  # the evaluation runs once, on its own
        "evaluate sample_num=2 TEST_USE_CRITIC=0",
    ]
    assert (out / NAMES[0] / "system.txt").read_text() == 'It\'s "quoted" text; $HOME `date` stays as written\n'
    state = json.loads((out / "sweep.json").read_text())
    assert [c["status"] for c in state["cells"]] == ["done"] * 4
    assert state["grid"] == {"USE_CRITIC": ["0", "1"], "sample_num": ["1", "2"]}
    comparison = json.loads((out / "comparison.json").read_text())
    assert [r["label"] for r in comparison["runs"]] == NAMES  # grid order: the first cell is the baseline
    greedy = {row["run"]: row["response_only"]["acc"]["value"] for row in comparison["grid"]}
    assert greedy == {name: 0.1 * int(name[-1]) for name in NAMES}
    assert (out / "report.md").is_file() and state["compared"]["runs"] == [str(out / n) for n in NAMES]
    assert f"report: {out}/report.md" in proc.stdout

    again = sweep(preset, env)
    assert again.returncode == 0, again.stderr
    assert calls(out) == log  # nothing ran twice
    assert again.stdout.count("done, skipped") == 4


def test_a_failing_cell_stops_the_sweep_and_the_rerun_continues_there(tmp_path):
    preset, env = setup(tmp_path, "sample_num=1,2,3")
    names = [f"toy_sample_num-{n}" for n in "123"]
    out = tmp_path / "runs" / "toy"
    proc = sweep(preset, env, FAIL_CELL=names[1])
    assert proc.returncode == 3
    assert f"cell {names[1]}: inference-all.sh exited with 3" in proc.stderr
    assert sorted(calls(out)) == names[:2]  # the cell after it did not start
    state = json.loads((out / "sweep.json").read_text())
    assert [c["status"] for c in state["cells"]] == ["done", "failed", "pending"]
    assert state["cells"][1]["rc"] == 3 and state["cells"][1]["failed_driver"] == "inference"
    assert not (out / "comparison.json").exists()

    proc = sweep(preset, env)
    assert proc.returncode == 0, proc.stderr
    log = calls(out)
    assert len(log[names[0]]) == 2  # skipped
    assert [line.split()[0] for line in log[names[1]]] == ["inference", "inference", "evaluate"]  # retried
    assert len(log[names[2]]) == 2
    assert (out / "comparison.json").is_file()


def test_changed_knobs_run_a_finished_cell_again(tmp_path):
    preset, env = setup(tmp_path, "sample_num=1,2")
    out = tmp_path / "runs" / "toy"
    assert sweep(preset, env).returncode == 0
    proc = sweep(preset, env, test_limit="3")  # a knob the preset does not set, from the environment
    assert proc.returncode == 0, proc.stderr
    assert all(len(lines) == 4 for lines in calls(out).values())


def test_cells_share_one_reuse_folder_unless_told_otherwise(tmp_path):
    preset, env = setup(tmp_path, "sample_num=1,2")
    out = tmp_path / "runs" / "toy"
    assert sweep(preset, env).returncode == 0
    reuse = {p.parent.name: p.read_text().strip() for p in out.glob("*/reuse.txt")}
    assert reuse == {f"toy_sample_num-{n}": str(out / "shared_training") for n in "12"}
    # where fine-tunings are shared does not change what a cell computes: finished cells stay finished
    proc = sweep(preset, env, TRAIN_REUSE_DIR="")
    assert proc.returncode == 0 and proc.stdout.count("done, skipped") == 2
    other = tmp_path / "runs2"
    proc = sweep(preset, {**env, "RUNS_DIR": str(other)}, TRAIN_REUSE_DIR="")  # empty: every cell trains its own
    assert proc.returncode == 0, proc.stderr
    assert {p.read_text() for p in (other / "toy").glob("*/reuse.txt")} == {"\n"}


def test_the_paper_scale_goes_to_its_own_folder_or_is_refused(tmp_path):
    preset, env = setup(tmp_path, "sample_num=1")
    assert sweep(preset, env).returncode == 0
    proc = sweep(preset, env, SCALE="paper")
    assert proc.returncode == 2 and "holds the tiny scale" in proc.stderr
    proc = sweep(preset, env, SCALE="paper", SWEEP_NAME="toy-paper")
    assert proc.returncode == 0, proc.stderr
    assert calls(tmp_path / "runs" / "toy-paper")["toy-paper_sample_num-1"][0].endswith("ITER_NUM=3")


# A stand-in critic driver: the trained critic's discrimination grows with CRITIC_EXAMPLES; the
# kept critiques run out at 2,000 examples; base and programmatic only where EVAL_CRITICS names them.
CRITIC = """#!/usr/bin/env bash
set -eu
run="${RUNS_DIR}/${EXP_NUM}"; mkdir -p "${run}/critic/eval"
echo "critic CRITIC_EXAMPLES=${CRITIC_EXAMPLES} EVAL_CRITICS=${EVAL_CRITICS} STRATEGIES=${STRATEGIES}" >> "${run}/calls.log"
"${PYTHON}" - "${run}" <<'PY'
import json, os, sys
from pathlib import Path
from selfimprove.critic.evaluate import share
run, asked = Path(sys.argv[1]), int(os.environ["CRITIC_EXAMPLES"])
hits = {"base": 0, "programmatic": 200, "trained": {64: 104, 256: 120, 1024: 140, 4096: 163}[asked]}
critics = {}
for name in os.environ["EVAL_CRITICS"].split():
    iv = {"discrimination": share(hits.get(name, 100), 200)}
    critics[name] = {"n": 200, "discrimination": iv["discrimination"]["value"], "intervals": iv}
results = {"responses": {"n": 200}, "critics": critics}
(run / "critic" / "eval" / "results.json").write_text(json.dumps(results))
(run / "critic" / "stats.json").write_text(json.dumps({"examples": min(asked, 2000)}))
train = {"status": "done", "seconds": asked / 10, "counts": {"examples": min(asked, 2000)}}
manifest = {"critic_config": {"CRITIC_EXAMPLES": asked}, "steps": {"critic/05_train": train}}
(run / "manifest.json").write_text(json.dumps(manifest))
PY
"""


def test_a_sweep_of_the_critic_driver_alone_ends_with_its_learning_curve(tmp_path):
    _, env = setup(tmp_path)
    (tmp_path / "drivers" / "critic-all.sh").write_text(CRITIC)
    for k in ("CRITIC_EXAMPLES", "EVAL_CRITICS", "STRATEGIES", "EVAL_PER_CLASS"):
        env.pop(k, None)
    proc = sweep(ROOT / "selfimprove" / "presets" / "critic_curve.env", env, SCALE="tiny")
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "runs" / "critic_curve"
    names = [f"critic_curve_examples-{n}" for n in (64, 256, 1024, 4096)]
    assert calls(out) == {
        name: [f"critic CRITIC_EXAMPLES={n} EVAL_CRITICS={critics} STRATEGIES=rg3,reference"]
        for name, n, critics in zip(
            names, (64, 256, 1024, 4096), ["none base trained likelihood programmatic", "trained", "trained", "trained"]
        )
    }
    comparison = json.loads((out / "comparison.json").read_text())
    assert [c["examples"] for c in comparison["cells"]] == [64, 256, 1024, 2000]
    assert [c["requested_examples"] for c in comparison["cells"]] == [64, 256, 1024, 4096]
    assert set(comparison["references"]) == {"base", "likelihood", "programmatic"}
    assert comparison["references"]["base"]["run"] == str(out / names[0])
    assert comparison["references"]["likelihood"]["run"] == str(out / names[0])
    report = (out / "report.md").read_text()
    assert "discrimination 52.0 % [45.1, 58.8] at 64 examples -> 81.5 % [75.5, 86.3] at 2,000" in report
    assert "| 2,000 (of 4,096 asked) | 410 |" in report
    assert (out / "critic_curve.png").is_file()
    assert f"report: {out}/report.md" in proc.stdout and "no cell was evaluated" not in proc.stdout
    state = json.loads((out / "sweep.json").read_text())
    assert state["compared"]["runs"] == [str(out / n) for n in names] and state["compared"]["by"] == "critic_curve"


def test_a_bad_preset_stops_before_any_cell(tmp_path):
    preset, env = setup(tmp_path)
    preset.write_text('GRID="sampel_num=1,2"\n')
    proc = sweep(preset, env)
    assert proc.returncode == 2
    assert [line for line in proc.stderr.splitlines() if line.startswith("error:")] == [
        f"error: {preset}:1: GRID axis sampel_num is neither a knob nor defined by sampel_num[VALUE]=... lines"
    ]
    assert not (tmp_path / "runs").exists()
