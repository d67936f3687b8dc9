"""Load a dataset as question records (JSON Lines), to look at what the loaders see.

::

    python -m selfimprove datasets SPEC [--split test] [--limit N --shuffle --seed S] [--out FILE]

SPEC is any dataset spec (:mod:`selfimprove.data.spec`; ``--help`` lists the named ones). Each
malformed row is one ``location: reason`` line on stderr and is skipped; a spec that cannot be
used, or no usable record, ends with one ``error:`` line and exit 2. Without ``--out`` the records
go to stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from selfimprove.core.config import env_data_folder
from selfimprove.core.io import atomic_write_jsonl
from selfimprove.data.datasets import DatasetError, known_specs, load_questions_with_report, usable_records
from selfimprove.data.records import SPLITS


def main(argv: Sequence[str] | None = None) -> int:
    specs = "\n".join(f"  {k:26s} {v}" for k, v in known_specs().items())
    ap = argparse.ArgumentParser(
        prog="python -m selfimprove datasets",
        description="Load a dataset as question records (JSON Lines).",
        epilog="dataset specs:\n" + specs,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("spec")
    ap.add_argument("--split", default="test", choices=SPLITS)
    ap.add_argument("--limit", type=int)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--shuffle", action="store_true")
    ap.add_argument("--out", help="output JSONL (written atomically); default: stdout")
    args = ap.parse_args(argv)
    try:
        records, problems = load_questions_with_report(
            args.spec, args.split, args.limit, args.seed, args.shuffle, data_dir=env_data_folder()
        )
        for line in problems:
            print(line, file=sys.stderr)
        records = usable_records(args.spec, args.split, records, problems)
    except DatasetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.out:
        atomic_write_jsonl(args.out, records)
        print(f"wrote {len(records)} records to {args.out}", file=sys.stderr)
    else:
        for rec in records:
            print(json.dumps(rec, ensure_ascii=False))
    return 0
