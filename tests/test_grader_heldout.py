"""Held-out labelled set for the answer grader (tests/fixtures/grader_heldout.jsonl).

The set was written independently of the grader's implementation, so it measures how the
``default`` grader generalises. Two checks:

* the ``default`` grader is at least as accurate as ``math-verify`` on the set
  (the comparison is skipped when ``math-verify`` is not installed);
* no item takes the ``default`` grader more than 0.5 s (+0.2 s slack) after a warm-up call.

Run it as a script for the full report (accuracy per category, slowest items, every miss)::

    python tests/test_grader_heldout.py
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from functools import cache
from pathlib import Path

import pytest

from selfimprove.grading.api import Grade, grade, warm_up

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "grader_heldout.jsonl"
TIME_LIMIT_S = 0.5
SLACK_S = 0.2


def load_rows() -> list[dict]:
    with FIXTURE.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def mathverify_available() -> bool:
    try:
        import math_verify  # noqa: F401
    except ImportError:
        return False
    return True


@cache
def run_grader(grader: str) -> tuple[tuple[dict, Grade, float], ...]:
    """Grade every row sequentially with ``grader``: (row, Grade, seconds) per row."""
    rows = load_rows()
    if grader == "default":
        warm_up()
    # Warm-up call so that imports and worker start-up are not charged to the first item.
    grade("The answer is $\\frac{1}{2}$.", "0.5", "math", grader=grader)
    out = []
    for row in rows:
        t0 = time.perf_counter()
        g = grade(row["response"], row["gold"], row["dataset_type"], grader=grader)
        out.append((row, g, time.perf_counter() - t0))
    return tuple(out)


def accuracy(results) -> float:
    return sum(bool(g.correct) == row["label"] for row, g, _ in results) / len(results)


def per_category(results) -> dict[str, tuple[int, int]]:
    stats: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row, g, _ in results:
        s = stats[row["category"]]
        s[0] += bool(g.correct) == row["label"]
        s[1] += 1
    return {k: (v[0], v[1]) for k, v in stats.items()}


# --------------------------------------------------------------------------- tests


def test_fixture_is_well_formed():
    rows = load_rows()
    assert len(rows) >= 150
    assert len({r["id"] for r in rows}) == len(rows)
    for r in rows:
        assert r["dataset_type"] in ("gsm8k", "math")
        assert isinstance(r["label"], bool)
        assert isinstance(r["gold"], str) and isinstance(r["response"], str)
        assert r["category"]
    n_true = sum(r["label"] for r in rows)
    assert 0.35 <= n_true / len(rows) <= 0.65


def test_default_at_least_as_accurate_as_mathverify():
    default_acc = accuracy(run_grader("default"))
    if not mathverify_available():
        pytest.skip("math-verify is not installed")
    mv_acc = accuracy(run_grader("math-verify"))
    assert default_acc >= mv_acc, f"default {default_acc:.3f} < math-verify {mv_acc:.3f}"


@pytest.mark.timing
def test_default_time_per_item():
    results = run_grader("default")
    slow = [(row["id"], round(dt, 3)) for row, _, dt in results if dt > TIME_LIMIT_S + SLACK_S]
    assert not slow, f"items over {TIME_LIMIT_S}+{SLACK_S} s: {slow}"


# --------------------------------------------------------------------------- report


def _tail(text: str, n: int = 70) -> str:
    text = text.replace("\n", " \u23ce ")
    return text if len(text) <= n else "\u2026" + text[-n:]


def report() -> None:
    graders = ["default"] + (["math-verify"] if mathverify_available() else [])
    res = {g: run_grader(g) for g in graders}
    rows = load_rows()
    print(f"{len(rows)} rows, {sum(r['label'] for r in rows)} labelled true\n")

    cats = sorted({r["category"] for r in rows})
    head = f"{'category':20s}{'n':>4s}" + "".join(f"{g:>14s}" for g in graders)
    print(head)
    print("-" * len(head))
    pc = {g: per_category(res[g]) for g in graders}
    for c in cats:
        n = pc["default"][c][1]
        cells = (f"{pc[g][c][0]}/{n} ({pc[g][c][0] / n:.0%})".rjust(14) for g in graders)
        print(f"{c:20s}{n:4d}" + "".join(cells))
    print("-" * len(head))
    print(f"{'OVERALL':20s}{len(rows):4d}" + "".join(f"{accuracy(res[g]):14.1%}" for g in graders))

    for g in graders:
        times = sorted(((dt, row["id"]) for row, _, dt in res[g]), reverse=True)
        mean = sum(t for t, _ in times) / len(times)
        print(
            f"\n{g}: mean {mean * 1000:.1f} ms/item, worst " + ", ".join(f"{i} {t * 1000:.0f} ms" for t, i in times[:3])
        )

    print("\nRows the default grader gets wrong:")
    for row, gr, _ in res["default"]:
        if bool(gr.correct) != row["label"]:
            print(f"  {row['id']} [{row['category']}] label={row['label']} gold={row['gold'][-60:]!r}")
            print(f"      response tail: {_tail(row['response'])!r}")
            print(f"      pred={gr.pred!r}")

    if "math-verify" in res:
        print("\nRows math-verify gets right and default gets wrong:")
        for (row, gd, _), (_, gm, _) in zip(res["default"], res["math-verify"]):
            if bool(gd.correct) != row["label"] and bool(gm.correct) == row["label"]:
                print(f"  {row['id']} gold={row['gold'][-40:]!r} default pred={gd.pred!r} mv pred={gm.pred!r}")
        print("\nRows default gets right and math-verify gets wrong:")
        for (row, gd, _), (_, gm, _) in zip(res["default"], res["math-verify"]):
            if bool(gd.correct) == row["label"] and bool(gm.correct) != row["label"]:
                print(
                    f"  {row['id']} [{row['category']}] label={row['label']} gold={row['gold'][-40:]!r} mv pred={gm.pred!r}"
                )


if __name__ == "__main__":
    report()
