#!/usr/bin/env python3
"""Benchmark the graders side by side: accuracy against labels, total and worst item time.

Suites:

* ``labelled``      tests/fixtures/grader_labelled.jsonl (hand-labelled, all categories);
* ``gsm8k-gold``    GSM8K test: full solution vs solution and vs bare answer (label: correct);
* ``gsm8k-perturb`` GSM8K test: rewritten-equivalent responses (correct) and off-by-one /
                    scaled answers (wrong);
* ``math-gold``     MATH-500: solution vs solution and vs bare answer (correct);
* ``math-perturb``  MATH-500: boxed answers (correct) and boxed near misses (wrong).

The GSM8K/MATH-500 suites are built from ``../shared/data/`` relative to the project root and
skipped when it is absent. Graders: ``default`` (ours, run through ``grade_batch``),
``mathcritique`` (the paper's logic, made safe) and ``math-verify`` (if installed; run
sequentially in the main thread so its signal timeouts work).

Usage::

    python scripts/bench_grader.py [--workers 2] [--graders default,mathcritique,math-verify]
                                   [--suites labelled,gsm8k-gold,...] [--limit N]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from selfimprove.grading.api import GRADERS, extract_gold, grade, warm_up  # noqa: E402
from selfimprove.grading.equiv import clear_cache  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"

Item = tuple[str, str, str, bool]  # response, gold, dataset_type, label


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def suite_labelled() -> list[Item]:
    rows = _jsonl(ROOT / "tests" / "fixtures" / "grader_labelled.jsonl")
    return [(r["response"], r["gold"], r["dataset_type"], bool(r["label"])) for r in rows]


def suite_gsm8k_gold() -> list[Item] | None:
    path = SHARED / "gsm8k" / "test.jsonl"
    if not path.exists():
        return None
    items: list[Item] = []
    for r in _jsonl(path):
        bare = extract_gold(r["answer"], "gsm8k") or ""
        items.append((r["answer"], r["answer"], "gsm8k", True))
        items.append((r["answer"], bare, "gsm8k", True))
    return items


def _perturb_number(s: str, rng: random.Random) -> str:
    val = float(s.replace(",", ""))
    choice = rng.choice([1, -1, 10, 2])
    new = val * choice if choice in (10, 2) else val + choice
    if new == val:
        new = val + 1
    return str(int(new)) if float(new).is_integer() else str(new)


def suite_gsm8k_perturb() -> list[Item] | None:
    path = SHARED / "gsm8k" / "test.jsonl"
    if not path.exists():
        return None
    rng = random.Random(0)
    items: list[Item] = []
    for r in _jsonl(path):
        bare = (extract_gold(r["answer"], "gsm8k") or "0").replace(",", "")
        n = int(float(bare)) if float(bare).is_integer() else float(bare)
        pretty = f"{n:,}" if isinstance(n, int) else str(n)
        steps = r["answer"].rsplit("####", 1)[0]
        ok = rng.choice(
            [
                f"The answer is {pretty}.",
                f"The answer is ${pretty}.00",
                f"So the total is {bare}.",
                f"Final answer: \\boxed{{{bare}}}",
            ]
        )
        items.append((steps + ok, r["answer"], "gsm8k", True))
        items.append((steps + f"The answer is {_perturb_number(bare, rng)}.", r["answer"], "gsm8k", False))
    return items


def suite_math_gold() -> list[Item] | None:
    path = SHARED / "math500" / "test.jsonl"
    if not path.exists():
        return None
    items: list[Item] = []
    for r in _jsonl(path):
        items.append((r["solution"], r["solution"], "math", True))
        items.append((r["solution"], r["answer"], "math", True))
    return items


def _math_near_miss(ans: str, rng: random.Random) -> str | None:
    nums = list(re.finditer(r"\d+", ans))
    if nums:
        m = rng.choice(nums)
        new = str(int(m.group(0)) + rng.choice([1, 2, 3]))
        return ans[: m.start()] + new + ans[m.end() :]
    if "x" in ans:
        return ans.replace("x", "(x+1)", 1)
    return None


def suite_math_perturb() -> list[Item] | None:
    path = SHARED / "math500" / "test.jsonl"
    if not path.exists():
        return None
    rng = random.Random(0)
    items: list[Item] = []
    for r in _jsonl(path):
        ans = r["answer"]
        items.append((f"Working through it step by step, we get $\\boxed{{{ans}}}$.", r["solution"], "math", True))
        wrong = _math_near_miss(ans, rng)
        if wrong is not None:
            items.append((f"So the answer is $\\boxed{{{wrong}}}$.", r["solution"], "math", False))
    return items


SUITES = {
    "labelled": suite_labelled,
    "gsm8k-gold": suite_gsm8k_gold,
    "gsm8k-perturb": suite_gsm8k_perturb,
    "math-gold": suite_math_gold,
    "math-perturb": suite_math_perturb,
}


def run(grader: str, items: list[Item], workers: int) -> dict:
    """Accuracy and timings of one grader on one suite."""
    from concurrent.futures import ThreadPoolExecutor

    clear_cache()
    times = [0.0] * len(items)
    verdicts = [False] * len(items)

    def one(i: int) -> None:
        resp, gold, dtype, _ = items[i]
        t0 = time.perf_counter()
        verdicts[i] = grade(resp, gold, dtype, grader).correct
        times[i] = time.perf_counter() - t0

    t0 = time.perf_counter()
    if grader == "math-verify" or workers <= 1:
        for i in range(len(items)):
            one(i)
    else:
        chunk = max(1, len(items) // (workers * 8))

        def span(lo: int) -> None:
            for i in range(lo, min(len(items), lo + chunk)):
                one(i)

        with ThreadPoolExecutor(workers) as ex:
            list(ex.map(span, range(0, len(items), chunk)))
    total = time.perf_counter() - t0
    correct = sum(v == it[3] for v, it in zip(verdicts, items))
    return {
        "n": len(items),
        "acc": correct / len(items) if items else 0.0,
        "total": total,
        "worst": max(times) if times else 0.0,
        "rate": len(items) / total if total else 0.0,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--graders", default=",".join(GRADERS))
    ap.add_argument("--suites", default=",".join(SUITES))
    ap.add_argument("--limit", type=int, default=0, help="use at most N items per suite")
    args = ap.parse_args(argv)
    graders = [g for g in args.graders.split(",") if g]
    if "math-verify" in graders:
        try:
            import math_verify  # noqa: F401
        except ImportError:
            print("math-verify not installed: skipping that grader", file=sys.stderr)
            graders.remove("math-verify")
    t0 = time.perf_counter()
    warm_up(args.workers)
    print(f"symbolic worker pool warm-up: {time.perf_counter() - t0:.2f} s (one-time, excluded below)")
    header = f"{'suite':<14} {'grader':<13} {'items':>6} {'accuracy':>9} {'total s':>8} {'worst ms':>9} {'items/s':>9}"
    print(header)
    print("-" * len(header))
    for name in args.suites.split(","):
        items = SUITES[name]()
        if items is None:
            print(f"{name:<14} (skipped: {SHARED} not present)")
            continue
        if args.limit:
            items = items[: args.limit]
        for g in graders:
            r = run(g, items, args.workers)
            print(
                f"{name:<14} {g:<13} {r['n']:>6} {r['acc']:>9.2%} {r['total']:>8.2f} "
                f"{r['worst'] * 1000:>9.1f} {r['rate']:>9.0f}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
