"""Test-time evaluation metrics for MathCritique.

Every number in the evaluation is computed here from already-graded generation records;
nothing in this module calls a model, and apart from the optional helper at the bottom
(:func:`write_results`) it does no file I/O; ``python -m selfimprove metrics`` is its command
line (:mod:`selfimprove.stages.metrics`, which reads the records with the checking readers of
:mod:`selfimprove.core.record_io`).

The methods follow the paper (arXiv 2411.16579, Sections 3 and 5):

* **Response only** -- greedy accuracy, and Pass@K / MV@K computed from a single pool of
  ``N`` samples per question for every budget ``K`` in 1, 2, 4, ..., N.
* **Parallel critique-refine** -- every pool sample is critiqued once and refined once;
  Pass@K / MV@K over the final answers in three modes (``oracle``, ``refine_all``,
  ``verifier``).
* **Critic-filtered majority voting** -- samples the critic judges wrong are dropped
  before voting.
* **Sequential critique-refine** -- one chain of rounds per question; accuracy of the
  round-``r`` answer ("Sequential Final") and majority vote over rounds ``0..r``
  ("Sequential MV").
* **Compute-matched baselines** -- MV at K, 2K and 3K plain samples next to MV at K
  critiqued-and-refined samples (Fig. B of the paper).
* **Critic metrics** -- accuracy after refinement, discrimination (accuracy and a
  ProcessBench-style F1), helpfulness, harm, and format violations.

Everything is broken down by dataset and by difficulty level (1-5). See
``docs/evaluation.md`` for the definitions and the ``results.json`` schema.

Numbers are accumulated as exact :class:`fractions.Fraction` values and converted to
``float`` only when stored, so every result is the correctly rounded value of the exact
quantity. Each stored number comes with its denominator ``n`` and is ``None`` when that
denominator is empty.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from selfimprove.core.records import ChainStep, Critique, Question, RecordT, Refinement, Sample, natural_key
from selfimprove.evaluation.blocks import (
    UPPER_BOUND_MODES,
    critic_filtered_metrics,
    critic_metrics,
    metrics_block,
    parallel_metrics,
    response_only_metrics,
)
from selfimprove.evaluation.compute_matched import (
    COMPUTE_MATCHED_MODES,
    compute_matched_metrics,
    token_matched_metrics,
)
from selfimprove.evaluation.estimators import (
    PARALLEL_MODES,
    VOTINGS,
    Answer,
    Vote,
    VoteFn,
    budgets,
    critic_filtered_mv_at_k,
    default_vote_fn,
    exact_vote,
    harmonic_mean,
    majority_vote_correct,
    memoised_vote,
    mv_at_k,
    parallel_final_answers,
    pass_at_k,
    vote_fn_for,
)
from selfimprove.evaluation.joins import HARDEST_LEVEL, LEVEL_BINS, VERDICTS, QuestionData, level_from_accuracy, prepare
from selfimprove.evaluation.schema import SCHEMA_VERSION, validate_results
from selfimprove.evaluation.sequential_metrics import SEQUENTIAL_HEADLINES, SequentialSettings, sequential_metrics

__all__ = [
    "COMPUTE_MATCHED_MODES",
    "HARDEST_LEVEL",
    "LEVEL_BINS",
    "PARALLEL_MODES",
    "SCHEMA_VERSION",
    "SEQUENTIAL_HEADLINES",
    "UPPER_BOUND_MODES",
    "VERDICTS",
    "VOTINGS",
    "Answer",
    "QuestionData",
    "SequentialSettings",
    "Vote",
    "VoteFn",
    "budgets",
    "compute_matched_metrics",
    "compute_results",
    "critic_filtered_metrics",
    "critic_filtered_mv_at_k",
    "critic_metrics",
    "default_vote_fn",
    "exact_vote",
    "harmonic_mean",
    "level_from_accuracy",
    "majority_vote_correct",
    "memoised_vote",
    "metrics_block",
    "mv_at_k",
    "parallel_final_answers",
    "parallel_metrics",
    "pass_at_k",
    "prepare",
    "response_only_metrics",
    "sequential_metrics",
    "token_matched_metrics",
    "unanswered_summary",
    "vote_fn_for",
    "write_results",
]


def compute_results(
    questions: Iterable[Question],
    greedy: Iterable[Sample] | None,
    pool: Iterable[Sample],
    critiques: Iterable[Critique] | None,
    refinements: Iterable[Refinement] | None,
    chains: Iterable[ChainStep] | None,
    config: Mapping[str, Any] | None,
    vote_fn: VoteFn | None = None,
) -> dict:
    """Compute every test-time number from graded generation records.

    ``greedy``, ``critiques``, ``refinements`` and ``chains`` may be empty or ``None``: the
    methods needing them are recorded as ``None`` and ``available`` says which inputs were
    present. ``config`` is stored verbatim; an integer ``config["R"]`` (or
    ``config["rounds"]``) extends the sequential curves to that many rounds, carrying each
    chain's last answer forward; ``config["sequential_mode"]`` (``oracle``, ``all``,
    ``verifier``) says how the chains were grown and ``config["sequential_headline"]``
    (``mv``, or ``final`` for ``--only-final-sequential``) which sequential number leads.
    ``vote_fn`` defaults to the rule ``config["voting"]`` names (:data:`VOTINGS`: ``equivalence``,
    ``selfimprove.grading.api.vote``, when absent; ``exact``: identical answer strings).

    ``upper_bounds`` lists the stored numbers that use the ground truth (oracle modes);
    ``unanswered`` counts the items whose prompt was longer than the context window
    (:func:`unanswered_summary`).

    Returns a JSON-serialisable dict; its schema is documented in ``docs/evaluation.md``.
    Raises :class:`ValueError` (naming the offending id) on inconsistent records.
    """
    config = dict(config or {})
    rounds = next(
        (v for v in (config.get("R"), config.get("rounds")) if isinstance(v, int) and not isinstance(v, bool)), None
    )
    # read twice (the joins and the unanswered count), so one-shot iterables become lists
    pool = list(pool)
    greedy, critiques, refinements, chains = (
        _listed(greedy),
        _listed(critiques),
        _listed(refinements),
        _listed(chains),
    )
    qs, n_pool, n_rounds = prepare(questions, greedy, pool, critiques, refinements, chains, rounds)
    vote_fn = memoised_vote(vote_fn if vote_fn is not None else vote_fn_for(config.get("voting")))
    ks = budgets(n_pool)
    headline = config.get("sequential_headline", "mv")
    if headline not in SEQUENTIAL_HEADLINES:
        raise ValueError(f"config sequential_headline must be one of {SEQUENTIAL_HEADLINES}, not {headline!r}")
    mode = config.get("sequential_mode")
    seq = None
    if n_rounds is not None:
        seq = SequentialSettings(rounds=n_rounds, mode=mode, only_final=headline == "final")

    by_dataset: dict[str, list[QuestionData]] = {}
    for q in qs:
        by_dataset.setdefault(q.dataset, []).append(q)

    datasets: dict[str, dict[str, Any]] = {}
    for name, dqs in by_dataset.items():
        types = sorted({q.dataset_type for q in dqs})
        levels = sorted({q.level for q in dqs})
        datasets[name] = {
            "dataset_type": types[0] if len(types) == 1 else types,
            "n_questions": len(dqs),
            "level_source": dict(sorted(Counter(q.level_source for q in dqs).items())),
            "level_counts": {str(lv): sum(q.level == lv for q in dqs) for lv in levels},
            "overall": metrics_block(dqs, ks, vote_fn, seq),
            "by_level": {str(lv): metrics_block([q for q in dqs if q.level == lv], ks, vote_fn, seq) for lv in levels},
        }

    first = qs[0]
    upper_bounds = []
    if first.refined is not None:
        upper_bounds += [f"parallel.{m}" for m in UPPER_BOUND_MODES]
        upper_bounds += [f"critic.accuracy_after_refinement.{m}" for m in UPPER_BOUND_MODES]
    if first.chains is not None and mode == "oracle":
        upper_bounds.append("sequential")
    results = {
        "schema_version": SCHEMA_VERSION,
        "config": config,
        "N": n_pool,
        "R": n_rounds,
        "chains": len(first.chains) if first.chains is not None else None,
        "ks": ks,
        "parallel_modes": list(PARALLEL_MODES),
        "upper_bounds": upper_bounds,
        "available": {
            "greedy": first.greedy is not None,
            "critiques": first.verdicts is not None,
            "refinements": first.refined is not None,
            "chains": first.chains is not None,
            "tokens": bool(datasets) and all(ds["overall"]["compute_matched_tokens"] for ds in datasets.values()),
        },
        "datasets": datasets,
        "unanswered": unanswered_summary(greedy, pool, critiques, refinements, chains),
    }
    validate_results(results)
    return results


def _listed(records: Iterable[RecordT] | None) -> list[RecordT] | None:
    return None if records is None else list(records)


def unanswered_summary(
    greedy: Iterable[Sample] | None,
    pool: Iterable[Sample],
    critiques: Iterable[Critique] | None,
    refinements: Iterable[Refinement] | None,
    chains: Iterable[ChainStep] | None,
) -> dict[str, Any]:
    """The items left unanswered because their prompt is longer than the context window (empty,
    graded wrong): ``count`` over all stages, the ``questions`` they belong to, and per stage the
    ids (``greedy``, ``pool``: the samples; ``pool_critiques``, ``pool_refinements``: the pool
    samples whose critique / refinement it was; ``chain_critiques``: the chain answers whose
    critique it was; ``chain_refinements``: the chain answers of rounds >= 1)."""
    rows: dict[str, list[Mapping[str, Any]]] = {
        "greedy": [r for r in greedy or [] if r.get("unanswered")],
        "pool": [r for r in pool if r.get("unanswered")],
        "pool_critiques": [r for r in critiques or [] if r.get("unanswered")],
        "pool_refinements": [r for r in refinements or [] if r.get("unanswered")],
        "chain_critiques": [r for r in chains or [] if r.get("critique_unanswered")],
        "chain_refinements": [r for r in chains or [] if r.get("unanswered") and (r.get("round") or 0) > 0],
    }
    by_stage = {stage: sorted((str(r["id"]) for r in recs), key=natural_key) for stage, recs in rows.items()}
    return {
        "count": sum(len(ids) for ids in by_stage.values()),
        "questions": sorted({str(r.get("qid")) for recs in rows.values() for r in recs}, key=natural_key),
        "by_stage": by_stage,
    }


# ---------------------------------------------------------------------------------------
# Optional file helpers and command line
# ---------------------------------------------------------------------------------------


def write_results(results: Mapping, path: str | os.PathLike) -> None:
    """Write ``results`` as JSON atomically (temp file in the same folder + ``os.replace``)."""
    from selfimprove.core.io import atomic_write_json

    atomic_write_json(path, results)
