"""Grade a JSONL file of model responses (any grader of the package), one bad line never fatal.

::

    python -m selfimprove process grade --input IN --output OUT [--grader NAME] [--workers N]

Each input line is ``{"id", "dataset_type": "gsm8k"|"math", "gold", "response"}``; each output
line is the input plus ``pred``, ``correct``, ``grader`` and ``grade_status``. One bad line never
takes the batch down: every line is decoded, parsed and checked on its own, and whatever goes
wrong becomes one report ``path:line: reason`` on stderr while the batch continues:

* bytes that are not UTF-8 are replaced (U+FFFD), reported, and the line is still graded;
* a line longer than ``MAX_LINE_BYTES``, JSON that is invalid or nested too deep
  (``RecursionError``), a value that is not an object, missing or non-string fields, an ``id``
  that is not a non-empty string or is used by an earlier line (the first line with it is
  graded), an unknown ``dataset_type``, and text that cannot be written back as UTF-8 (a lone
  surrogate such as ``"\\ud800"``) are reported and skipped.

The output (every good line, in input order) is written atomically. Exit status: 0 when every
line was graded without an error status, 1 when lines were skipped or some grade has an
``error:<Kind>`` status, 2 for a usage error. The last stderr line counts correct, timeout and
error grades.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator, Sequence
from typing import TextIO

from selfimprove.core.io import atomic_write_bytes
from selfimprove.grading.batch import format_counts, grade_batch
from selfimprove.grading.equiv import UNIT_POLICIES
from selfimprove.grading.grader import GRADERS

__all__ = ["main", "read_items", "MAX_LINE_BYTES"]

#: Input lines longer than this are reported and skipped (a response is read up to its last
#: 200,000 characters anyway).
MAX_LINE_BYTES = 16 * 1024 * 1024
_REQUIRED = ("id", "dataset_type", "gold", "response")


def _raw_lines(path: str, limit: int) -> Iterator[tuple[int, bytes | None]]:
    """``(line_number, bytes)``; ``bytes`` is ``None`` for a line over ``limit`` (read past, not kept)."""
    with open(path, "rb") as fh:
        lineno = 0
        while True:
            chunk = fh.readline(limit + 1)
            if not chunk:
                return
            lineno += 1
            if len(chunk) <= limit or chunk.endswith(b"\n"):
                yield lineno, chunk
                continue
            while chunk and not chunk.endswith(b"\n"):  # skip the rest of an oversized line
                chunk = fh.readline(1 << 20)
            yield lineno, None


def _check(obj: object) -> str | None:
    """Why a decoded line cannot be graded, or ``None``."""
    if not isinstance(obj, dict):
        return "not a JSON object"
    missing = [k for k in _REQUIRED if k not in obj]
    if missing:
        return f"missing field(s) {', '.join(missing)}"
    if not isinstance(obj["id"], str):
        return f"id must be a string, got {'null' if obj['id'] is None else type(obj['id']).__name__}"
    if not obj["id"].strip():
        return "id is empty"
    bad = [k for k in ("gold", "response") if not isinstance(obj[k], str)]
    if bad:
        return f"field(s) {', '.join(bad)} must be strings"
    if obj["dataset_type"] not in ("gsm8k", "math"):
        return f"dataset_type must be 'gsm8k' or 'math', got {obj['dataset_type']!r}"
    try:
        json.dumps(obj, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"text cannot be written as UTF-8 ({exc.reason}: {exc.object[exc.start : exc.end]!a})"
    except (ValueError, RecursionError) as exc:
        return f"record cannot be written back ({type(exc).__name__})"
    return None


def read_items(path: str, err: TextIO, max_line_bytes: int = MAX_LINE_BYTES) -> tuple[list[dict], int]:
    """Valid input records and the number of skipped lines (each reported on ``err``)."""
    records: list[dict] = []
    skipped = 0
    first_line: dict[str, int] = {}  # id -> the line that used it first

    def report(lineno: int, reason: str) -> None:
        print(f"{path}:{lineno}: {reason}", file=err)

    for lineno, raw in _raw_lines(path, max_line_bytes):
        if raw is None:
            report(lineno, f"skipped: line longer than {max_line_bytes} bytes")
            skipped += 1
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            text = raw.decode("utf-8", errors="replace")
            report(lineno, f"invalid UTF-8 at byte {exc.start} replaced by U+FFFD (line still graded)")
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            report(lineno, f"skipped: not valid JSON ({exc.msg})")
            skipped += 1
            continue
        except RecursionError:
            report(lineno, "skipped: JSON nested too deep")
            skipped += 1
            continue
        except Exception as exc:  # any other decoding failure stays on its line
            report(lineno, f"skipped: cannot decode ({type(exc).__name__})")
            skipped += 1
            continue
        why = _check(obj)
        if why is None and obj["id"] in first_line:
            why = f"id {obj['id']!r} already used at line {first_line[obj['id']]}"
        if why is not None:
            report(lineno, f"skipped: {why}")
            skipped += 1
            continue
        first_line[obj["id"]] = lineno
        records.append(obj)
    return records, skipped


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m selfimprove process", description="Grade model responses.")
    sub = parser.add_subparsers(dest="command", required=True)
    g = sub.add_parser("grade", help="grade a JSONL file of responses")
    g.add_argument("--input", required=True, help="JSONL with id, dataset_type, gold, response")
    g.add_argument(
        "--output", required=True, help="JSONL written atomically: input + pred, correct, grader, grade_status"
    )
    g.add_argument("--grader", default="default", choices=GRADERS)
    g.add_argument("--workers", type=int, default=None, help="parallel graders (default: CPU count)")
    g.add_argument(
        "--rel-tol",
        type=float,
        default=None,
        help="relative tolerance for a decimal approximation of a value with no finite decimal expansion "
        "(default 1e-6)",
    )
    g.add_argument(
        "--ordered-lists",
        action="store_true",
        help="compare bare lists (3, -4) in order, as sequences, instead of as solution sets",
    )
    g.add_argument(
        "--units",
        default="convert",
        choices=UNIT_POLICIES,
        help="convert (default): a unit on one side only is dropped; two answers with known units compare "
        "after converting between units of one quantity (30 mm = 3 cm; 15 cm^3 is not 15 cm^2); "
        "ignore: units are always dropped",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return 2 if exc.code not in (0, None) else 0
    if args.workers is not None and args.workers < 1:
        print("error: --workers must be at least 1", file=sys.stderr)
        return 2
    if args.rel_tol is not None and not 0 <= args.rel_tol < 1:
        print("error: --rel-tol must be in [0, 1)", file=sys.stderr)
        return 2
    if not os.path.isfile(args.input):
        print(f"error: input file not found: {args.input}", file=sys.stderr)
        return 2
    out_dir = os.path.dirname(os.path.abspath(args.output))
    if not os.path.isdir(out_dir):
        print(f"error: output directory does not exist: {out_dir}", file=sys.stderr)
        return 2
    if args.grader == "math-verify":
        try:
            from selfimprove.grading.mathverify import _lib

            _lib()
        except ImportError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    records, skipped = read_items(args.input, sys.stderr)
    items = [(r["response"], r["gold"], r["dataset_type"]) for r in records]
    grades = grade_batch(
        items, args.grader, args.workers, rel_tol=args.rel_tol, ordered_lists=args.ordered_lists, units=args.units
    )
    lines = []
    for rec, g in zip(records, grades):
        rec = dict(rec)
        rec.update(g.record_fields())
        lines.append(json.dumps(rec, ensure_ascii=False) + "\n")
    atomic_write_bytes(args.output, "".join(lines).encode("utf-8"))
    counts = grades.counts
    print(f"{args.grader}: {format_counts(counts)}; skipped {skipped} line(s)", file=sys.stderr)
    return 1 if skipped or counts["error"] else 0
