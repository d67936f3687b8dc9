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

Modules: :mod:`.grader` (one response), :mod:`.batch` (many, counts, voting), :mod:`.reward`
(reward functions for RL frameworks). The batch command line is ``python -m selfimprove process
grade ...`` (:mod:`selfimprove.stages.process`).
"""

from __future__ import annotations

from selfimprove.grading.batch import GradeBatch, Vote, format_counts, grade_batch, summarize, vote, warm_up
from selfimprove.grading.grader import (
    GRADERS,
    STATUSES,
    Grade,
    Verdict,
    compare,
    extract_gold,
    extract_pred,
    grade,
    is_equivalent,
)

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
]
