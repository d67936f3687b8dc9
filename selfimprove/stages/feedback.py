"""Print the paper's released feedback files for some dataset types, one path per line.

::

    python -m selfimprove feedback gsm8k math

Exit 1, with the reason, when none is found (where they go and how to fetch them:
:mod:`selfimprove.data.feedback`, ``scripts/fetch_feedback.py``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from selfimprove.core.config import env_data_folder
from selfimprove.data.feedback import FEEDBACK_FILES, FeedbackFilesMissing, feedback_files


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m selfimprove feedback",
        description="Print the released feedback files for the given dataset types, one per line.",
    )
    ap.add_argument("types", nargs="+", choices=sorted(FEEDBACK_FILES), help="dataset types (gsm8k, math)")
    args = ap.parse_args(argv)
    try:
        for p in feedback_files(args.types, env_data_folder()):
            print(p)
    except FeedbackFilesMissing as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0
