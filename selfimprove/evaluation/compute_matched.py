"""Compute-matched baselines (Fig. B of the paper): critique-refine vs more plain samples.

Two matchings, both reported:

* **generation counts** (:func:`compute_matched_metrics`) -- critiquing and refining a sample
  costs about two extra generations, so MV@K with critique sits next to MV@K, MV@2K and MV@3K
  without it;
* **completion tokens** (:func:`token_matched_metrics`) -- where every pool sample, critique and
  refinement record carries ``completion_tokens``, the cost of a critiqued sample is measured:
  ``sample + critique + refinement`` tokens (``verifier``: the refinement only counts when the
  critic said wrong, since only those would be generated), averaged over the block's samples.
  With ``ratio = cost / tokens per plain sample``, K critiqued samples are matched by
  ``M = round(ratio * K)`` plain samples (halves round up) and MV@M is shown where ``M <= N``.
  Records without token counts give ``None`` and the report falls back to generation counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from typing import Any

from selfimprove.evaluation.estimators import Answer, VoteFn, mean, mv_at_k, parallel_final_answers
from selfimprove.evaluation.joins import QuestionData

#: Variants of "with critique" shown in the compute-matched comparison.
COMPUTE_MATCHED_MODES: tuple[str, ...] = ("refine_all", "verifier")


def _finals(q: QuestionData, mode: str) -> list[Answer]:
    return parallel_final_answers(q.pool, q.refinements(), q.verdicts, mode)


def _mv(qs: Sequence[QuestionData], finals: Sequence[Sequence[Answer]], k: int, vote_fn: VoteFn) -> dict:
    return mean([mv_at_k(f, k, q.dataset_type, vote_fn) for q, f in zip(qs, finals)])


def compute_matched_metrics(qs: Sequence[QuestionData], ks: Sequence[int], vote_fn: VoteFn) -> list | None:
    """MV without critique at K, 2K, 3K samples next to MV with critique at K, for 3K <= N.

    ``None`` without refinements; the ``verifier`` variant is ``None`` without critiques.
    """
    if not qs or qs[0].refined is None:
        return None
    n = len(qs[0].pool)
    pools = [q.pool for q in qs]
    rows = []
    for k in ks:
        if 3 * k > n:
            continue
        with_critique: dict[str, Any] = {}
        for mode in COMPUTE_MATCHED_MODES:
            if mode == "verifier" and qs[0].verdicts is None:
                with_critique[mode] = None
                continue
            with_critique[mode] = _mv(qs, [_finals(q, mode) for q in qs], k, vote_fn)
        rows.append(
            {
                "k": k,
                "mv_k": _mv(qs, pools, k, vote_fn),
                "mv_2k": _mv(qs, pools, 2 * k, vote_fn),
                "mv_3k": _mv(qs, pools, 3 * k, vote_fn),
                "with_critique": with_critique,
            }
        )
    return rows


def _mean_tokens(values: Sequence[int | None]) -> Fraction | None:
    """Exact mean, or ``None`` when there are no values or any is missing."""
    if not values or any(v is None for v in values):
        return None
    return Fraction(sum(v for v in values if v is not None), len(values))


def matched_budget(ratio: Fraction, k: int) -> int:
    """Plain samples costing as many tokens as ``k`` critiqued ones: ``round(ratio * k)``, halves up."""
    return int(ratio * k + Fraction(1, 2))


def token_matched_metrics(qs: Sequence[QuestionData], ks: Sequence[int], vote_fn: VoteFn) -> dict | None:
    """Compute-matched MV on completion tokens (see the module docstring).

    ``None`` without critiques and refinements, or when any of their records (or any pool
    sample) lacks ``completion_tokens``.
    """
    if not qs or qs[0].refined is None or qs[0].critique_tokens is None:
        return None
    samples = [a.tokens for q in qs for a in q.pool]
    critiques = [t for q in qs for t in (q.critique_tokens or [])]
    refinements = [a.tokens for q in qs for a in q.refinements()]
    t_sample, t_critique, t_refine = _mean_tokens(samples), _mean_tokens(critiques), _mean_tokens(refinements)
    if t_sample is None or t_critique is None or t_refine is None or t_sample == 0:
        return None
    n = len(qs[0].pool)
    pools = [q.pool for q in qs]
    modes: dict[str, Any] = {}
    for mode in COMPUTE_MATCHED_MODES:
        if mode == "verifier":
            verdicts = [v for q in qs for v in q.critiqued()]
            used = [t if v == "wrong" else 0 for t, v in zip(refinements, verdicts)]
            cost = t_sample + t_critique + (_mean_tokens(used) or 0)
        else:
            cost = t_sample + t_critique + t_refine
        ratio = cost / t_sample
        finals = [_finals(q, mode) for q in qs]
        rows = []
        for k in ks:
            m = matched_budget(ratio, k)
            if m > n:
                continue
            rows.append(
                {
                    "k": k,
                    "tokens_with_critique": float(cost * k),
                    "plain_samples": m,
                    "tokens_plain": float(t_sample * m),
                    "mv_plain": _mv(qs, pools, m, vote_fn),
                    "mv_with_critique": _mv(qs, finals, k, vote_fn),
                }
            )
        modes[mode] = {"tokens_per_critiqued_sample": float(cost), "cost_ratio": float(ratio), "rows": rows}
    return {
        "mean_completion_tokens": {
            "sample": float(t_sample),
            "critique": float(t_critique),
            "refinement": float(t_refine),
        },
        "modes": modes,
    }
