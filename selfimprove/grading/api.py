"""Answer extraction and grading: the one place that decides "is this response correct?".

Public API (used by inference, filtering, evaluation and voting stages)::

    GRADERS                      ("default", "mathcritique", "math-verify")
    Grade(pred, correct, grader, status="ok", truncated=False)
                                 frozen result of grading one response
    extract_gold(gold, dataset_type)          bare answer from a bare answer or a full solution
    extract_pred(response, dataset_type)      final answer of a model response, or None
    is_equivalent(a, b, dataset_type)         two bare answers, bounded
    compare(a, b, rel_tol=None) -> Verdict    the same, with the status of the decision
    grade(response, gold, dataset_type, grader="default", rel_tol=None) -> Grade
    grade_batch(items, grader="default", workers=None) -> GradeBatch (a list of Grade + .counts)
    summarize(grades) -> dict                 counts per status (ok, timeout, error:<Kind>)
    vote(answers, dataset_type) -> Vote       majority over equivalence classes

``Grade.status`` is ``ok``, ``timeout`` (the item ran out of its budget: counted and reported,
not a verdict) or ``error:<ExceptionKind>`` (a bug or a worker failure: counted and reported).
A graded record carries ``pred``, ``correct``, ``grader`` and ``grade_status``
(:meth:`Grade.record_fields`).

Graders:

``default``
    Layered extraction and equivalence (:mod:`selfimprove.grading`): canonical strings, exact
    numbers, structures, in-process numeric probes, and sympy in warm worker processes bounded
    in CPU time; at most 0.5 s per item on an idle machine, extraction included.
``mathcritique``
    The paper's released extraction and comparison, reproduced like for like, with its
    ``eval`` replaced by a safe evaluator (:mod:`selfimprove.grading.seed`).
``math-verify``
    The ``math-verify`` library (optional dependency), for comparison.

The batch command line lives in :mod:`selfimprove.grading.cli` (``python -m
selfimprove.process grade ...``); ``main`` is re-exported here.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from selfimprove.grading.equiv import Verdict
from selfimprove.grading.equiv import compare as _compare
from selfimprove.grading.extract import MAX_RESPONSE_CHARS, check_dataset_type
from selfimprove.grading.extract import extract_gold as _extract_gold
from selfimprove.grading.extract import extract_pred as _extract_pred

__all__ = [
    "GRADERS",
    "STATUSES",
    "Grade",
    "GradeBatch",
    "Verdict",
    "Vote",
    "extract_gold",
    "extract_pred",
    "is_equivalent",
    "compare",
    "grade",
    "grade_batch",
    "summarize",
    "format_counts",
    "vote",
    "warm_up",
    "main",
]

log = logging.getLogger(__name__)

GRADERS: tuple[str, ...] = ("default", "mathcritique", "math-verify")
#: The statuses a grade can have; ``error`` stands for ``error:<ExceptionKind>``.
STATUSES: tuple[str, ...] = ("ok", "timeout", "error")


@dataclass(frozen=True)
class Grade:
    """Outcome of grading one response: the extracted answer, the verdict, who decided, and how.

    ``status`` is ``ok``, ``timeout`` or ``error:<ExceptionKind>``; ``correct`` is ``False``
    whenever the status is not ``ok``. ``truncated`` says the response was longer than
    ``MAX_RESPONSE_CHARS`` and only its end was read.
    """

    pred: str | None
    correct: bool
    grader: str
    status: str = "ok"
    truncated: bool = False

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def record_fields(self) -> dict:
        """The fields a graded record carries: ``pred``, ``correct``, ``grader``, ``grade_status``."""
        return {"pred": self.pred, "correct": self.correct, "grader": self.grader, "grade_status": self.status}


class GradeBatch(list):
    """The grades of a batch, in input order, with their status counts in ``counts``."""

    @property
    def counts(self) -> dict[str, int]:
        return summarize(self)


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
    return _extract_gold(gold, dataset_type)


def extract_pred(response: str, dataset_type: str) -> str | None:
    """Final answer of a model response, or ``None`` when it states none."""
    check_dataset_type(dataset_type)
    return _extract_pred(response, dataset_type)


def compare(a: str | None, b: str | None, rel_tol: float | None = None) -> Verdict:
    """Whether two bare answers are equivalent, as ``Verdict(equal, status)``."""
    try:
        return _compare(a, b, rel_tol=rel_tol)
    except Exception as exc:
        return Verdict(False, f"error:{type(exc).__name__}")


def is_equivalent(a: str | None, b: str | None, dataset_type: str) -> bool:
    """Whether two bare answers are equivalent; bounded, never raises on strings."""
    check_dataset_type(dataset_type)
    return compare(a, b).equal


def _grade_default(response: str, gold: str, dataset_type: str, rel_tol: float | None) -> Grade:
    truncated = len(response) > MAX_RESPONSE_CHARS
    pred = _extract_pred(response, dataset_type)
    ref = _extract_gold(gold, dataset_type)
    if pred is None or ref is None:
        return Grade(pred, False, "default", "ok", truncated)
    verdict = _compare(ref, pred, rel_tol=rel_tol)
    return Grade(pred, verdict.equal, "default", verdict.status, truncated)


def _grade_seed(response: str, gold: str, dataset_type: str, rel_tol: float | None) -> Grade:
    from selfimprove.grading.seed import seed_compare, seed_extract_gold, seed_extract_response

    an = seed_extract_gold(gold, dataset_type)
    pred = seed_extract_response(response, dataset_type)
    return Grade(pred, seed_compare(an, pred), "mathcritique")


def _grade_mathverify(response: str, gold: str, dataset_type: str, rel_tol: float | None) -> Grade:
    from selfimprove.grading.mathverify import mathverify_grade

    pred, ok = mathverify_grade(response, gold)
    return Grade(pred, ok, "math-verify")


_IMPL = {"default": _grade_default, "mathcritique": _grade_seed, "math-verify": _grade_mathverify}


def grade(
    response: str, gold: str, dataset_type: str, grader: str = "default", *, rel_tol: float | None = None
) -> Grade:
    """Grade one response against a gold answer (bare or full solution).

    Raises ``ValueError`` only for an unknown ``dataset_type`` or ``grader`` (and
    ``ImportError`` when ``math-verify`` is requested but not installed). Anything that goes
    wrong while grading comes back as ``Grade(..., correct=False, status="error:<Kind>")``,
    and an item that ran out of its budget as ``status="timeout"``: never a silent "wrong".
    ``rel_tol`` overrides the tolerance for decimal approximations (``default`` grader).
    """
    check_dataset_type(dataset_type)
    _check_grader(grader)
    response = "" if response is None else (response if isinstance(response, str) else str(response))
    gold = "" if gold is None else (gold if isinstance(gold, str) else str(gold))
    if grader == "math-verify":
        from selfimprove.grading.mathverify import _lib

        _lib()  # surface a missing package as a clear ImportError
    try:
        return _IMPL[grader](response, gold, dataset_type, rel_tol)
    except Exception as exc:
        log.debug("grading failed", exc_info=True)
        return Grade(None, False, grader, f"error:{type(exc).__name__}", len(response) > MAX_RESPONSE_CHARS)


def warm_up(workers: int | None = None) -> None:
    """Start the symbolic worker processes now (a second or two) instead of on first use."""
    from selfimprove.grading.timeout import get_pool

    get_pool(workers).start()


def summarize(grades: Iterable[Grade]) -> dict[str, int]:
    """Counts of a batch: ``graded``, ``correct``, ``ok``, ``timeout``, ``error`` (all kinds),
    ``truncated``, and one ``error:<Kind>`` entry per kind seen."""
    counts: Counter[str] = Counter()
    for g in grades:
        counts["graded"] += 1
        counts["correct"] += bool(g.correct)
        counts["truncated"] += bool(g.truncated)
        if g.status.startswith("error"):
            counts["error"] += 1
            counts[g.status] += 1
        else:
            counts[g.status] += 1
    out = {k: counts.get(k, 0) for k in ("graded", "correct", "ok", "timeout", "error", "truncated")}
    out.update(sorted((k, v) for k, v in counts.items() if k.startswith("error:")))
    return out


def format_counts(counts: dict[str, int]) -> str:
    """One line for logs: ``12 graded: 9 correct; 1 timeout; 1 error (error:RecursionError 1)``."""
    text = f"{counts.get('graded', 0)} graded: {counts.get('correct', 0)} correct"
    text += f"; {counts.get('timeout', 0)} timeout; {counts.get('error', 0)} error"
    kinds = [f"{k} {v}" for k, v in counts.items() if k.startswith("error:")]
    if kinds:
        text += " (" + ", ".join(kinds) + ")"
    if counts.get("truncated"):
        text += f"; {counts['truncated']} truncated to their last {MAX_RESPONSE_CHARS} characters"
    return text


def grade_batch(
    items: Sequence[tuple[str, str, str]],
    grader: str = "default",
    workers: int | None = None,
    *,
    rel_tol: float | None = None,
) -> GradeBatch:
    """Grade ``(response, gold, dataset_type)`` triples, keeping their order.

    ``workers`` threads share ``workers + 1`` symbolic worker processes (default: CPU count,
    at most 8). The ``math-verify`` grader runs sequentially in the calling thread because its
    signal-based timeouts only work there. Timeouts and errors are counted in the result's
    ``counts`` and logged as a warning.
    """
    _check_grader(grader)
    for it in items:
        check_dataset_type(it[2])
    n = len(items)
    if workers is None:
        workers = min(8, os.cpu_count() or 1)
    workers = max(1, int(workers))
    if grader == "default" and n:
        warm_up(workers)
    if grader == "math-verify" or workers == 1 or n < 2 * workers:
        out = GradeBatch(grade(r, g, t, grader, rel_tol=rel_tol) for r, g, t in items)
    else:
        results: list[Grade | None] = [None] * n
        chunk = max(1, min(256, n // (workers * 4) or 1))

        def run(lo: int) -> None:
            for i in range(lo, min(n, lo + chunk)):
                r, g, t = items[i]
                results[i] = grade(r, g, t, grader, rel_tol=rel_tol)

        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="grade") as ex:
            list(ex.map(run, range(0, n, chunk)))
        out = GradeBatch(r if r is not None else Grade(None, False, grader, "error:Missing") for r in results)
    counts = out.counts
    if counts["timeout"] or counts["error"]:
        log.warning("grading with %s: %s", grader, format_counts(counts))
    return out


def vote(answers: Sequence[str | None], dataset_type: str) -> Vote:
    """Group answers into equivalence classes and return the majority class.

    ``None`` answers never vote; with no votes the result is ``Vote(None, 0, [])``. A
    comparison that ran out of budget counts as "not the same class".
    """
    check_dataset_type(dataset_type)
    classes: list[list[int]] = []
    reps: list[str] = []
    for i, ans in enumerate(answers):
        if ans is None:
            continue
        ans = str(ans)
        for k, rep in enumerate(reps):
            if rep == ans or compare(rep, ans).equal:
                classes[k].append(i)
                break
        else:
            reps.append(ans)
            classes.append([i])
    if not classes:
        return Vote(None, 0, [])
    best = max(range(len(classes)), key=lambda k: (len(classes[k]), -k))
    return Vote(str(answers[classes[best][0]]), len(classes[best]), classes)


def main(argv: Sequence[str] | None = None) -> int:
    """The batch command line (:func:`selfimprove.grading.cli.main`); returns the exit status."""
    from selfimprove.grading.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    import sys

    sys.exit(main())
