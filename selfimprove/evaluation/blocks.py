"""Metric blocks: every number over one set of questions (a dataset, or one level of it).

Response only (greedy, Pass@K, MV@K), parallel critique-refine per mode, critic-filtered
voting and the critic's own metrics, from the joined
:class:`~selfimprove.evaluation.joins.QuestionData`; compute-matched baselines come from
:mod:`selfimprove.evaluation.compute_matched` and sequential critique-refine from
:mod:`selfimprove.evaluation.sequential_metrics`.

The ``oracle`` mode decides which samples to refine from the ground truth: its numbers are
upper bounds, not achievable at test time, and every place that stores one says so
(``"upper_bound": true``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from selfimprove.evaluation.compute_matched import compute_matched_metrics, token_matched_metrics
from selfimprove.evaluation.estimators import (
    PARALLEL_MODES,
    Answer,
    VoteFn,
    as_fraction,
    critic_filtered_mv_at_k,
    harmonic_mean,
    mean,
    mv_at_k,
    num,
    parallel_final_answers,
    pass_at_k,
    ratio,
)
from selfimprove.evaluation.joins import QuestionData
from selfimprove.evaluation.sequential_metrics import SequentialSettings, sequential_metrics

#: Parallel modes whose numbers use the ground truth: upper bounds.
UPPER_BOUND_MODES: tuple[str, ...] = ("oracle",)


def _curves(
    qs: Sequence[QuestionData], finals: Sequence[Sequence[Answer]], ks: Sequence[int], vote_fn: VoteFn
) -> dict[str, list[dict[str, Any]]]:
    """Pass@K and MV@K curves over the given per-question final answers."""
    n = len(finals[0]) if finals else 0
    pass_curve, mv_curve = [], []
    for k in ks:
        pass_curve.append({"k": k, **mean([pass_at_k(n, sum(a.correct for a in f), k) for f in finals])})
        mv_curve.append({"k": k, **mean([mv_at_k(f, k, q.dataset_type, vote_fn) for q, f in zip(qs, finals)])})
    return {"pass_at_k": pass_curve, "mv_at_k": mv_curve}


def response_only_metrics(qs: Sequence[QuestionData], ks: Sequence[int], vote_fn: VoteFn) -> dict:
    """Greedy accuracy (``None`` without greedy samples) and Pass@K / MV@K of the pool."""
    greedy = None
    greedy_answers = [q.greedy for q in qs if q.greedy is not None]
    if qs and len(greedy_answers) == len(qs):
        greedy = mean([as_fraction(g.correct) for g in greedy_answers])
    return {"greedy": greedy, **_curves(qs, [q.pool for q in qs], ks, vote_fn)}


def parallel_metrics(qs: Sequence[QuestionData], ks: Sequence[int], vote_fn: VoteFn) -> dict | None:
    """Pass@K / MV@K after parallel critique-refine, per mode (``None`` without refinements).

    A mode that needs critiques (``verifier``) is ``None`` when there are none.
    """
    if not qs or qs[0].refined is None:
        return None
    out: dict[str, Any] = {}
    for mode in PARALLEL_MODES:
        if mode == "verifier" and qs[0].verdicts is None:
            out[mode] = None
            continue
        finals = [parallel_final_answers(q.pool, q.refinements(), q.verdicts, mode) for q in qs]
        out[mode] = {"mode": mode, "upper_bound": mode in UPPER_BOUND_MODES, **_curves(qs, finals, ks, vote_fn)}
    return out


def critic_filtered_metrics(qs: Sequence[QuestionData], ks: Sequence[int], vote_fn: VoteFn) -> dict | None:
    """Critic-filtered MV@K over the pool (``None`` without critiques)."""
    if not qs or qs[0].verdicts is None:
        return None
    return {
        "mv_at_k": [
            {"k": k, **mean([critic_filtered_mv_at_k(q.pool, q.critiqued(), k, q.dataset_type, vote_fn) for q in qs])}
            for k in ks
        ]
    }


def critic_metrics(qs: Sequence[QuestionData]) -> dict:
    """Critic quality on the actor's pool samples (sample-level).

    * ``accuracy_before_refinement``: share of pool samples that are correct.
    * ``accuracy_after_refinement``: share correct after refinement, per mode
      (``refine_all``, ``oracle`` -- an upper bound --, and ``verifier`` when critiques exist).
    * ``helpfulness``: share of wrong samples whose refinement is correct.
    * ``harm``: share of correct samples whose refinement is wrong.
    * ``discrimination``: over samples whose critique has a parseable verdict, the accuracy
      of the verdict against the truth, the accuracy on wrong and on correct samples, and
      ``f1`` = their harmonic mean (ProcessBench style).
    * ``format_violations``: critiques without a parseable verdict, count and share.
    """
    samples = [s for q in qs for s in q.pool]
    out: dict[str, Any] = {
        "n_samples": len(samples),
        "accuracy_before_refinement": num(ratio(sum(s.correct for s in samples), len(samples)), len(samples)),
        "accuracy_after_refinement": None,
        "helpfulness": None,
        "harm": None,
        "discrimination": None,
        "format_violations": None,
    }
    has_verdicts = bool(qs) and qs[0].verdicts is not None
    if qs and qs[0].refined is not None:
        after: dict[str, Any] = {}
        for mode in PARALLEL_MODES:
            if mode == "verifier" and not has_verdicts:
                after[mode] = None
                continue
            finals = [a for q in qs for a in parallel_final_answers(q.pool, q.refinements(), q.verdicts, mode)]
            after[mode] = num(ratio(sum(a.correct for a in finals), len(finals)), len(finals))
            if mode in UPPER_BOUND_MODES:
                after[mode]["upper_bound"] = True
        out["accuracy_after_refinement"] = after
        pairs = [(s, r) for q in qs for s, r in zip(q.pool, q.refinements())]
        wrong = [r for s, r in pairs if not s.correct]
        right = [r for s, r in pairs if s.correct]
        out["helpfulness"] = num(ratio(sum(r.correct for r in wrong), len(wrong)), len(wrong))
        out["harm"] = num(ratio(sum(not r.correct for r in right), len(right)), len(right))
    if has_verdicts:
        judged = [(s, v) for q in qs for s, v in zip(q.pool, q.critiqued()) if v is not None]
        on_wrong = [v == "wrong" for s, v in judged if not s.correct]
        on_correct = [v == "correct" for s, v in judged if s.correct]
        acc_wrong = ratio(sum(on_wrong), len(on_wrong))
        acc_correct = ratio(sum(on_correct), len(on_correct))
        out["discrimination"] = {
            "accuracy": num(ratio(sum(on_wrong) + sum(on_correct), len(judged)), len(judged)),
            "accuracy_on_wrong": num(acc_wrong, len(on_wrong)),
            "accuracy_on_correct": num(acc_correct, len(on_correct)),
            "f1": num(harmonic_mean(acc_wrong, acc_correct), len(judged)),
        }
        n_critiques = sum(len(q.critiqued()) for q in qs)
        violations = sum(v is None for q in qs for v in q.critiqued())
        share = num(ratio(violations, n_critiques), n_critiques)
        out["format_violations"] = {"count": violations, "share": share["value"], "n": n_critiques}
    return out


def metrics_block(
    qs: Sequence[QuestionData], ks: Sequence[int], vote_fn: VoteFn, sequential: SequentialSettings | None = None
) -> dict:
    """Every metric over one set of questions (a dataset, or one level of a dataset)."""
    return {
        "n_questions": len(qs),
        "response_only": response_only_metrics(qs, ks, vote_fn),
        "parallel": parallel_metrics(qs, ks, vote_fn),
        "critic_filtered": critic_filtered_metrics(qs, ks, vote_fn),
        "sequential": sequential_metrics(qs, vote_fn, sequential),
        "compute_matched": compute_matched_metrics(qs, ks, vote_fn),
        "compute_matched_tokens": token_matched_metrics(qs, ks, vote_fn),
        "critic": critic_metrics(qs),
    }
