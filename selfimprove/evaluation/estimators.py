"""Estimators: Pass@K, majority voting, MV@K, the stored-number helpers and confidence intervals.

Pure functions over graded answers of one question (:class:`Answer`); nothing here reads
records or files. Values are exact :class:`fractions.Fraction` numbers, converted to ``float``
only when stored (:func:`num`), so every stored result is the correctly rounded value of the
exact quantity; each stored number carries its denominator ``n``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from statistics import NormalDist
from typing import Any, Protocol


class Vote(Protocol):
    """The result of majority voting over a list of answers (see ``selfimprove.grading.api``).

    ``classes`` holds the indices (into the voted list) of each equivalence class of
    answers, classes in order of first appearance; ``None`` answers belong to no class.
    ``answer`` is the representative answer of the winning class and ``size`` its size.
    """

    @property
    def answer(self) -> str | None: ...

    @property
    def size(self) -> int: ...

    @property
    def classes(self) -> list[list[int]]: ...


#: ``vote_fn(answers, dataset_type) -> Vote``.
VoteFn = Callable[[Sequence["str | None"], str], Vote]


@dataclass(frozen=True)
class Answer:
    """A graded answer: the extracted prediction and whether it matches the gold answer."""

    pred: str | None
    correct: bool
    tokens: int | None = None  # completion tokens spent on it, where the record says


def default_vote_fn() -> VoteFn:
    """Return ``selfimprove.grading.api.vote``, the answer-equivalence majority vote."""
    try:
        from selfimprove.grading.api import vote
    except ImportError as e:  # pragma: no cover - depends on the installed package
        raise ImportError("selfimprove.grading.api.vote is not available; pass vote_fn= explicitly") from e
    return vote


@dataclass(frozen=True)
class ExactVote:
    """A :class:`Vote` over identical answer strings (see :func:`exact_vote`)."""

    answer: str | None
    size: int
    classes: list[list[int]]


def exact_vote(answers: Sequence[str | None], dataset_type: str) -> Vote:
    """Majority over identical answer strings, the released ``Counter(answers).most_common(1)``.

    Answers are grouped only when their strings are the same (no equivalence check), classes
    in order of first appearance; the largest wins and a tie goes to the class seen first, as
    ``most_common`` returns it. ``None`` answers never vote. ``dataset_type`` is not used (the
    signature is :data:`VoteFn`'s)."""
    groups: dict[str, list[int]] = {}
    for i, a in enumerate(answers):
        if a is not None:
            groups.setdefault(str(a), []).append(i)
    if not groups:
        return ExactVote(None, 0, [])
    classes = list(groups.values())
    best = max(classes, key=len)  # the first of the largest, as Counter.most_common(1)
    return ExactVote(str(answers[best[0]]), len(best), classes)


#: The majority-vote rules (knob ``VOTING``): answers grouped by the grader's equivalence, or by
#: identical strings as the released code counts them.
VOTINGS: tuple[str, ...] = ("equivalence", "exact")


def vote_fn_for(voting: str | None) -> VoteFn:
    """The vote function of a rule of :data:`VOTINGS` (``None``: ``equivalence``)."""
    if voting in (None, "equivalence"):
        return default_vote_fn()
    if voting == "exact":
        return exact_vote
    raise ValueError(f"voting must be one of {', '.join(VOTINGS)}, not {voting!r}")


def memoised_vote(vote_fn: VoteFn) -> VoteFn:
    """Wrap ``vote_fn`` so that each distinct ``(answers, dataset_type)`` is voted once.

    The same blocks recur across modes, budgets and the per-level breakdown, and
    equivalence checking can be slow; ``vote_fn`` must be deterministic.
    """
    cache: dict[tuple, Vote] = {}

    def vote(answers: Sequence[str | None], dataset_type: str) -> Vote:
        key = (tuple(answers), dataset_type)
        if key not in cache:
            cache[key] = vote_fn(list(answers), dataset_type)
        return cache[key]

    return vote


def budgets(n: int) -> list[int]:
    """Sample budgets K reported for a pool of ``n``: powers of two up to ``n``, plus ``n``."""
    if n < 1:
        return []
    ks = []
    k = 1
    while k <= n:
        ks.append(k)
        k *= 2
    if ks[-1] != n:
        ks.append(n)
    return ks


def pass_at_k(n: int, c: int, k: int) -> Fraction:
    """Unbiased Pass@k estimator for one question: ``1 - C(n-c, k) / C(n, k)``.

    The probability that at least one of ``k`` samples drawn without replacement from
    ``n`` samples, ``c`` of them correct, is correct.
    """
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass_at_k needs 0 <= c <= n and 1 <= k <= n, got n={n} c={c} k={k}")
    return 1 - Fraction(math.comb(n - c, k), math.comb(n, k))


def majority_vote_correct(answers: Sequence[Answer], dataset_type: str, vote_fn: VoteFn) -> bool:
    """Whether majority voting over ``answers`` yields a correct answer.

    Answers are grouped into equivalence classes by ``vote_fn``; ``None`` predictions never
    vote. The winning class is the largest one, ties going to the class that appeared
    first. The vote is correct iff the representative of the winning class -- its first
    member -- is correct. A block without any parseable answer is wrong.
    """
    preds = [a.pred for a in answers]
    result = vote_fn(preds, dataset_type)
    winner: list[int] | None = None
    for cls in result.classes:
        members = [i for i in cls if preds[i] is not None]
        if members and (winner is None or len(members) > len(winner)):
            winner = members
    if winner is None:
        return False
    return answers[winner[0]].correct


def blocks(items: Sequence, k: int) -> list[Sequence]:
    """Split ``items`` (in index order) into ``len(items) // k`` consecutive blocks of ``k``."""
    return [items[b * k : (b + 1) * k] for b in range(len(items) // k)]


def mv_at_k(answers: Sequence[Answer], k: int, dataset_type: str, vote_fn: VoteFn) -> Fraction:
    """MV@k for one question: the share of its ``N // k`` disjoint blocks voted correct."""
    bs = blocks(answers, k)
    if not bs:
        raise ValueError(f"MV@{k} needs at least {k} samples, got {len(answers)}")
    return Fraction(sum(majority_vote_correct(b, dataset_type, vote_fn) for b in bs), len(bs))


def critic_filtered_mv_at_k(
    answers: Sequence[Answer],
    verdicts: Sequence[str | None],
    k: int,
    dataset_type: str,
    vote_fn: VoteFn,
) -> Fraction:
    """Critic-filtered MV@k for one question.

    In each block of ``k`` samples the samples whose critique verdict is ``"wrong"`` are
    dropped and the rest vote; a block in which every sample was judged wrong votes among
    all of its samples.
    """
    scores = []
    for block, block_verdicts in zip(blocks(answers, k), blocks(verdicts, k)):
        kept = [a for a, v in zip(block, block_verdicts) if v != "wrong"]
        scores.append(majority_vote_correct(kept or block, dataset_type, vote_fn))
    if not scores:
        raise ValueError(f"MV@{k} needs at least {k} samples, got {len(answers)}")
    return Fraction(sum(scores), len(scores))


#: Parallel critique-refine modes, in the order they are reported.
PARALLEL_MODES: tuple[str, ...] = ("oracle", "refine_all", "verifier")


def parallel_final_answers(
    samples: Sequence[Answer],
    refined: Sequence[Answer],
    verdicts: Sequence[str | None] | None,
    mode: str,
) -> list[Answer]:
    """The final answer of every pool sample under a parallel critique-refine ``mode``.

    * ``oracle``: the refinement replaces only samples known to be wrong (ground truth);
      correct samples keep their answer.
    * ``refine_all``: every sample is replaced by its refinement.
    * ``verifier``: the refinement replaces only samples whose critique verdict is
      ``"wrong"``; a ``"correct"`` or unparseable (``None``) verdict keeps the original.
    """
    if mode == "oracle":
        return [s if s.correct else r for s, r in zip(samples, refined)]
    if mode == "refine_all":
        return list(refined)
    if mode == "verifier":
        if verdicts is None:
            raise ValueError("the verifier mode needs critique verdicts")
        return [r if v == "wrong" else s for s, r, v in zip(samples, refined, verdicts)]
    raise ValueError(f"unknown parallel mode {mode!r}; expected one of {PARALLEL_MODES}")


def harmonic_mean(a: Fraction | None, b: Fraction | None) -> Fraction | None:
    """Harmonic mean ``2ab / (a + b)``; ``None`` if either is undefined, 0 if both are 0."""
    if a is None or b is None:
        return None
    if a + b == 0:
        return Fraction(0)
    return 2 * a * b / (a + b)


# ---------------------------------------------------------------------------------------
# Stored numbers
# ---------------------------------------------------------------------------------------


def num(value: Fraction | None, n: int) -> dict[str, Any]:
    """A stored number: ``{"value": float | None, "n": denominator}``."""
    return {"value": None if value is None else float(value), "n": n}


def ratio(hits: int, n: int) -> Fraction | None:
    """``hits / n`` exactly; ``None`` for an empty denominator."""
    return Fraction(hits, n) if n else None


def as_fraction(hit: bool) -> Fraction:
    return Fraction(int(hit))


def mean(values: Sequence[Fraction]) -> dict[str, Any]:
    """Mean of per-item values with ``n = len(values)``; ``None`` when there are none."""
    return num(sum(values, Fraction(0)) / len(values) if values else None, len(values))


# ---------------------------------------------------------------------------------------
# Bootstrap confidence intervals over questions
# ---------------------------------------------------------------------------------------

#: Resamples and coverage of every confidence interval unless a caller says otherwise.
BOOTSTRAP_SAMPLES = 2000
CONFIDENCE = 0.95


def bootstrap_mean(
    values: Sequence[float], samples: int = BOOTSTRAP_SAMPLES, confidence: float = CONFIDENCE, seed: int = 0
) -> dict[str, Any]:
    """Mean of per-question values with a percentile bootstrap interval (questions resampled with
    replacement): ``{"value", "low", "high", "n"}``; all ``None`` without values."""
    import numpy as np

    n = len(values)
    if n == 0:
        return {"value": None, "low": None, "high": None, "n": 0}
    x = np.asarray(values, dtype=float)
    idx = np.random.default_rng(seed).integers(0, n, size=(samples, n))
    means = x[idx].mean(axis=1)
    tail = (1 - confidence) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return {"value": float(x.mean()), "low": float(low), "high": float(high), "n": n}


def bootstrap_difference(
    a: Sequence[float],
    b: Sequence[float],
    paired: bool,
    samples: int = BOOTSTRAP_SAMPLES,
    confidence: float = CONFIDENCE,
    seed: int = 0,
) -> dict[str, Any]:
    """``mean(b) - mean(a)`` with a percentile bootstrap interval.

    ``paired``: ``a[i]`` and ``b[i]`` belong to the same question and are resampled together;
    otherwise each side is resampled on its own. ``significant`` is true when the interval
    excludes zero.
    """
    import numpy as np

    if not len(a) or not len(b) or (paired and len(a) != len(b)):
        return {
            "value": None,
            "low": None,
            "high": None,
            "n": min(len(a), len(b)),
            "paired": paired,
            "significant": False,
        }
    xa, xb = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    rng = np.random.default_rng(seed)
    if paired:
        idx = rng.integers(0, len(xa), size=(samples, len(xa)))
        diffs = (xb - xa)[idx].mean(axis=1)
    else:
        ia = rng.integers(0, len(xa), size=(samples, len(xa)))
        ib = rng.integers(0, len(xb), size=(samples, len(xb)))
        diffs = xb[ib].mean(axis=1) - xa[ia].mean(axis=1)
    tail = (1 - confidence) / 2
    low, high = (float(v) for v in np.quantile(diffs, [tail, 1 - tail]))
    return {
        "value": float((xb - xa).mean() if paired else xb.mean() - xa.mean()),
        "low": low,
        "high": high,
        "n": len(xa) if paired else min(len(xa), len(xb)),
        "paired": paired,
        "significant": low > 0 or high < 0,
    }


def bootstrap_ratio(
    hits: Sequence[int],
    totals: Sequence[int],
    samples: int = BOOTSTRAP_SAMPLES,
    confidence: float = CONFIDENCE,
    seed: int = 0,
) -> dict[str, Any]:
    """``sum(hits) / sum(totals)`` over questions (a sample-level share such as helpfulness) with a
    percentile bootstrap interval that resamples questions; ``n`` is ``sum(totals)``."""
    import numpy as np

    h, t = np.asarray(hits, dtype=float), np.asarray(totals, dtype=float)
    if not len(t) or t.sum() == 0:
        return {"value": None, "low": None, "high": None, "n": int(t.sum()) if len(t) else 0}
    idx = np.random.default_rng(seed).integers(0, len(t), size=(samples, len(t)))
    den = t[idx].sum(axis=1)
    ratios = h[idx].sum(axis=1)[den > 0] / den[den > 0]
    tail = (1 - confidence) / 2
    low, high = np.quantile(ratios, [tail, 1 - tail])
    return {"value": float(h.sum() / t.sum()), "low": float(low), "high": float(high), "n": int(t.sum())}


# ---------------------------------------------------------------------------------------
# Score intervals for proportions (closed form, no resampling)
# ---------------------------------------------------------------------------------------


def z_value(confidence: float = CONFIDENCE) -> float:
    """The two-sided standard-normal quantile of ``confidence`` (1.96 for 95 %)."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    return NormalDist().inv_cdf(1 - (1 - confidence) / 2)


def wilson(hits: float, n: int, confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """The Wilson score interval of the proportion ``hits / n``; ``None`` when ``n`` is 0.

    Unlike the normal approximation it stays inside [0, 1] and does not shrink to a point at 0 or
    ``n`` hits (0 of 10: [0, 0.278]). ``hits`` may be fractional, the sum of per-item values in
    [0, 1] (Pass@1, a vote with ties): their variance is at most p(1 - p), so the interval is then
    conservative."""
    if n <= 0:
        return None
    if not 0 <= hits <= n:
        raise ValueError(f"hits must be between 0 and n = {n}, got {hits}")
    p, z = hits / n, z_value(confidence)
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    low = 0.0 if hits == 0 else max(0.0, centre - half)  # exact ends where rounding would miss them
    high = 1.0 if hits == n else min(1.0, centre + half)
    return low, high


def harmonic_mean_interval(
    hits_a: float, n_a: int, hits_b: float, n_b: int, confidence: float = CONFIDENCE
) -> tuple[float, float] | None:
    """An interval for the harmonic mean of two independent proportions (ProcessBench's F1).

    The harmonic mean grows with each argument, so when both proportions lie in their Wilson
    intervals at ``1 - (1 - confidence) / 2`` each (both at once with probability at least
    ``confidence``, by Bonferroni), it lies between the harmonic mean of the two lower bounds and
    that of the two upper bounds. Conservative, closed form, and not a point where a proportion is
    0 or 1 (where a parametric bootstrap or the delta method collapse). ``None`` when either
    proportion is undefined."""
    each = 1 - (1 - confidence) / 2
    a, b = wilson(hits_a, n_a, each), wilson(hits_b, n_b, each)
    if a is None or b is None:
        return None

    def hm(x: float, y: float) -> float:
        return 2 * x * y / (x + y) if x + y else 0.0

    return hm(a[0], b[0]), hm(a[1], b[1])


def auc(scores: Sequence[float], positive: Sequence[bool]) -> float | None:
    """Area under the ROC curve: the chance that a positive item scores above a negative one (ties
    count half); None without both classes."""
    n_pos = sum(map(bool, positive))
    n_neg = len(positive) - n_pos
    if not n_pos or not n_neg:
        return None
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    rank_sum, i = 0.0, 0
    while i < len(order):  # mid-ranks over ties
        j = i
        while j + 1 < len(order) and scores[order[j + 1]] == scores[order[i]]:
            j += 1
        mid = (i + j) / 2 + 1
        rank_sum += sum(mid for k in range(i, j + 1) if positive[order[k]])
        i = j + 1
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
