"""Write synthetic multi-step arithmetic word problems (GSM8K format) as question records.

::

    python -m selfimprove synthetic --n 100 --split train --seed 0 [--difficulty easy] [--levels 1,2] --out FILE.jsonl

The generator and its design: :mod:`selfimprove.data.synthetic`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from selfimprove.core.io import atomic_write_jsonl
from selfimprove.data.synthetic import DIFFICULTIES, SPLITS, generate


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m selfimprove synthetic",
        description="Write synthetic multi-step arithmetic word problems (GSM8K format) as "
        "question records in JSON Lines.",
    )
    ap.add_argument("--n", type=int, default=100, help="number of problems (default 100)")
    ap.add_argument("--split", choices=SPLITS, default="train")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--difficulty",
        choices=DIFFICULTIES,
        default="standard",
        help="standard: levels 1-5, numbers below 1000; easy: levels 1-2, numbers below 50",
    )
    ap.add_argument(
        "--levels",
        default=None,
        help="comma-separated levels (= reasoning steps); default: all of the difficulty (1-5 or 1-2)",
    )
    ap.add_argument("--out", required=True, help="output JSONL file (written atomically)")
    args = ap.parse_args(argv)
    try:
        levels = None if args.levels is None else tuple(int(x) for x in args.levels.split(",") if x.strip())
        records = generate(args.n, args.split, args.seed, levels, args.difficulty)
    except ValueError as e:
        ap.error(str(e))
    atomic_write_jsonl(args.out, records)
    print(f"wrote {len(records)} {args.split} problems to {args.out}", file=sys.stderr)
    return 0
