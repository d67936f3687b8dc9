"""Tests for selfimprove.evaluation.report: plots and report.md from small results dicts."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import matplotlib.image
import pytest
from test_metrics import CONFIG, make_records, string_vote

from selfimprove.evaluation import metrics as M
from selfimprove.evaluation import report as R
from selfimprove.stages import report as report_stage

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PLOTS = ["mv_at_k", "pass_at_k", "compute_matched", "parallel_vs_sequential", "levels"]


def results_for(config=CONFIG, **overrides):
    records = make_records()
    records.update(overrides)
    return M.compute_results(config=config, vote_fn=string_vote, **records)


@pytest.fixture(scope="module")
def full_results():
    return results_for()


def images_in(md: str) -> list[str]:
    return re.findall(r"!\[[^\]]+\]\(([^)]+)\)", md)


def assert_valid_png(path: Path) -> None:
    assert path.read_bytes()[:8] == PNG_MAGIC, path
    img = matplotlib.image.imread(path)
    assert img.ndim == 3 and img.shape[0] > 200 and img.shape[1] > 300, (path, img.shape)


def test_write_report_produces_plots_and_markdown(tmp_path, full_results):
    report = R.write_report([full_results], tmp_path)
    assert report == tmp_path / "report.md"
    md = report.read_text()
    for plot in PLOTS:
        assert_valid_png(tmp_path / f"gsm8k_{plot}.png")
        assert f"(gsm8k_{plot}.png)" in md
    refs = images_in(md)
    assert sorted(refs) == sorted(f"gsm8k_{p}.png" for p in PLOTS)
    # every file written is referenced, and no temporary file is left behind
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(refs + ["report.md"])


def test_report_header_and_tables(tmp_path, full_results):
    md = R.write_report([full_results], tmp_path).read_text()
    assert md.startswith("# MathCritique evaluation report")
    for row in (
        "| actor | actor-7b |",
        "| critic | critic-7b |",
        "| datasets | gsm8k |",
        "| N (samples per question) | 4 |",
        "| R (sequential rounds) | 2 |",
        "| temperature | 0.7 |",
        "| modes | oracle, refine_all, verifier |",
    ):
        assert row in md
    # numbers with their n, from the hand-computed fixture
    assert "Greedy accuracy: 66.7 (n=3)" in md
    assert "| Pass@K | 50.0 (n=3) | 77.8 (n=3) | 100.0 (n=3) |" in md
    assert "| MV@K, verifier | 75.0 (n=3) | 83.3 (n=3) | 100.0 (n=3) |" in md
    assert "| MV@K, critic-filtered | 50.0 (n=3) | 66.7 (n=3) | 100.0 (n=3) |" in md
    assert "| Final | 33.3 (n=3) | 66.7 (n=3) | 100.0 (n=3) |" in md
    assert "| MV over rounds 0..r (this project) | 33.3 (n=3) | 33.3 (n=3) | 66.7 (n=3) |" in md
    # oracle numbers are labelled as upper bounds wherever they appear
    assert "| MV@K, oracle (upper bound) | 83.3 (n=3) | 83.3 (n=3) | 100.0 (n=3) |" in md
    assert "| accuracy after refinement, oracle (upper bound) | 83.3 (n=12) |" in md
    assert "MV@4, oracle (upper bound)" in md
    assert "| 1 | 50.0 (n=3) | 66.7 (n=3) | 66.7 (n=3) | 66.7 (n=3) | 75.0 (n=3) |" in md
    assert "| discrimination F1 | 90.9 (n=11) |" in md
    assert "| helpfulness (wrong → correct) | 66.7 (n=6) |" in md
    assert "| harm (correct → wrong) | 33.3 (n=6) |" in md
    assert "| format violations | 1 critiques, 8.3 (n=12) |" in md
    for section in (
        "Response only",
        "Parallel critique-refine",
        "Critic-filtered majority voting",
        "Sequential critique-refine",
        "Compute-matched baselines",
        "Critic metrics",
        "Difficulty levels",
    ):
        assert f"### {section}" in md
    assert md.count("_How to read:") >= 7
    # per-level tables, including every number for each level
    assert "| 4 | 1 | 0.0 (n=1) | 25.0 (n=1) | 0.0 (n=1) |" in md
    assert md.count("<details>") == 3


def test_report_with_only_the_pool(tmp_path):
    res = results_for(greedy=None, critiques=None, refinements=None, chains=None)
    md = R.write_report([res], tmp_path).read_text()
    assert sorted(images_in(md)) == ["gsm8k_levels.png", "gsm8k_mv_at_k.png", "gsm8k_pass_at_k.png"]
    for name in images_in(md):
        assert_valid_png(tmp_path / name)
    assert "Greedy accuracy: –" in md
    assert "Not run (no refinements)." in md
    assert "Not run (no critiques)." in md
    assert "Not run (no sequential chains)." in md


def test_report_per_dataset(tmp_path):
    gsm, math = (
        make_records(),
        make_records(dataset="MATH 500", dataset_type="math", prefix="m", levels={"A": 5, "B": 1, "C": 1}),
    )
    res = M.compute_results(config={}, vote_fn=string_vote, **{k: gsm[k] + math[k] for k in gsm})
    md = R.write_report([res], tmp_path).read_text()
    assert "## Dataset: gsm8k" in md and "## Dataset: MATH 500" in md
    for plot in PLOTS:
        assert_valid_png(tmp_path / f"MATH_500_{plot}.png")
        assert f"(MATH_500_{plot}.png)" in md


def test_cli_several_iterations(tmp_path, capsys):
    paths = []
    runs = [
        results_for(config={**CONFIG, "actor": "base"}),
        results_for(config={**CONFIG, "iteration": 1}, critiques=None),
    ]
    for i, res in enumerate(runs):
        paths.append(tmp_path / f"results{i}.json")
        paths[-1].write_text(json.dumps(res))
    out = tmp_path / "out"
    argv = [arg for p in paths for arg in ("--results", str(p))] + ["--out", str(out)]
    assert report_stage.main(argv) == 0
    assert "report.md" in capsys.readouterr().out
    md = (out / "report.md").read_text()
    assert "## Accuracy per self-improvement iteration" in md
    assert "(iterations.png)" in md
    assert_valid_png(out / "iterations.png")
    assert "# Iteration base" in md and "# Iteration 1" in md
    # each accuracy with its 95 % Wilson interval over the n questions (2 of 3: [20.8, 93.9])
    row = "gsm8k | 66.7 [20.8, 93.9] (n=3) | 50.0 [12.5, 87.5] (n=3) | 66.7 [20.8, 93.9] (n=3) | 100.0 [43.9, 100.0] (n=3) |"
    assert f"| base | {row}" in md and f"| 1 | {row}" in md
    assert "95 % Wilson interval over the n questions" in md
    for name in images_in(md):
        assert_valid_png(out / name)
    assert "(iter0_gsm8k_mv_at_k.png)" in md and "(iter1_gsm8k_mv_at_k.png)" in md


def test_iteration_labels():
    cfg = lambda **kw: {"config": kw}  # noqa: E731
    assert R.iteration_labels([cfg(actor="base"), cfg(actor="runs/iter_1"), cfg()]) == ["base", "iter_1", "2"]
    assert R.iteration_labels([cfg(iteration=3), cfg(actor="/m/iter_0/")]) == ["3", "iter_0"]
    # repeated labels fall back to positions
    assert R.iteration_labels([cfg(actor="same"), cfg(actor="same")]) == ["0", "1"]


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "results file not found"),
        ("{not json", "not valid JSON"),
        ("[1, 2]", "(top level): expected an object"),
        ('{"schema_version": 2, "config": {}, "N": 4, "ks": [1]}', "datasets: missing"),
        ('{"schema_version": 2, "config": {}, "N": 4, "ks": [1], "datasets": {"gsm8k": {}}}', "datasets.gsm8k.overall"),
    ],
)
def test_cli_rejects_bad_results_with_a_message(tmp_path, capsys, content, message):
    path = tmp_path / "results.json"
    if content is not None:
        path.write_text(content)
    assert report_stage.main(["--results", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and str(path) in err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_module_entry_point_reports_missing_file_without_traceback(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "selfimprove",
            "report",
            "--results",
            str(tmp_path / "missing.json"),
            "--out",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
        timeout=120,
    )
    assert proc.returncode == 2
    assert "results file not found" in proc.stderr and "Traceback" not in proc.stderr
