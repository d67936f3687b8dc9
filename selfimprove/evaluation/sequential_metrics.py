"""Sequential critique-refine metrics: accuracy and votes over the rounds of each chain."""

from __future__ import annotations

from collections.abc import Sequence

from selfimprove.evaluation.estimators import VoteFn, as_fraction, majority_vote_correct, mean
from selfimprove.evaluation.joins import QuestionData


def sequential_metrics(qs: Sequence[QuestionData], vote_fn: VoteFn) -> dict | None:
    """Sequential Final and Sequential MV per round ``r = 0..R`` (``None`` without chains).

    Final[r]: accuracy of the chain's answer at round ``r``. MV[r]: majority vote over the
    chain's answers at rounds ``0..r``. A chain that stopped early carries its last answer
    forward, so that answer also counts once per missing round in the vote.
    """
    if not qs or qs[0].chain is None:
        return None
    n_rounds = len(qs[0].chain)
    final = [{"round": r, **mean([as_fraction(q.chain[r].correct) for q in qs])} for r in range(n_rounds)]
    mv = [
        {
            "round": r,
            **mean([as_fraction(majority_vote_correct(q.chain[: r + 1], q.dataset_type, vote_fn)) for q in qs]),
        }
        for r in range(n_rounds)
    ]
    return {"rounds": n_rounds - 1, "final": final, "mv": mv}
