"""Answer extraction and grading: the one place that decides "is this response correct?".

Public API (used by inference, filtering, evaluation and voting stages)::

    GRADERS                      ("default", "mathcritique", "math-verify")
    Grade(pred, correct, grader) frozen result of grading one response
    extract_gold(gold, dataset_type)          bare answer from a bare answer or a full solution
    extract_pred(response, dataset_type)      final answer of a model response, or None
    is_equivalent(a, b, dataset_type)         two bare answers, time-bounded
    grade(response, gold, dataset_type, grader="default") -> Grade   (never raises on strings)
    grade_batch(items, grader="default", workers=None) -> list[Grade]
    vote(answers, dataset_type) -> Vote       majority over equivalence classes

Graders:

``default``
    Layered extraction and equivalence (:mod:`selfimprove.grading`): canonical strings,
    exact numbers, structures, and sympy in killable worker processes; at most 0.5 s per item.
``mathcritique``
    The paper's released extraction and comparison, reproduced like for like, with its
    ``eval`` replaced by a safe evaluator (:mod:`selfimprove.grading.seed`).
``math-verify``
    The ``math-verify`` library (optional dependency), for comparison.

Command line::

    python -m selfimprove.process grade --input IN.jsonl --output OUT.jsonl \\
        [--grader default|mathcritique|math-verify] [--workers N]

Exit status: 0 when every line was graded, 1 when some input lines were skipped (reported on
stderr with their line numbers), 2 for usage errors.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from selfimprove.grading.equiv import ITEM_TIME_LIMIT, answers_equivalent
from selfimprove.grading.extract import check_dataset_type
from selfimprove.grading.extract import extract_gold as _extract_gold
from selfimprove.grading.extract import extract_pred as _extract_pred

__all__ = [
    "GRADERS",
    "Grade",
    "Vote",
    "extract_gold",
    "extract_pred",
    "is_equivalent",
    "grade",
    "grade_batch",
    "vote",
    "warm_up",
    "main",
]

GRADERS: tuple[str, ...] = ("default", "mathcritique", "math-verify")


@dataclass(frozen=True)
class Grade:
    """Outcome of grading one response: the extracted answer, the verdict, and who decided."""

    pred: str | None
    correct: bool
    grader: str


@dataclass(frozen=True)
class Vote:
    """Majority vote over equivalence classes of extracted answers.

    ``answer`` is the first member of the winning class (``None`` when nobody voted),
    ``size`` its number of members, ``classes`` the indices of ``answers`` grouped by
    equivalence, classes in order of first appearance. Ties go to the earlier class.
    """

    answer: str | None
    size: int
    classes: list[list[int]] = field(default_factory=list)


def _check_grader(grader: str) -> str:
    if grader not in GRADERS:
        raise ValueError(f"unknown grader {grader!r}: expected one of {', '.join(GRADERS)}")
    return grader


def extract_gold(gold: str, dataset_type: str) -> str | None:
    """Bare final answer from a bare answer or a full reference solution (MATH/GSM8K)."""
    check_dataset_type(dataset_type)
    try:
        return _extract_gold(gold, dataset_type)
    except Exception:  # pragma: no cover - defensive; extraction is total on strings
        return None


def extract_pred(response: str, dataset_type: str) -> str | None:
    """Final answer of a model response, or ``None`` when it states none."""
    check_dataset_type(dataset_type)
    try:
        return _extract_pred(response, dataset_type)
    except Exception:  # pragma: no cover - defensive
        return None


def is_equivalent(a: str | None, b: str | None, dataset_type: str) -> bool:
    """Whether two bare answers are equivalent; decided within 0.5 s, never raises on strings."""
    check_dataset_type(dataset_type)
    return answers_equivalent(a, b, ITEM_TIME_LIMIT)


def _grade_default(response: str, gold: str, dataset_type: str) -> Grade:
    start = time.monotonic()
    pred = extract_pred(response, dataset_type)
    ref = extract_gold(gold, dataset_type)
    if pred is None or ref is None:
        return Grade(pred, False, "default")
    budget = ITEM_TIME_LIMIT - (time.monotonic() - start)
    return Grade(pred, answers_equivalent(ref, pred, max(0.05, budget)), "default")


def _grade_seed(response: str, gold: str, dataset_type: str) -> Grade:
    from selfimprove.grading.seed import seed_compare, seed_extract_gold, seed_extract_response

    an = seed_extract_gold(gold, dataset_type)
    pred = seed_extract_response(response, dataset_type)
    return Grade(pred, seed_compare(an, pred), "mathcritique")


def _grade_mathverify(response: str, gold: str, dataset_type: str) -> Grade:
    from selfimprove.grading.mathverify import mathverify_grade

    pred, ok = mathverify_grade(response, gold)
    return Grade(pred, ok, "math-verify")


_IMPL = {"default": _grade_default, "mathcritique": _grade_seed, "math-verify": _grade_mathverify}


def grade(response: str, gold: str, dataset_type: str, grader: str = "default") -> Grade:
    """Grade one response against a gold answer (bare or full solution).

    Raises ``ValueError`` only for an unknown ``dataset_type`` or ``grader`` (and
    ``ImportError`` when ``math-verify`` is requested but not installed); any string input
    is graded without raising.
    """
    check_dataset_type(dataset_type)
    _check_grader(grader)
    response = "" if response is None else (response if isinstance(response, str) else str(response))
    gold = "" if gold is None else (gold if isinstance(gold, str) else str(gold))
    if grader == "math-verify":
        from selfimprove.grading.mathverify import _lib

        _lib()  # surface a missing package as a clear ImportError
    try:
        return _IMPL[grader](response, gold, dataset_type)
    except RecursionError:
        return Grade(None, False, grader)
    except Exception:
        return Grade(None, False, grader)


def warm_up(workers: int | None = None) -> None:
    """Start the symbolic worker processes now (about a second) instead of on first use."""
    from selfimprove.grading.timeout import get_pool

    get_pool(workers).start()


def grade_batch(
    items: Sequence[tuple[str, str, str]],
    grader: str = "default",
    workers: int | None = None,
) -> list[Grade]:
    """Grade ``(response, gold, dataset_type)`` triples, keeping their order.

    ``workers`` threads share as many symbolic worker processes (default: CPU count, at
    most 8). The ``math-verify`` grader runs sequentially in the calling thread because its
    signal-based timeouts only work there.
    """
    _check_grader(grader)
    for it in items:
        check_dataset_type(it[2])
    n = len(items)
    if workers is None:
        workers = min(8, os.cpu_count() or 1)
    workers = max(1, int(workers))
    if grader == "math-verify" or workers == 1 or n < 2 * workers:
        if grader == "default" and n:
            warm_up(workers)
        return [grade(r, g, t, grader) for r, g, t in items]
    if grader == "default":
        warm_up(workers)
    results: list[Grade | None] = [None] * n
    chunk = max(1, min(256, n // (workers * 4) or 1))
    starts = range(0, n, chunk)

    def run(lo: int) -> None:
        for i in range(lo, min(n, lo + chunk)):
            r, g, t = items[i]
            results[i] = grade(r, g, t, grader)

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="grade") as ex:
        list(ex.map(run, starts))
    return [r if r is not None else Grade(None, False, grader) for r in results]


def vote(answers: Sequence[str | None], dataset_type: str) -> Vote:
    """Group answers into equivalence classes and return the majority class.

    ``None`` answers never vote; with no votes the result is ``Vote(None, 0, [])``.
    """
    check_dataset_type(dataset_type)
    classes: list[list[int]] = []
    reps: list[str] = []
    for i, ans in enumerate(answers):
        if ans is None:
            continue
        ans = str(ans)
        for k, rep in enumerate(reps):
            if rep == ans or answers_equivalent(rep, ans, ITEM_TIME_LIMIT):
                classes[k].append(i)
                break
        else:
            reps.append(ans)
            classes.append([i])
    if not classes:
        return Vote(None, 0, [])
    best = max(range(len(classes)), key=lambda k: (len(classes[k]), -k))
    return Vote(str(answers[classes[best][0]]), len(classes[best]), classes)


# --------------------------------------------------------------------------- CLI

_REQUIRED = ("id", "dataset_type", "gold", "response")


def _read_items(path: str, err) -> tuple[list[dict], int]:
    """Valid input records and the number of skipped lines (each reported on ``err``)."""
    records: list[dict] = []
    skipped = 0
    with open(path, encoding="utf-8", errors="replace") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                print(f"{path}:{lineno}: skipped: not valid JSON ({exc.msg})", file=err)
                skipped += 1
                continue
            if not isinstance(obj, dict):
                print(f"{path}:{lineno}: skipped: not a JSON object", file=err)
                skipped += 1
                continue
            missing = [k for k in _REQUIRED if k not in obj]
            if missing:
                print(f"{path}:{lineno}: skipped: missing field(s) {', '.join(missing)}", file=err)
                skipped += 1
                continue
            bad = [k for k in ("gold", "response") if not isinstance(obj[k], str)]
            if bad:
                print(f"{path}:{lineno}: skipped: field(s) {', '.join(bad)} must be strings", file=err)
                skipped += 1
                continue
            if obj["dataset_type"] not in ("gsm8k", "math"):
                print(
                    f"{path}:{lineno}: skipped: dataset_type must be 'gsm8k' or 'math', got {obj['dataset_type']!r}",
                    file=err,
                )
                skipped += 1
                continue
            records.append(obj)
    return records, skipped


def _write_atomic(path: str, records: list[dict]) -> None:
    from selfimprove.core.io import atomic_write_jsonl

    atomic_write_jsonl(path, records)


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m selfimprove.process", description="Grade model responses.")
    sub = parser.add_subparsers(dest="command", required=True)
    g = sub.add_parser("grade", help="grade a JSONL file of responses")
    g.add_argument("--input", required=True, help="JSONL with id, dataset_type, gold, response")
    g.add_argument("--output", required=True, help="JSONL written atomically: input + pred, correct, grader")
    g.add_argument("--grader", default="default", choices=GRADERS)
    g.add_argument("--workers", type=int, default=None, help="parallel graders (default: CPU count)")
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
    records, skipped = _read_items(args.input, sys.stderr)
    grades = grade_batch([(r["response"], r["gold"], r["dataset_type"]) for r in records], args.grader, args.workers)
    out = []
    for rec, g in zip(records, grades):
        rec = dict(rec)
        rec.update(pred=g.pred, correct=g.correct, grader=g.grader)
        out.append(rec)
    _write_atomic(args.output, out)
    n_ok = sum(g.correct for g in grades)
    print(
        f"graded {len(records)} item(s) with {args.grader}: {n_ok} correct; skipped {skipped} line(s)", file=sys.stderr
    )
    return 1 if skipped else 0


if __name__ == "__main__":
    sys.exit(main())
