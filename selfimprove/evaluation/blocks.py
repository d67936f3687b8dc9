"""Metric blocks: every number over one set of questions (a dataset, or one level of it).

Response only (greedy, Pass@K, MV@K), parallel critique-refine per mode, critic-filtered
voting, compute-matched baselines and the critic's own metrics, from the joined
:class:`~selfimprove.evaluation.joins.QuestionData`. Sequential critique-refine lives in
:mod:`selfimprove.evaluation.sequential_metrics`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from selfimprove.evaluation.estimators import (
    Answer,
    VoteFn,
    as_fraction,
    critic_filtered_mv_at_k,
    harmonic_mean,
    mean,
    mv_at_k,
    num,
    pass_at_k,
    ratio,
)
from selfimprove.evaluation.joins import QuestionData
from selfimprove.evaluation.sequential_metrics import sequential_metrics

#: Parallel critique-refine modes, in the order they are reported.
PARALLEL_MODES: tuple[str, ...] = ("oracle", "refine_all", "verifier")

#: Variants of "with critique" shown in the compute-matched comparison.
COMPUTE_MATCHED_MODES: tuple[str, ...] = ("refine_all", "verifier")


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


def _mv(qs: Sequence[QuestionData], finals: Sequence[Sequence[Answer]], k: int, vote_fn: VoteFn) -> dict:
    return mean([mv_at_k(f, k, q.dataset_type, vote_fn) for q, f in zip(qs, finals)])


def response_only_metrics(qs: Sequence[QuestionData], ks: Sequence[int], vote_fn: VoteFn) -> dict:
    """Greedy accuracy (``None`` without greedy samples) and Pass@K / MV@K of the pool."""
    greedy = None
    if qs and qs[0].greedy is not None:
        greedy = mean([as_fraction(q.greedy.correct) for q in qs])
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
        finals = [parallel_final_answers(q.pool, q.refined, q.verdicts, mode) for q in qs]
        out[mode] = {"mode": mode, **_curves(qs, finals, ks, vote_fn)}
    return out


def critic_filtered_metrics(qs: Sequence[QuestionData], ks: Sequence[int], vote_fn: VoteFn) -> dict | None:
    """Critic-filtered MV@K over the pool (``None`` without critiques)."""
    if not qs or qs[0].verdicts is None:
        return None
    return {
        "mv_at_k": [
            {"k": k, **mean([critic_filtered_mv_at_k(q.pool, q.verdicts, k, q.dataset_type, vote_fn) for q in qs])}
            for k in ks
        ]
    }


def compute_matched_metrics(qs: Sequence[QuestionData], ks: Sequence[int], vote_fn: VoteFn) -> list | None:
    """MV without critique at K, 2K, 3K samples next to MV with critique at K, for 3K <= N.

    Critiquing and refining a sample costs about two extra generations, so K critiqued and
    refined samples cost about as much as 3K plain samples. ``None`` without refinements;
    the ``verifier`` variant is ``None`` without critiques.
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
            finals = [parallel_final_answers(q.pool, q.refined, q.verdicts, mode) for q in qs]
            with_critique[mode] = _mv(qs, finals, k, vote_fn)
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


def critic_metrics(qs: Sequence[QuestionData]) -> dict:
    """Critic quality on the actor's pool samples (sample-level).

    * ``accuracy_before_refinement``: share of pool samples that are correct.
    * ``accuracy_after_refinement``: share correct after refinement, per mode
      (``refine_all``, ``oracle``, and ``verifier`` when critiques exist).
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
        after = {}
        for mode in PARALLEL_MODES:
            if mode == "verifier" and not has_verdicts:
                after[mode] = None
                continue
            finals = [a for q in qs for a in parallel_final_answers(q.pool, q.refined, q.verdicts, mode)]
            after[mode] = num(ratio(sum(a.correct for a in finals), len(finals)), len(finals))
        out["accuracy_after_refinement"] = after
        pairs = [(s, r) for q in qs for s, r in zip(q.pool, q.refined)]
        wrong = [r for s, r in pairs if not s.correct]
        right = [r for s, r in pairs if s.correct]
        out["helpfulness"] = num(ratio(sum(r.correct for r in wrong), len(wrong)), len(wrong))
        out["harm"] = num(ratio(sum(not r.correct for r in right), len(right)), len(right))
    if has_verdicts:
        judged = [(s, v) for q in qs for s, v in zip(q.pool, q.verdicts) if v is not None]
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
        n_critiques = sum(len(q.verdicts) for q in qs)
        violations = sum(v is None for q in qs for v in q.verdicts)
        share = num(ratio(violations, n_critiques), n_critiques)
        out["format_violations"] = {"count": violations, "share": share["value"], "n": n_critiques}
    return out


def metrics_block(qs: Sequence[QuestionData], ks: Sequence[int], vote_fn: VoteFn) -> dict:
    """Every metric over one set of questions (a dataset, or one level of a dataset)."""
    return {
        "n_questions": len(qs),
        "response_only": response_only_metrics(qs, ks, vote_fn),
        "parallel": parallel_metrics(qs, ks, vote_fn),
        "critic_filtered": critic_filtered_metrics(qs, ks, vote_fn),
        "sequential": sequential_metrics(qs, vote_fn),
        "compute_matched": compute_matched_metrics(qs, ks, vote_fn),
        "critic": critic_metrics(qs),
    }
