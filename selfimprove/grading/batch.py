"""Grading many responses: ``grade_batch`` (threads sharing warm symbolic workers), status
counts (``summarize``, ``format_counts``) and the majority ``vote`` over equivalence classes."""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from selfimprove.grading.extract import MAX_RESPONSE_CHARS, check_dataset_type
from selfimprove.grading.grader import Grade, check_grader, check_options, compare, grade

__all__ = ["GradeBatch", "Vote", "grade_batch", "summarize", "format_counts", "vote", "warm_up"]

log = logging.getLogger(__name__)


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
    ordered_lists: bool = False,
    units: str = "convert",
) -> GradeBatch:
    """Grade ``(response, gold, dataset_type)`` triples, keeping their order.

    ``workers`` threads share ``workers + 1`` symbolic worker processes (default: CPU count,
    at most 8). The ``math-verify`` grader runs sequentially in the calling thread because its
    signal-based timeouts only work there. Timeouts and errors are counted in the result's
    ``counts`` and logged as a warning. ``rel_tol``, ``ordered_lists`` and ``units`` are the
    grading policies of :func:`~selfimprove.grading.grader.grade`.
    """
    check_grader(grader)
    check_options(units)
    opts: dict[str, Any] = {"rel_tol": rel_tol, "ordered_lists": ordered_lists, "units": units}
    for it in items:
        check_dataset_type(it[2])
    n = len(items)
    if workers is None:
        workers = min(8, os.cpu_count() or 1)
    workers = max(1, int(workers))
    if grader == "default" and n:
        warm_up(workers)
    if grader == "math-verify" or workers == 1 or n < 2 * workers:
        out = GradeBatch(grade(r, g, t, grader, **opts) for r, g, t in items)
    else:
        results: list[Grade | None] = [None] * n
        chunk = max(1, min(256, n // (workers * 4) or 1))

        def run(lo: int) -> None:
            for i in range(lo, min(n, lo + chunk)):
                r, g, t = items[i]
                results[i] = grade(r, g, t, grader, **opts)

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
