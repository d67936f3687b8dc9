"""Sequential critique-refine numbers for K parallel chains, worked out by hand.

Two questions, K = 2 chains each, R = 2 rounds (T = correct, F = wrong; '.' = the chain stopped):

    P (gold 4)  chain 0   4T  .   .        never refined (oracle: its first answer was right)
                chain 1   3F  4T  5F
    R (gold 5)  chain 0   6F  5T  5T
                chain 1   6F  6F  5T

Votes compare answer strings; ties go to the answer seen first.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import pytest

from selfimprove.evaluation.metrics import compute_results

CHAINS = {
    "P": [[("4", True)], [("3", False), ("4", True), ("5", False)]],
    "R": [[("6", False), ("5", True), ("5", True)], [("6", False), ("6", False), ("5", True)]],
}
GOLD = {"P": "4", "R": "5"}


@dataclass
class Tally:
    answer: str | None
    size: int
    classes: list[list[int]]


def by_string(answers, dataset_type):
    groups: dict[str, list[int]] = {}
    for i, a in enumerate(answers):
        if a is not None:
            groups.setdefault(a, []).append(i)
    classes = list(groups.values())
    best = max(classes, key=len) if classes else None
    return Tally(answers[best[0]] if best else None, len(best) if best else 0, classes)


def records(chains=CHAINS):
    questions, pool, chain_recs = [], [], []
    for qid, qchains in chains.items():
        questions.append({"id": qid, "dataset": "toy", "dataset_type": "gsm8k", "question": "?", "gold": GOLD[qid]})
        for j, chain in enumerate(qchains):
            pred, ok = chain[0]
            pool.append({"id": f"{qid}/s{j}", "qid": qid, "index": j, "pred": pred, "correct": ok})
            for r, (pred, ok) in enumerate(chain):
                chain_recs.append(
                    {"id": f"{qid}/s{j}/r{r}", "qid": qid, "chain": j, "round": r, "pred": pred, "correct": ok}
                )
    return questions, pool, chain_recs


def sequential(config=None, chains=CHAINS):
    questions, pool, chain_recs = records(chains)
    res = compute_results(questions, None, pool, None, None, chain_recs, config or {}, vote_fn=by_string)
    return res, res["datasets"]["toy"]["overall"]["sequential"]


def values(points, key="round"):
    return {p[key]: p["value"] for p in points}


def fl(a, b=1):
    return float(Fraction(a, b))


def test_final_pass_and_vote_across_chains():
    res, seq = sequential({"sequential_mode": "oracle"})
    assert res["R"] == 2 and res["chains"] == 2
    assert seq["rounds"] == 2 and seq["chains"] == 2
    # share of chains right: P 1/2, 1, 1/2 (chain 0 carried forward); R 0, 1/2, 1
    assert values(seq["final"]) == {0: fl(1, 4), 1: fl(3, 4), 2: fl(3, 4)}
    # majority of the two round-r answers: P [4,3] [4,4] [4,5] all 4; R [6,6] F, [5,6] tie -> 5 T, [5,5] T
    assert values(seq["mv_final_across_chains"]) == {0: 0.5, 1: 1.0, 2: 1.0}
    # Pass@k over the K = 2 chains at each round
    pass_at = {p["round"]: values(p["pass_at_k"], "k") for p in seq["pass_at_k"]}
    assert pass_at == {0: {1: fl(1, 4), 2: 0.5}, 1: {1: fl(3, 4), 2: 1.0}, 2: {1: fl(3, 4), 2: 1.0}}
    assert {p["n"] for p in seq["final"]} == {2}


def test_the_two_votes_over_rounds_differ_where_round_zero_matters():
    _, seq = sequential({"sequential_mode": "oracle"})
    # ours, rounds 0..r round by round: R r1 [6,6,5,6] -> 6 F; r2 [6,6,5,6,5,5] tie -> 6 F; P always 4
    assert values(seq["mv_rounds_0_to_r"]) == {0: 0.5, 1: 0.5, 2: 0.5}
    # released: P keeps its never-refined 4, then P chain 1's refinements; R votes over refinements only:
    # r1 [5,6] tie -> 5 T, r2 [5,6,5,5] -> 5 T
    assert values(seq["mv_refinements_1_to_r"]) == {1: 1.0, 2: 1.0}
    assert values(seq["pass_refinements_1_to_r"]) == {1: 1.0, 2: 1.0}
    assert seq["headline"] == {"metric": "mv_rounds_0_to_r", "round": 2, "value": 0.5, "n": 2}


def test_oracle_chains_are_labelled_upper_bounds():
    res, seq = sequential({"sequential_mode": "oracle"})
    assert seq["mode"] == "oracle" and seq["upper_bound"] is True
    assert res["upper_bounds"] == ["sequential"]
    res, seq = sequential({"sequential_mode": "all"})
    assert seq["upper_bound"] is False and res["upper_bounds"] == []


def test_only_final_reports_the_final_answer_and_no_vote_over_rounds():
    _, seq = sequential({"sequential_headline": "final", "sequential_mode": "oracle"})
    assert seq["mv_rounds_0_to_r"] is None and seq["mv_refinements_1_to_r"] is None
    # K = 2: the final answers of both chains are voted, as the released code does
    assert seq["headline"] == {"metric": "mv_final_across_chains", "round": 2, "value": 1.0, "n": 2}
    one_chain = {q: chains[:1] for q, chains in CHAINS.items()}
    _, seq = sequential({"sequential_headline": "final"}, chains=one_chain)
    # K = 1: P [4], R [6,5,5] -> final answers 4 T, 5 T
    assert seq["mv_final_across_chains"] is None
    assert seq["headline"] == {"metric": "final", "round": 2, "value": 1.0, "n": 2}


def test_unknown_headline_is_refused():
    with pytest.raises(ValueError, match="sequential_headline"):
        sequential({"sequential_headline": "best"})


def test_one_chain_released_vote_keeps_unrefined_first_answers():
    # K = 1: P = [4T] is never refined and keeps 4; R = chain [6F, 5T, 5T]
    one_chain = {q: chains[:1] for q, chains in CHAINS.items()}
    _, seq = sequential({}, chains=one_chain)
    assert values(seq["final"]) == {0: 0.5, 1: 1.0, 2: 1.0}
    # ours: R r1 [6,5] tie -> 6 F, r2 [6,5,5] -> 5 T
    assert values(seq["mv_rounds_0_to_r"]) == {0: 0.5, 1: 0.5, 2: 1.0}
    # released: R r1 [5] T
    assert values(seq["mv_refinements_1_to_r"]) == {1: 1.0, 2: 1.0}
    assert [values(p["pass_at_k"], "k") for p in seq["pass_at_k"]] == [{1: 0.5}, {1: 1.0}, {1: 1.0}]


def test_chains_must_match_across_questions():
    questions, pool, chain_recs = records()
    chain_recs = [r for r in chain_recs if not (r["qid"] == "R" and r["chain"] == 1)]
    with pytest.raises(ValueError, match="question 'R' has chains \\[0\\], expected 0..1"):
        compute_results(questions, None, pool, None, None, chain_recs, {}, vote_fn=by_string)
    questions, pool, chain_recs = records()
    chain_recs = [r for r in chain_recs if r["id"] != "P/s1/r1"]
    with pytest.raises(ValueError, match="chain 1 of question 'P' has rounds \\[0, 2\\]"):
        compute_results(questions, None, pool, None, None, chain_recs, {}, vote_fn=by_string)
