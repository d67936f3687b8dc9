"""Stage: load the datasets of a run into question records (``runs/<EXP>/data/<split>.jsonl``).

Several datasets can be combined (``--dataset gsm8k math``); each record keeps its dataset,
type, stable id, reference solution, gold answer and level. ``--check`` only validates the
dataset names (no download, no compute), so a driver can fail fast on a typo.
"""

from __future__ import annotations

import sys

from selfimprove.core.cli import parser, run
from selfimprove.core.io import atomic_write_jsonl
from selfimprove.core.manifest import Step
from selfimprove.data.datasets import DatasetError, check_spec, known_specs, load_questions_with_report


def main(argv=None) -> int:
    ap = parser("prepare", __doc__.split("\n\n")[0])
    ap.add_argument(
        "--dataset",
        nargs="+",
        required=True,
        help=f"dataset specs, e.g. {', '.join(known_specs())}, or file:PATH?type=...",
    )
    ap.add_argument("--split", required=True, choices=("train", "test"))
    ap.add_argument("--limit", type=int, default=None, help="questions per dataset (seeded subset)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="output question records (JSONL)")
    ap.add_argument("--check", action="store_true", help="only validate the dataset specs")
    ap.add_argument("--run-dir", default=None)
    ap.add_argument("--step", default=None)
    args = ap.parse_args(argv)
    try:
        for spec in args.dataset:
            check_spec(spec, args.split)
    except DatasetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.check:
        return 0
    if not args.out:
        ap.error("--out is required unless --check")
    if args.limit is not None and args.limit <= 0:
        ap.error("--limit must be positive")
    step = Step(
        args.run_dir,
        args.step or f"data/{args.split}",
        {"dataset": args.dataset, "limit": args.limit, "seed": args.seed},
    )
    if step.skip():
        return 0
    with step:
        records, seen = [], set()
        for spec in args.dataset:
            try:
                recs, problems = load_questions_with_report(
                    spec, args.split, limit=args.limit, seed=args.seed, shuffle=args.limit is not None
                )
            except DatasetError as e:
                print(f"error: {e}", file=sys.stderr)
                return 2
            for p in problems:
                print(f"skipped: {p}", file=sys.stderr)
            for r in recs:
                if r["id"] in seen:
                    raise SystemExit(f"error: question id {r['id']} appears in two datasets")
                seen.add(r["id"])
            records += recs
            step.count(**{f"{spec}": len(recs), f"{spec}_skipped": len(problems)})
        atomic_write_jsonl(args.out, records)
        step.count(questions=len(records))
    print(f"{len(records)} {args.split} questions -> {args.out}")
    return 0


if __name__ == "__main__":
    run(main)
