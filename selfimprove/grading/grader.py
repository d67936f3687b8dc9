"""Grading one response: ``Grade``, ``grade()`` and the three graders behind it.

``grade(response, gold, dataset_type, grader="default")`` extracts the final answer, extracts
the reference answer and compares them. Anything that goes wrong is a status, not a verdict:
``Grade.status`` is ``ok``, ``timeout`` (the item ran out of its budget) or
``error:<ExceptionKind>``. The public facade is :mod:`selfimprove.grading.api`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from selfimprove.grading.equiv import UNIT_POLICIES, Verdict
from selfimprove.grading.equiv import compare as _compare
from selfimprove.grading.extract import MAX_RESPONSE_CHARS, check_dataset_type
from selfimprove.grading.extract import extract_gold as _extract_gold
from selfimprove.grading.extract import extract_pred as _extract_pred

__all__ = [
    "GRADERS",
    "STATUSES",
    "Grade",
    "Verdict",
    "extract_gold",
    "extract_pred",
    "compare",
    "is_equivalent",
    "grade",
    "check_grader",
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


def check_grader(grader: str) -> str:
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


def check_options(units: str) -> None:
    if units not in UNIT_POLICIES:
        raise ValueError(f"unknown units policy {units!r}: expected one of {', '.join(UNIT_POLICIES)}")


def compare(
    a: str | None,
    b: str | None,
    rel_tol: float | None = None,
    *,
    ordered_lists: bool = False,
    units: str = "convert",
) -> Verdict:
    """Whether two bare answers are equivalent, as ``Verdict(equal, status)``."""
    check_options(units)
    try:
        return _compare(a, b, rel_tol=rel_tol, ordered_lists=ordered_lists, units=units)
    except Exception as exc:
        return Verdict(False, f"error:{type(exc).__name__}")


def is_equivalent(a: str | None, b: str | None, dataset_type: str) -> bool:
    """Whether two bare answers are equivalent; bounded, never raises on strings."""
    check_dataset_type(dataset_type)
    return compare(a, b).equal


def _grade_default(response: str, gold: str, dataset_type: str, rel_tol: float | None, **opts: Any) -> Grade:
    truncated = len(response) > MAX_RESPONSE_CHARS
    pred = _extract_pred(response, dataset_type)
    ref = _extract_gold(gold, dataset_type)
    if pred is None or ref is None:
        return Grade(pred, False, "default", "ok", truncated)
    verdict = _compare(ref, pred, rel_tol=rel_tol, **opts)
    return Grade(pred, verdict.equal, "default", verdict.status, truncated)


def _grade_seed(response: str, gold: str, dataset_type: str, rel_tol: float | None, **opts: Any) -> Grade:
    from selfimprove.grading.seed import seed_compare, seed_extract_gold, seed_extract_response

    # Like the default grader, a response is read from its last MAX_RESPONSE_CHARS characters
    # (the released code has no bound and takes seconds on megabyte inputs).
    truncated = len(response) > MAX_RESPONSE_CHARS
    an = seed_extract_gold(gold[-MAX_RESPONSE_CHARS:], dataset_type)
    pred = seed_extract_response(response[-MAX_RESPONSE_CHARS:], dataset_type)
    return Grade(pred, seed_compare(an, pred), "mathcritique", "ok", truncated)


def _grade_mathverify(response: str, gold: str, dataset_type: str, rel_tol: float | None, **opts: Any) -> Grade:
    from selfimprove.grading.mathverify import mathverify_grade

    pred, ok = mathverify_grade(response, gold)
    return Grade(pred, ok, "math-verify")


_IMPL = {"default": _grade_default, "mathcritique": _grade_seed, "math-verify": _grade_mathverify}


def grade(
    response: str,
    gold: str,
    dataset_type: str,
    grader: str = "default",
    *,
    rel_tol: float | None = None,
    ordered_lists: bool = False,
    units: str = "convert",
) -> Grade:
    """Grade one response against a gold answer (bare or full solution).

    Raises ``ValueError`` only for an unknown ``dataset_type`` or ``grader`` (and
    ``ImportError`` when ``math-verify`` is requested but not installed). Anything that goes
    wrong while grading comes back as ``Grade(..., correct=False, status="error:<Kind>")``,
    and an item that ran out of its budget as ``status="timeout"``: never a silent "wrong".
    ``rel_tol`` overrides the tolerance for decimal approximations, ``ordered_lists=True``
    compares bare lists in order (as sequences, not solution sets), and ``units="ignore"``
    drops units even when both answers carry different ones (``default`` grader; see
    docs/grading.md, "Policies").
    """
    check_dataset_type(dataset_type)
    check_grader(grader)
    check_options(units)
    response = "" if response is None else (response if isinstance(response, str) else str(response))
    gold = "" if gold is None else (gold if isinstance(gold, str) else str(gold))
    if grader == "math-verify":
        from selfimprove.grading.mathverify import _lib

        _lib()  # surface a missing package as a clear ImportError
    try:
        return _IMPL[grader](response, gold, dataset_type, rel_tol, ordered_lists=ordered_lists, units=units)
    except Exception as exc:
        log.debug("grading failed", exc_info=True)
        return Grade(None, False, grader, f"error:{type(exc).__name__}", len(response) > MAX_RESPONSE_CHARS)
