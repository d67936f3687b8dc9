"""Compute-matched baselines on completion tokens, worked out by hand, and the fallback to counts.

Two questions, N = 4 (T = correct, F = wrong); every sample costs 10/30/20/20 tokens (mean 20),
every critique 8, every refinement 12:

    Q1 (gold 2)  pool 2T 3F 3F 2T   verdicts correct wrong wrong correct   refined 2T 2T 3F 2T
    Q2 (gold 7)  pool 1F 7T 7T 1F   verdicts wrong wrong correct correct   refined 7T 7T 7T 1F

refine all: a critiqued sample costs 20 + 8 + 12 = 40 tokens = 2 plain samples.
verifier:   only the 4 of 8 refinements judged wrong are paid: 20 + 8 + 6 = 34 tokens = 1.7 samples.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import pytest

from selfimprove.evaluation import report as R
from selfimprove.evaluation.compute_matched import matched_budget
from selfimprove.evaluation.metrics import compute_results

POOL = {"Q1": ["2", "3", "3", "2"], "Q2": ["1", "7", "7", "1"]}
REFINED = {"Q1": ["2", "2", "3", "2"], "Q2": ["7", "7", "7", "1"]}
VERDICTS = {"Q1": ["correct", "wrong", "wrong", "correct"], "Q2": ["wrong", "wrong", "correct", "correct"]}
GOLD = {"Q1": "2", "Q2": "7"}
SAMPLE_TOKENS = [10, 30, 20, 20]


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


def records(tokens=True):
    qs, pool, crits, refs = [], [], [], []
    for qid in POOL:
        qs.append({"id": qid, "dataset": "toy", "dataset_type": "gsm8k", "question": "?", "gold": GOLD[qid]})
        for j in range(4):
            sid = f"{qid}/s{j}"
            extra = (lambda n: {"completion_tokens": n}) if tokens else (lambda n: {})
            pred = POOL[qid][j]
            pool.append({"id": sid, "qid": qid, "index": j, "pred": pred, "correct": pred == GOLD[qid]})
            pool[-1].update(extra(SAMPLE_TOKENS[j]))
            crits.append({"id": sid, "qid": qid, "index": j, "verdict": VERDICTS[qid][j], **extra(8)})
            ref = REFINED[qid][j]
            refs.append({"id": sid, "qid": qid, "index": j, "pred": ref, "correct": ref == GOLD[qid], **extra(12)})
    return qs, pool, crits, refs


def compute(qs, pool, crits, refs):
    return compute_results(qs, None, pool, crits, refs, None, {}, vote_fn=by_string)


def test_matched_budget_rounds_halves_up():
    assert matched_budget(Fraction(2), 1) == 2
    assert matched_budget(Fraction(5, 2), 1) == 3
    assert matched_budget(Fraction(17, 10), 2) == 3
    assert matched_budget(Fraction(17, 10), 1) == 2


def test_token_matched_rows_by_hand():
    res = compute(*records())
    assert res["available"]["tokens"] is True
    tok = res["datasets"]["toy"]["overall"]["compute_matched_tokens"]
    assert tok["mean_completion_tokens"] == {"sample": 20.0, "critique": 8.0, "refinement": 12.0}
    ra = tok["modes"]["refine_all"]
    assert ra["tokens_per_critiqued_sample"] == 40.0 and ra["cost_ratio"] == 2.0
    # K=1 ~ MV@2 plain: Q1 [2,3] T [3,2] F, Q2 [1,7] F [7,1] T -> 1/2; refined MV@1: 3/4 each
    # K=2 ~ MV@4 plain: Q1 tie -> 2 T, Q2 tie -> 1 F -> 1/2; refined MV@2: Q1 1/2, Q2 1 -> 3/4
    # K=4 would need 8 plain samples: beyond the pool
    assert ra["rows"] == [
        {
            "k": 1,
            "tokens_with_critique": 40.0,
            "plain_samples": 2,
            "tokens_plain": 40.0,
            "mv_plain": {"value": 0.5, "n": 2},
            "mv_with_critique": {"value": 0.75, "n": 2},
        },
        {
            "k": 2,
            "tokens_with_critique": 80.0,
            "plain_samples": 4,
            "tokens_plain": 80.0,
            "mv_plain": {"value": 0.5, "n": 2},
            "mv_with_critique": {"value": 0.75, "n": 2},
        },
    ]
    ver = tok["modes"]["verifier"]
    assert ver["tokens_per_critiqued_sample"] == 34.0 and ver["cost_ratio"] == pytest.approx(1.7)
    # K=1 -> round(1.7) = 2 plain samples; K=2 -> round(3.4) = 3: MV@3 Q1 [2,3,3] F, Q2 [1,7,7] T
    assert [(r["k"], r["plain_samples"], r["tokens_plain"]) for r in ver["rows"]] == [(1, 2, 40.0), (2, 3, 60.0)]
    assert [r["mv_plain"]["value"] for r in ver["rows"]] == [0.5, 0.5]
    assert [r["mv_with_critique"]["value"] for r in ver["rows"]] == [0.75, 0.75]


def test_generation_counts_are_kept_beside_tokens():
    rows = compute(*records())["datasets"]["toy"]["overall"]["compute_matched"]
    # 3K <= N only for K = 1: MV@1, MV@2, MV@3 plain next to MV@1 with critique
    assert [(r["k"], r["mv_k"]["value"], r["mv_2k"]["value"], r["mv_3k"]["value"]) for r in rows] == [
        (1, 0.5, 0.5, 0.5)
    ]


@pytest.mark.parametrize("drop", ["pool", "critiques", "refinements", "all"])
def test_missing_token_counts_fall_back_to_generation_counts(tmp_path, drop):
    qs, pool, crits, refs = records(tokens=drop != "all")
    victim = {"pool": pool, "critiques": crits, "refinements": refs, "all": pool}[drop]
    victim[3].pop("completion_tokens", None)
    res = compute(qs, pool, crits, refs)
    block = res["datasets"]["toy"]["overall"]
    assert block["compute_matched_tokens"] is None and res["available"]["tokens"] is False
    assert block["compute_matched"] is not None
    md = R.write_report([res], tmp_path).read_text()
    assert "Matched on generation counts:" in md
    assert "Matched on tokens: not available (the records carry no token counts)." in md


def test_report_shows_both_matchings(tmp_path):
    md = R.write_report([compute(*records())], tmp_path).read_text()
    assert "mean per generation: sample 20.0, critique 8.0, refinement 12.0" in md
    assert "| refine all | 1 | 40 | 75.0 (n=2) | 2 | 40 | 50.0 (n=2) |" in md
    assert "| verifier | 2 | 68 | 75.0 (n=2) | 3 | 60 | 50.0 (n=2) |" in md


def test_invalid_token_count_names_the_record():
    qs, pool, crits, refs = records()
    crits[2]["completion_tokens"] = -1
    with pytest.raises(ValueError, match="critique 'Q1/s2' has invalid completion_tokens -1"):
        compute(qs, pool, crits, refs)
