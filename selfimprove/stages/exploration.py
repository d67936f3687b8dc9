"""Exploration analysis of a run's training records: kept data per level, efficiency, diversity.

::

    python -m selfimprove exploration RUN_DIR --out DIR

Writes ``exploration.json`` and the plots into DIR (:mod:`selfimprove.evaluation.exploration`
says what each number is); the evaluation report includes the same section when the run has
training records. A run without them ends with one ``error:`` line and exit 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from selfimprove.core.layout import RunLayout
from selfimprove.evaluation.exploration import write_exploration


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m selfimprove exploration",
        description="Exploration analysis of a self-improvement run: kept data per level (Fig. 7), exploration "
        "efficiency, solution diversity, per-problem correct frequency (Fig. F).",
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", help="the run (runs/<EXP>)")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for exploration.json and the plots")
    args = parser.parse_args(argv)
    try:
        write_exploration(args.run_dir, args.out)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {RunLayout.exploration_file(args.out, 'analysis')}")
    return 0
