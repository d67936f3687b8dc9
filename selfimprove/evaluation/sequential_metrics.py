"""Sequential critique-refine metrics: accuracy, Pass@K and votes over the rounds of K chains.

Each question has K chains (K = 1: one chain from the greedy answer; K > 1: one chain from each
of the first K pool samples, as the released code's ``sample_num`` > 1 flow does). Round 0 of a
chain is its starting answer, round r > 0 the refinement of round r - 1. A chain may stop early
(oracle: its first answer was right; verifier: the critic judged it right).

Two majority votes are reported, named by what they vote over:

* ``mv_rounds_0_to_r`` (this project's definition): every chain's answers at rounds ``0..r``,
  a stopped chain's last answer carried forward (it counts once per round);
* ``mv_refinements_1_to_r`` (the released code's definition): the refinements actually generated
  in rounds ``1..r``; a chain that was never refined (oracle: its first answer is known to be
  correct) contributes its round-0 answer instead.

``pass_refinements_1_to_r`` is the released code's Pass@K over the same answers (any correct).
With ``only_final`` (``--only-final-sequential``) no vote over rounds is computed: the headline is
the final round's answer (with K > 1 chains, the majority of the K final answers).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from selfimprove.evaluation.estimators import (
    Answer,
    VoteFn,
    as_fraction,
    budgets,
    majority_vote_correct,
    mean,
    pass_at_k,
)
from selfimprove.evaluation.joins import QuestionData

#: ``config["sequential_headline"]`` values: the chain vote (default) or only the final answer.
SEQUENTIAL_HEADLINES: tuple[str, ...] = ("mv", "final")


@dataclass(frozen=True)
class SequentialSettings:
    """How the chains were generated and which number is the headline."""

    rounds: int
    mode: str | None = None  # "oracle", "all", "verifier" (None: unknown)
    only_final: bool = False


def released_bucket(q: QuestionData, r: int) -> list[Answer]:
    """The answers the released code votes over after ``r`` rounds, in the order it writes them:
    round-0 answers of chains never refined, then the refinements of rounds 1..r, round by round."""
    chains = q.sequential_chains()
    kept = [c[0] for c in chains if len(c) == 1]
    return kept + [c[t] for t in range(1, r + 1) for c in chains if t < len(c)]


def _round_curve(qs: Sequence[QuestionData], rounds: Sequence[int], per_question) -> list[dict[str, Any]]:
    return [{"round": r, **mean([per_question(q, r) for q in qs])} for r in rounds]


def sequential_metrics(
    qs: Sequence[QuestionData], vote_fn: VoteFn, settings: SequentialSettings | None = None
) -> dict | None:
    """Every sequential number per round ``r = 0..R`` (``None`` without chains).

    ``final[r]``: share of the chains whose round-``r`` answer is correct (K = 1: accuracy of
    the round-``r`` answer). ``pass_at_k[r]``: the unbiased Pass@k over the K chains'
    round-``r`` answers, k = 1, 2, 4, ..., K. ``mv_final_across_chains[r]`` (K > 1 only): the
    majority of the K round-``r`` answers. The two votes over rounds are described in the
    module docstring; ``headline`` names the sequential number reported first.
    """
    if not qs or qs[0].chains is None:
        return None
    n_chains = len(qs[0].sequential_chains())
    n_rounds = settings.rounds if settings is not None else max(len(c) - 1 for q in qs for c in q.sequential_chains())
    mode = settings.mode if settings is not None else None
    only_final = settings.only_final if settings is not None else False
    rounds = range(n_rounds + 1)

    def at(q: QuestionData, r: int) -> list[Answer]:
        return [q.chain_answer(j, r) for j in range(n_chains)]

    def vote(q: QuestionData, answers: Sequence[Answer]) -> Fraction:
        return as_fraction(majority_vote_correct(answers, q.dataset_type, vote_fn))

    final = _round_curve(qs, rounds, lambda q, r: Fraction(sum(a.correct for a in at(q, r)), n_chains))
    pass_curves = [
        {
            "round": r,
            "pass_at_k": [
                {"k": k, **mean([pass_at_k(n_chains, sum(a.correct for a in at(q, r)), k) for q in qs])}
                for k in budgets(n_chains)
            ],
        }
        for r in rounds
    ]
    across = _round_curve(qs, rounds, lambda q, r: vote(q, at(q, r))) if n_chains > 1 else None
    refined_rounds = range(1, n_rounds + 1)
    out: dict[str, Any] = {
        "rounds": n_rounds,
        "chains": n_chains,
        "mode": mode,
        "upper_bound": mode == "oracle",
        "final": final,
        "mv_final_across_chains": across,
        "pass_at_k": pass_curves,
        "mv_rounds_0_to_r": None,
        "mv_refinements_1_to_r": None,
        "pass_refinements_1_to_r": _round_curve(
            qs, refined_rounds, lambda q, r: as_fraction(any(a.correct for a in released_bucket(q, r)))
        ),
    }
    if only_final:
        metric = "final" if across is None else "mv_final_across_chains"
    else:
        metric = "mv_rounds_0_to_r"
        out["mv_rounds_0_to_r"] = _round_curve(
            qs, rounds, lambda q, r: vote(q, [a for t in range(r + 1) for a in at(q, t)])
        )
        out["mv_refinements_1_to_r"] = _round_curve(qs, refined_rounds, lambda q, r: vote(q, released_bucket(q, r)))
    curve = out[metric]
    out["headline"] = {"metric": metric, **curve[-1]}
    return out
