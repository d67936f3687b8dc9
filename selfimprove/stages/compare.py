"""Compare several runs: Pass@1 per iteration, the Table-3 grid, the critic table, per-level differences.

::

    python -m selfimprove compare runs/A runs/B ... --out DIR [--reference FILE] [--seed S]

Writes ``comparison.json``, ``report.md`` and plots into DIR (:mod:`selfimprove.evaluation.compare`
computes, :mod:`selfimprove.evaluation.compare_report` writes), with bootstrap confidence intervals
and the paper's numbers where the setting matches. Runs that cannot be compared end with one
``error:`` line and exit 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from selfimprove.core.io import atomic_write_json
from selfimprove.core.layout import RunLayout
from selfimprove.evaluation.compare import compare_runs
from selfimprove.evaluation.compare_report import write_comparison
from selfimprove.evaluation.paper import REFERENCE_FILE
from selfimprove.evaluation.paper import load as load_reference


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m selfimprove compare",
        description="Compare several runs: Pass@1 per iteration (Fig. 6), the Table-3 grid, the critic table, "
        "per-level differences, with bootstrap confidence intervals and the paper's numbers where they match.",
    )
    parser.add_argument("runs", nargs="+", metavar="RUN", help="run folders (runs/<EXP>); the first is the baseline")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for report.md, comparison.json, plots")
    parser.add_argument(
        "--reference",
        metavar="JSON",
        help=f"the paper's numbers (default: selfimprove/evaluation/{REFERENCE_FILE.name})",
    )
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    args = parser.parse_args(argv)
    try:
        comparison = compare_runs(args.runs, reference=load_reference(args.reference), seed=args.seed)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    out = Path(args.out)
    atomic_write_json(RunLayout.comparison_file(out, "comparison"), comparison)
    report = write_comparison(comparison, out)
    print(f"wrote {report} and {RunLayout.comparison_file(out, 'comparison')}")
    return 0
