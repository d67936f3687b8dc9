#!/usr/bin/env python3
"""Benchmark our grader against math-verify, side by side, on the same inputs in one run.

For every suite and grader: accuracy against the labels, items per second, the slowest item
(and which), and the items that were not decided (ours: ``timeout`` and ``error:*`` statuses;
math-verify: items that reached its own 5 s time-outs, which it scores as wrong without
saying so). The last row totals every suite, and the last column is our speed-up.

Suites:

* ``conventions``   tests/fixtures/grader_conventions.jsonl (one labelled set per convention);
* ``heldout``       tests/fixtures/grader_heldout.jsonl (written without looking at the grader);
* ``labelled``      tests/fixtures/grader_labelled.jsonl (written while building the grader);
* ``peers``         tests/data/peer_grading_cases.jsonl: the labelled cases of the published test
  suites of seven other graders (math-verify, hendrycks/math, MARIO_EVAL, NeMo-Skills,
  dart-math, simple-evals, rllm), each with its source; the few rows whose peer test passes a
  non-default setting (``options``) are left out here and checked by the tests;
* ``gsm8k-gold`` / ``gsm8k-perturb`` / ``math-gold`` / ``math-perturb``: built from
  ``../shared/data`` (reference solutions against themselves and their answers; equivalent
  rewrites and near misses), skipped when that folder is absent.

Graders: ``default`` (ours; ``--workers`` threads sharing warm symbolic workers),
``math-verify`` (if installed; run in the main thread, sequentially, so its signal time-outs
work) and, on request, ``mathcritique`` (the paper's released logic, made safe).

Usage::

    python scripts/bench_grader.py [--workers 1] [--graders default,math-verify[,mathcritique]]
                                   [--suites conventions,heldout,...] [--limit N] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from selfimprove.core.config import env_data_folder
from selfimprove.grading.api import GRADERS, extract_gold, grade, warm_up
from selfimprove.grading.equiv import clear_cache

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
PEER_CASES = ROOT / "tests" / "data" / "peer_grading_cases.jsonl"
SHARED = env_data_folder()  # DATA_DIR, else the checkout's data/ folder
MV_TIMEOUT_S = 5.0  # math-verify's default parsing and verification time-outs

# response, gold (or several acceptable golds), dataset_type, label, id
Item = tuple[str, str | list[str], str, bool, str]


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def _fixture(name: str) -> list[Item]:
    rows = _jsonl(FIXTURES / name)
    return [(r["response"], r["gold"], r["dataset_type"], bool(r["label"]), r["id"]) for r in rows]


def suite_conventions() -> list[Item]:
    return _fixture("grader_conventions.jsonl")


def suite_heldout() -> list[Item]:
    return _fixture("grader_heldout.jsonl")


def suite_labelled() -> list[Item]:
    return _fixture("grader_labelled.jsonl")


def suite_peers() -> list[Item]:
    rows = _jsonl(PEER_CASES)
    return [
        (r["response"], r["gold"], r["dataset_type"], bool(r["expected"]), r["id"]) for r in rows if "options" not in r
    ]


def suite_gsm8k_gold() -> list[Item] | None:
    path = SHARED / "gsm8k" / "test.jsonl"
    if not path.exists():
        return None
    items: list[Item] = []
    for i, r in enumerate(_jsonl(path)):
        bare = extract_gold(r["answer"], "gsm8k") or ""
        items.append((r["answer"], r["answer"], "gsm8k", True, f"gsm8k-{i}-self"))
        items.append((r["answer"], bare, "gsm8k", True, f"gsm8k-{i}-bare"))
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
    for i, r in enumerate(_jsonl(path)):
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
        items.append((steps + ok, r["answer"], "gsm8k", True, f"gsm8k-{i}-ok"))
        wrong = f"The answer is {_perturb_number(bare, rng)}."
        items.append((steps + wrong, r["answer"], "gsm8k", False, f"gsm8k-{i}-wrong"))
    return items


def suite_math_gold() -> list[Item] | None:
    path = SHARED / "math500" / "test.jsonl"
    if not path.exists():
        return None
    items: list[Item] = []
    for i, r in enumerate(_jsonl(path)):
        items.append((r["solution"], r["solution"], "math", True, f"math-{i}-self"))
        items.append((r["solution"], r["answer"], "math", True, f"math-{i}-bare"))
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
    for i, r in enumerate(_jsonl(path)):
        ans = r["answer"]
        ok = f"Working through it step by step, we get $\\boxed{{{ans}}}$."
        items.append((ok, r["solution"], "math", True, f"math-{i}-ok"))
        wrong = _math_near_miss(ans, rng)
        if wrong is not None:
            items.append((f"So the answer is $\\boxed{{{wrong}}}$.", r["solution"], "math", False, f"math-{i}-miss"))
    return items


SUITES = {
    "conventions": suite_conventions,
    "heldout": suite_heldout,
    "labelled": suite_labelled,
    "peers": suite_peers,
    "gsm8k-gold": suite_gsm8k_gold,
    "gsm8k-perturb": suite_gsm8k_perturb,
    "math-gold": suite_math_gold,
    "math-perturb": suite_math_perturb,
}


def run(grader: str, items: list[Item], workers: int) -> dict:
    """Accuracy, throughput, slowest item and undecided items of one grader on one suite."""
    clear_cache()
    n = len(items)
    times = [0.0] * n
    verdicts = [False] * n
    statuses = ["ok"] * n

    def one(i: int) -> None:
        resp, gold, dtype, _, _ = items[i]
        t0 = time.perf_counter()
        grades = [grade(resp, g, dtype, grader) for g in (gold if isinstance(gold, list) else [gold])]
        times[i] = time.perf_counter() - t0
        verdicts[i] = any(g.correct for g in grades)  # several golds: any of them
        statuses[i] = next((g.status for g in grades if g.status != "ok"), "ok")

    t0 = time.perf_counter()
    if grader == "math-verify" or workers <= 1:
        for i in range(n):
            one(i)
    else:
        chunk = max(1, n // (workers * 8))

        def span(lo: int) -> None:
            for i in range(lo, min(n, lo + chunk)):
                one(i)

        with ThreadPoolExecutor(workers) as ex:
            list(ex.map(span, range(0, n, chunk)))
    total = time.perf_counter() - t0
    worst = max(range(n), key=times.__getitem__) if n else 0
    if grader == "math-verify":
        undecided = sum(t >= MV_TIMEOUT_S for t in times)
    else:
        undecided = sum(s != "ok" for s in statuses)
    return {
        "n": n,
        "correct": sum(v == it[3] for v, it in zip(verdicts, items)),
        "total_s": total,
        "worst_s": times[worst] if n else 0.0,
        "worst_id": items[worst][4] if n else "",
        "undecided": undecided,
    }


def _cell(r: dict) -> str:
    rate = r["n"] / r["total_s"] if r["total_s"] else 0.0
    return f"{r['correct'] / max(1, r['n']):>8.2%} {rate:>9.0f} {r['worst_s'] * 1000:>9.1f} {r['undecided']:>5d}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=int, default=1, help="threads for our grader (math-verify runs in one)")
    ap.add_argument("--graders", default="default,math-verify")
    ap.add_argument("--suites", default=",".join(SUITES))
    ap.add_argument("--limit", type=int, default=0, help="use at most N items per suite")
    ap.add_argument("--json", default=None, help="also write the numbers to this JSON file")
    args = ap.parse_args(argv)
    graders = [g for g in args.graders.split(",") if g]
    unknown = [g for g in graders if g not in GRADERS] + [s for s in args.suites.split(",") if s not in SUITES]
    if unknown:
        ap.error(f"unknown grader or suite: {', '.join(unknown)}")
    if "math-verify" in graders:
        try:
            import math_verify  # noqa: F401
        except ImportError:
            print("math-verify not installed: skipping that grader", file=sys.stderr)
            graders.remove("math-verify")
    t0 = time.perf_counter()
    warm_up(args.workers)
    print(f"symbolic worker pool warm-up: {time.perf_counter() - t0:.2f} s (one-time, excluded below)")
    print("per grader: accuracy, items/s, worst item (ms), items not decided (timeouts/errors)")
    head = f"{'suite':<14} {'items':>6}" + "".join(f" | {g:^34}" for g in graders)
    if graders[:1] == ["default"] and "math-verify" in graders:
        head += " | speed-up"
    print(head)
    sub = f"{'':<14} {'':>6}" + " | {:>8} {:>9} {:>9} {:>5}".format("acc", "items/s", "worst ms", "undec") * len(
        graders
    )
    print(sub)
    print("-" * len(sub))
    totals: dict[str, dict[str, Any]] = {
        g: {"n": 0, "correct": 0, "total_s": 0.0, "worst_s": 0.0, "worst_id": "", "undecided": 0} for g in graders
    }
    report: dict[str, dict] = {}
    for name in args.suites.split(","):
        items = SUITES[name]()
        if items is None:
            print(f"{name:<14} (skipped: not under {SHARED}; set DATA_DIR)")
            continue
        if args.limit:
            items = items[: args.limit]
        res = {g: run(g, items, args.workers) for g in graders}
        report[name] = res
        for g, r in res.items():
            t = totals[g]
            t["n"] += r["n"]
            t["correct"] += r["correct"]
            t["total_s"] += r["total_s"]
            t["undecided"] += r["undecided"]
            if r["worst_s"] > t["worst_s"]:
                t["worst_s"], t["worst_id"] = r["worst_s"], r["worst_id"]
        line = f"{name:<14} {len(items):>6}" + "".join(f" | {_cell(res[g])}" for g in graders)
        if graders[:1] == ["default"] and "math-verify" in graders and res["default"]["total_s"]:
            line += f" | {res['math-verify']['total_s'] / res['default']['total_s']:>7.1f}x"
        print(line, flush=True)
    print("-" * len(sub))
    line = f"{'all':<14} {totals[graders[0]]['n']:>6}" + "".join(f" | {_cell(totals[g])}" for g in graders)
    if graders[:1] == ["default"] and "math-verify" in graders and totals["default"]["total_s"]:
        line += f" | {totals['math-verify']['total_s'] / totals['default']['total_s']:>7.1f}x"
    print(line)
    for g in graders:
        print(f"slowest item, {g}: {totals[g]['worst_id']} ({totals[g]['worst_s'] * 1000:.1f} ms)")
    if graders[:1] == ["default"] and "math-verify" in graders and report:
        behind = [n for n, r in report.items() if r["default"]["correct"] < r["math-verify"]["correct"]]
        ties = [n for n, r in report.items() if r["default"]["correct"] == r["math-verify"]["correct"]]
        print(
            f"default behind math-verify on: {', '.join(behind) or 'no suite'}; level on: {', '.join(ties) or 'no suite'}"
        )
    if args.json:
        Path(args.json).write_text(json.dumps({"suites": report, "all": totals}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
