"""The critic's learning curve on hand-made runs (no model): the Wilson and F1 intervals against
values worked by hand, the table, the generated sentences, comparison.json and the plot."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from selfimprove.core.errors import DataError
from selfimprove.critic.curve import curve, trend, write_curve
from selfimprove.critic.evaluate import f1_share, share
from selfimprove.evaluation.estimators import harmonic_mean_interval, wilson, z_value
from selfimprove.stages import critic_curve

ROOT = Path(__file__).resolve().parent.parent
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
Z95 = 1.959963984540054  # the standard normal's 97.5 % quantile


# --------------------------------------------------------------------------- intervals
def wilson_by_hand(hits: float, n: int, z: float = Z95) -> tuple[float, float]:
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def bounds(interval: tuple[float, float] | None) -> tuple[float, float]:
    assert interval is not None
    return interval


def test_wilson_matches_known_values():
    assert z_value() == pytest.approx(Z95)
    # 81 of 100: centre 0.82921 / 1.03841 = 0.79853, half-width 0.07632 (worked on paper)
    assert wilson(81, 100) == pytest.approx((0.7222, 0.8749), abs=1e-4)
    assert wilson(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)  # symmetric around 1/2
    # 0 of n: [0, z^2 / (n + z^2)], not a point as the normal approximation gives
    assert wilson(0, 10) == (0.0, pytest.approx(Z95**2 / (10 + Z95**2)))
    assert wilson(10, 10) == (pytest.approx(10 / (10 + Z95**2)), 1.0)
    for hits, n in ((1, 3), (104, 200), (163, 200), (2.5, 7)):  # fractional hits: a mean of values in [0, 1]
        assert wilson(hits, n) == pytest.approx(wilson_by_hand(hits, n))
    assert wilson(0, 0) is None
    low99, high99 = bounds(wilson(50, 100, confidence=0.99))
    assert low99 < bounds(wilson(50, 100))[0] and high99 > bounds(wilson(50, 100))[1]
    with pytest.raises(ValueError):
        wilson(11, 10)


def test_the_f1_interval_is_the_harmonic_mean_of_the_accuracies_bounds():
    z = z_value(0.975)  # each accuracy at 97.5 %: both hold together with probability >= 95 %
    (le, he), (lo, ho) = wilson_by_hand(30, 100, z), wilson_by_hand(60, 100, z)
    low, high = bounds(harmonic_mean_interval(30, 100, 60, 100))
    assert low == pytest.approx(2 * le * lo / (le + lo)) and high == pytest.approx(2 * he * ho / (he + ho))
    assert low < 2 * 0.3 * 0.6 / 0.9 < high
    perfect = bounds(harmonic_mean_interval(100, 100, 100, 100))
    assert perfect[1] == 1.0 and perfect[0] < 1.0  # a perfect critic: not a point
    nothing = bounds(harmonic_mean_interval(0, 10, 0, 10))
    assert nothing[0] == 0.0 and 0.0 < nothing[1] < 0.5
    assert harmonic_mean_interval(1, 2, 0, 0) is None


# --------------------------------------------------------------------------- fixture runs
def critic(fmt, disc, helped, after, err=(50, 100), ok=(50, 100), n=200, wrong=100, model="m") -> dict:
    iv = {
        "format_compliance": share(fmt, n),
        "discrimination": share(disc, n),
        "f1": f1_share(err[0], err[1], ok[0], ok[1]),
        "helpfulness": share(helped, wrong),
        "accuracy_after_refinement": share(after, n),
    }
    return {"n": n, "model": model, **{k: e["value"] for k, e in iv.items()}, "intervals": iv}


def make_run(
    root: Path, name: str, examples: int, asked: int, seconds: float, critics: dict, ids=range(200), reused=None
) -> Path:
    run = root / name
    (run / "critic" / "eval").mkdir(parents=True)
    results = {"actor": "a", "responses": {"n": 200, "correct": 100, "wrong": 100}, "critics": critics}
    (run / "critic" / "eval" / "results.json").write_text(json.dumps(results))
    (run / "critic" / "eval" / "responses.jsonl").write_text("".join(json.dumps({"id": f"q{i}"}) + "\n" for i in ids))
    stats = {"examples": examples, "per_verdict": {"correct": examples // 2, "wrong": examples - examples // 2}}
    (run / "critic" / "stats.json").write_text(json.dumps(stats))
    counts = {"examples": examples, "train_loss": 0.2, **({"reused_from": reused} if reused else {})}
    manifest = {
        "critic_config": {"CRITIC_EXAMPLES": asked},
        "steps": {"critic/05_train": {"status": "done", "seconds": seconds, "seconds_before": 0.0, "counts": counts}},
    }
    (run / "manifest.json").write_text(json.dumps(manifest))
    return run


@pytest.fixture
def runs(tmp_path: Path) -> list[Path]:
    first = make_run(
        tmp_path,
        "cc_examples-64",
        64,
        64,
        120.4,
        {
            "none": {"n": 200, "accuracy_after_refinement": 0.5, "intervals": {}},
            "base": critic(0, 0, 0, 60, err=(0, 100), ok=(0, 100), model="smol"),
            "trained": critic(150, 104, 10, 110, err=(20, 100), ok=(40, 100)),
            "likelihood": critic(200, 185, 12, 106, err=(90, 100), ok=(95, 100), model="critic/likelihood"),
            "programmatic": critic(200, 200, 40, 140, err=(100, 100), ok=(100, 100), model="programmatic"),
        },
    )
    mid = make_run(tmp_path, "cc_examples-1024", 1024, 1024, 900.0, {"trained": critic(199, 120, 20, 120)})
    last = make_run(
        tmp_path,
        "cc_examples-4096",
        3000,
        4096,
        2500.0,
        {"trained": critic(196, 163, 30, 130, err=(60, 100), ok=(80, 100))},
    )
    return [last, first, mid]  # in any order: the curve sorts by examples


def test_the_curve_of_fixture_runs(runs, tmp_path):
    out = tmp_path / "out"
    report = write_curve(runs, out)
    comparison = json.loads((out / "comparison.json").read_text())
    assert set(comparison) == {
        "curve_version",
        "confidence",
        "interval_methods",
        "metrics",
        "held_out",
        "cells",
        "references",
        "skipped",
        "trends",
    }
    assert comparison["confidence"] == 0.95 and comparison["interval_methods"]["f1"] == "wilson-harmonic"
    assert comparison["interval_methods"]["discrimination"] == "wilson"
    cells = comparison["cells"]
    assert [c["examples"] for c in cells] == [64, 1024, 3000]
    assert [c["requested_examples"] for c in cells] == [64, 1024, 4096]
    assert [c["train_seconds"] for c in cells] == [120.4, 900.0, 2500.0]
    disc = cells[0]["metrics"]["discrimination"]
    assert (disc["value"], disc["hits"], disc["n"]) == (0.52, 104, 200)
    assert disc["ci"] == pytest.approx(wilson_by_hand(104, 200), abs=1e-4)  # [0.4510, 0.5882]
    assert cells[0]["metrics"]["helpfulness"]["n"] == 100  # of the wrong responses
    assert set(cells[0]["metrics"]) == {
        "format_compliance",
        "discrimination",
        "f1",
        "helpfulness",
        "accuracy_after_refinement",
    }
    refs = comparison["references"]
    assert set(refs) == {"base", "likelihood", "programmatic"} and refs["base"]["run"] == str(runs[1])
    assert refs["likelihood"]["metrics"]["discrimination"]["value"] == 0.925
    assert refs["programmatic"]["metrics"]["discrimination"]["value"] == 1.0
    assert comparison["held_out"] == {"n": 200, "same_in_every_cell": True}

    md = report.read_text()
    assert md == (out / "report.md").read_text()
    assert (
        "| 64 | 120 | 75.0 [68.6, 80.5] (n=200) | 52.0 [45.1, 58.8] (n=200) | 26.7 [17.7, 38.1] (n=200) "
        "| 10.0 [5.5, 17.4] (n=100) | 55.0 [48.1, 61.7] (n=200) | `cc_examples-64` |"
    ) in md
    assert "| 3,000 (of 4,096 asked) | 2,500 |" in md
    assert "| untrained base | – | 0.0 [0.0, 1.9] (n=200) |" in md
    assert "| programmatic (reference-aware upper bound) | – | 100.0 [98.1, 100.0] (n=200) |" in md
    assert "| likelihood critic (the model fine-tuned on right solutions; docs/critic.md) | – |" in md
    sentence = (
        "- discrimination 52.0 % [45.1, 58.8] at 64 examples -> 81.5 % [75.5, 86.3] at 3,000: up 29.5 points; "
        "the 95 % intervals do not overlap; untrained base 0.0 %, likelihood critic 92.5 %, programmatic 100.0 %; "
        "chance is 50 % (the held-out set is balanced)."
    )
    assert sentence in md and comparison["trends"]["discrimination"] == sentence[2:]
    # format compliance peaks in the middle; helpfulness moves less than its intervals resolve
    assert "; highest at 1,024 examples (99.5 % [97.2, 99.9])" in comparison["trends"]["format_compliance"]
    assert "up 10.0 points, but the 95 % intervals overlap" in comparison["trends"]["accuracy_after_refinement"]
    assert "![critic learning curve](critic_curve.png)" in md
    png = (out / "critic_curve.png").read_bytes()
    assert png[:8] == PNG_MAGIC and len(png) > 10_000


def test_cells_on_other_held_out_sets_or_without_a_trained_critic_are_named(runs, tmp_path):
    other = make_run(tmp_path, "cc_other", 256, 256, 300.0, {"trained": critic(150, 110, 10, 110)}, ids=range(1, 201))
    empty = make_run(tmp_path, "cc_base_only", 0, 0, 0.0, {"base": critic(0, 0, 0, 60)})
    comparison = curve([*runs, other, empty])
    assert comparison["held_out"]["same_in_every_cell"] is False
    assert [c["examples"] for c in comparison["cells"]] == [64, 256, 1024, 3000]
    assert comparison["skipped"] == [{"run": str(empty), "reason": "no 'trained' critic in its results"}]
    md = write_curve([*runs, other], tmp_path / "o").read_text()
    assert "**not the same responses in every cell**" in md


def test_older_results_without_intervals_show_the_bare_values(tmp_path):
    old = {"n": 200, "discrimination": 0.6, "format_compliance": 0.9, "f1": None}
    run = make_run(tmp_path, "cc_old", 64, 64, 10.0, {"trained": old}, reused="/elsewhere/model")
    comparison = curve([run])
    disc = comparison["cells"][0]["metrics"]["discrimination"]
    assert disc == {"value": 0.6, "hits": None, "n": None, "ci": None}
    assert comparison["trends"]["discrimination"] == (
        "discrimination 60.0 % at 64 examples (one cell: no trend); chance is 50 % (the held-out set is balanced)."
    )
    assert comparison["trends"]["f1"] == "first-error F1: undefined in every cell."
    md = write_curve([run], tmp_path / "o").read_text()
    assert "| 64 | 10 (reused) | 90.0 | 60.0 | – |" in md


def test_the_stage_writes_the_three_files_and_refuses_a_run_without_an_evaluation(runs, tmp_path, capsys):
    out = tmp_path / "sweep"
    assert critic_curve.main([*map(str, runs), "--out", str(out)]) == 0
    assert {p.name for p in out.iterdir()} >= {"report.md", "comparison.json", "critic_curve.png"}
    assert "report.md" in capsys.readouterr().out
    with pytest.raises(DataError, match="no critic/eval/results.json"):
        curve([tmp_path / "nothing"])
    proc = subprocess.run(
        [sys.executable, "-m", "selfimprove", "critic_curve", str(tmp_path / "nothing"), "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "error:" in proc.stderr and "critic-all.sh" in proc.stderr


def test_a_critic_at_chance_is_called_so():
    def cell(x, v, ci):
        return {"examples": x, "metrics": {"discrimination": {"value": v, "hits": None, "n": 200, "ci": ci}}}

    comparison = {"cells": [cell(64, 0.03, [0.014, 0.064]), cell(1024, 0.495, [0.426, 0.564])], "references": {}}
    sentence = trend(comparison, "discrimination")
    assert sentence.endswith("chance is 50 % (the held-out set is balanced), inside the interval at 1,024 examples.")
