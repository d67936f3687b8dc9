#!/usr/bin/env python3
"""The likelihood critic's scorer, batched against one response at a time, in the same run.

Scores every response of ``--responses`` (records with ``question``, ``response`` and
``dataset_type``: a critic evaluation's ``responses.jsonl`` or any paths file) one at a time and
then in batches, and rewrites the first step over the threshold of each flagged response the same
two ways; prints the seconds side by side, the largest difference between the two step scores,
whether the verdicts agree and how many rewrites are identical::

    python scripts/bench_likelihood.py --model runs/demo/critic/likelihood \\
        --responses runs/demo/critic/eval/responses.jsonl

The threshold is the model folder's ``likelihood.json`` (``--threshold`` for a folder without one).
Uses transformers on CPU (or the first GPU); torch's default threads unless ``--threads``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from selfimprove.core.io import read_jsonl  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    from selfimprove.critic.likelihood import CALIBRATION, StepScorer, judge, read_calibration

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="the scoring model (folder)")
    ap.add_argument("--responses", required=True, help="records with question, response, dataset_type (JSONL)")
    ap.add_argument("--limit", type=int, default=0, help="the first N responses (0: all)")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--threshold", type=float, help="default: the folder's likelihood.json")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args(argv)
    if args.threshold is None and not (Path(args.model) / CALIBRATION).is_file():
        ap.error(f"{args.model} has no {CALIBRATION}: give --threshold")
    threshold = args.threshold if args.threshold is not None else float(read_calibration(args.model)["threshold"])

    rows = [r for r in read_jsonl(args.responses) if r.get("response")]
    rows = rows[: args.limit] if args.limit else rows
    items = [(r["question"], r["response"], r["dataset_type"]) for r in rows]
    scorer = StepScorer(args.model, threads=args.threads or None, batch_size=args.batch_size)

    t = time.perf_counter()
    single = [scorer(*item) for item in items]
    t_single = time.perf_counter() - t
    t = time.perf_counter()
    batched = scorer.score_many(items)
    t_batched = time.perf_counter() - t
    diff = max((abs(a - b) for x, y in zip(single, batched) for a, b in zip(x, y)), default=0.0)
    verdicts = [judge(s, threshold).first_wrong for s in single]
    agree = verdicts == [judge(s, threshold).first_wrong for s in batched]

    jobs = [(q, r, v, d) for (q, r, d), v in zip(items, verdicts) if v is not None]
    t = time.perf_counter()
    one = [scorer.rewrite(*job) for job in jobs]
    t_one = time.perf_counter() - t
    t = time.perf_counter()
    many = scorer.rewrite_many(jobs)
    t_many = time.perf_counter() - t

    print(f"| {scorer.device}, batches of {args.batch_size} | one at a time (s) | batched (s) | agreement |")
    print("|---|---|---|---|")
    print(
        f"| score {len(items)} responses | {t_single:.1f} | {t_batched:.1f} | largest step-score difference "
        f"{diff:.1e}, verdicts {'the same' if agree else 'DIFFER'} |"
    )
    print(
        f"| rewrite {len(jobs)} flagged steps | {t_one:.1f} | {t_many:.1f} | "
        f"{sum(a == b for a, b in zip(one, many))} of {len(jobs)} identical |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
