"""Plots and ``report.md`` from ``results.json`` files (several: successive self-improvement iterations).

::

    python -m selfimprove report --results results.json --out DIR
    python -m selfimprove report --results iter0.json --results iter1.json --out DIR [--run-dir RUN]

Several results files are read as the actors of successive self-improvement iterations, in the
order given (:mod:`selfimprove.evaluation.report` writes the report). A results file that is
missing or not valid, or a folder that cannot be written, ends with one ``error:`` line and exit 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from selfimprove.core.errors import DataError
from selfimprove.evaluation.report import ResultsError, detect_run_dir, load_results, write_report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m selfimprove report",
        description="Plots and report.md from results.json (several files = successive self-improvement iterations).",
    )
    parser.add_argument(
        "--results",
        action="append",
        required=True,
        metavar="JSON",
        help="a results.json; repeat for successive self-improvement iterations",
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    parser.add_argument(
        "--run-dir",
        metavar="RUN",
        help="add the exploration analysis of this run's training records (default: the folder above --out, "
        "when it holds iter_<k>/01_samples.jsonl)",
    )
    args = parser.parse_args(argv)
    try:
        all_results = [load_results(p) for p in args.results]
    except ResultsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    run_dir = args.run_dir or detect_run_dir(args.out)
    try:
        report = write_report(all_results, args.out, sources=args.results, run_dir=run_dir)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        print(f"error: malformed results file ({type(e).__name__}: {e})", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"error: cannot write to {args.out}: {e}", file=sys.stderr)
        return 2
    print(f"wrote {report}")
    return 0
