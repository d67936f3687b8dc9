"""Tests for selfimprove.evaluation.metrics: every number is hand-computed from a tiny fixture.

Fixture (dataset "gsm8k", N = 4 samples per question; T = correct, F = wrong):

    question A (gold 5)  pool   5T  3F  3F  5T      c = 2, acc 0.50 -> level 3
                         verdict correct wrong None wrong
                         refine 5T  5T  3F  3F
                         chain  3F  5T                (stops early)
    question B (gold 7)  pool   -F  7T  2F  2F      (- = no answer), c = 1, acc 0.25 -> level 4
                         verdict wrong correct wrong wrong
                         refine 7T  7T  7T  2F
                         chain  2F  2F  7T
    question C (gold 1)  pool   1T  1T  -F  " 1"T   c = 3, acc 0.75 -> level 2
                         verdict correct correct wrong correct
                         refine 1T  2F  1T  1T
                         chain  1T                    (stops at once)
    greedy: A T, B F, C T

Votes use string equality after strip (``string_vote``), so " 1" and "1" are one class.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from fractions import Fraction

import pytest

from selfimprove.evaluation import metrics as M
from selfimprove.evaluation.metrics import Answer
from selfimprove.stages import metrics as metrics_stage


@dataclass
class SimpleVote:
    answer: str | None
    size: int
    classes: list[list[int]]


def string_vote(answers, dataset_type):
    """Deterministic vote: classes by string equality after strip, ties to the first class."""
    classes: dict[str, list[int]] = {}
    for i, a in enumerate(answers):
        if a is not None:
            classes.setdefault(a.strip(), []).append(i)
    cls = list(classes.values())
    if not cls:
        return SimpleVote(None, 0, [])
    best = max(cls, key=len)
    return SimpleVote(answers[best[0]], len(best), cls)


def f(num, den=1):
    """The stored float of an exact fraction."""
    return float(Fraction(num, den))


# ------------------------------------------------------------------------------ fixture

POOL: dict[str, list[tuple[str | None, bool]]] = {
    "A": [("5", True), ("3", False), ("3", False), ("5", True)],
    "B": [(None, False), ("7", True), ("2", False), ("2", False)],
    "C": [("1", True), ("1", True), (None, False), (" 1", True)],
}
VERDICTS: dict[str, list[str | None]] = {
    "A": ["correct", "wrong", None, "wrong"],
    "B": ["wrong", "correct", "wrong", "wrong"],
    "C": ["correct", "correct", "wrong", "correct"],
}
REFINED: dict[str, list[tuple[str, bool]]] = {
    "A": [("5", True), ("5", True), ("3", False), ("3", False)],
    "B": [("7", True), ("7", True), ("7", True), ("2", False)],
    "C": [("1", True), ("2", False), ("1", True), ("1", True)],
}
CHAINS: dict[str, list[tuple[str, bool, str | None]]] = {
    "A": [("3", False, "wrong"), ("5", True, "correct")],
    "B": [("2", False, "wrong"), ("2", False, "wrong"), ("7", True, None)],
    "C": [("1", True, "correct")],
}
GREEDY: dict[str, tuple[str | None, bool]] = {"A": ("5", True), "B": ("2", False), "C": ("1", True)}
GOLD = {"A": "5", "B": "7", "C": "1"}


def make_records(dataset="gsm8k", dataset_type="gsm8k", levels=None, prefix=""):
    levels = levels or {}
    questions, greedy, pool, critiques, refinements, chains = [], [], [], [], [], []
    for q in POOL:
        qid = prefix + q
        questions.append(
            {
                "id": qid,
                "dataset": dataset,
                "dataset_type": dataset_type,
                "question": f"question {q}",
                "gold": GOLD[q],
                "level": levels.get(q),
            }
        )
        pred, ok = GREEDY[q]
        greedy.append({"id": f"{qid}/g0", "qid": qid, "index": 0, "response": "", "pred": pred, "correct": ok})
        for j, (pred, ok) in enumerate(POOL[q]):
            sid = f"{qid}/s{j}"
            pool.append({"id": sid, "qid": qid, "index": j, "response": "", "pred": pred, "correct": ok})
            critiques.append({"id": sid, "qid": qid, "index": j, "critique": "...", "verdict": VERDICTS[q][j]})
            rp, rok = REFINED[q][j]
            refinements.append({"id": sid, "qid": qid, "index": j, "response": "", "pred": rp, "correct": rok})
        for r, (pred, ok, verdict) in enumerate(CHAINS[q]):
            chains.append(
                {
                    "id": f"{qid}/r{r}",
                    "qid": qid,
                    "round": r,
                    "response": "",
                    "pred": pred,
                    "correct": ok,
                    "verdict": verdict,
                }
            )
    return dict(
        questions=questions, greedy=greedy, pool=pool, critiques=critiques, refinements=refinements, chains=chains
    )


CONFIG = {
    "actor": "actor-7b",
    "critic": "critic-7b",
    "datasets": ["gsm8k"],
    "N": 4,
    "temperature": 0.7,
    "modes": ["oracle", "refine_all", "verifier"],
}


def compute(records=None, config=CONFIG, **overrides):
    records = dict(records or make_records())
    records.update(overrides)
    return M.compute_results(config=config, vote_fn=string_vote, **records)


@pytest.fixture(scope="module")
def results():
    return compute()


@pytest.fixture(scope="module")
def overall(results):
    return results["datasets"]["gsm8k"]["overall"]


def curve(points, key="k"):
    return {p[key]: p["value"] for p in points}


def ns(points):
    return {p["n"] for p in points}


# ------------------------------------------------------------------------------ primitives


def test_budgets_are_powers_of_two_plus_n():
    assert M.budgets(1) == [1]
    assert M.budgets(4) == [1, 2, 4]
    assert M.budgets(6) == [1, 2, 4, 6]
    assert M.budgets(8) == [1, 2, 4, 8]
    assert M.budgets(0) == []


def test_pass_at_k_unbiased_estimator():
    assert M.pass_at_k(4, 2, 1) == Fraction(1, 2)
    assert M.pass_at_k(4, 2, 2) == Fraction(5, 6)  # 1 - C(2,2)/C(4,2)
    assert M.pass_at_k(4, 1, 2) == Fraction(1, 2)  # 1 - C(3,2)/C(4,2)
    assert M.pass_at_k(4, 3, 2) == 1  # C(1,2) = 0
    assert M.pass_at_k(4, 0, 4) == 0
    with pytest.raises(ValueError):
        M.pass_at_k(4, 5, 1)


def test_majority_vote_ties_go_to_first_class_and_none_never_votes():
    A = Answer
    assert M.majority_vote_correct([A("5", True), A("3", False)], "gsm8k", string_vote)
    assert not M.majority_vote_correct([A("3", False), A("5", True)], "gsm8k", string_vote)
    # Two None answers do not outvote one real answer.
    assert M.majority_vote_correct([A(None, False), A(None, False), A("7", True)], "gsm8k", string_vote)
    # All-None block is wrong.
    assert not M.majority_vote_correct([A(None, True), A(None, True)], "gsm8k", string_vote)
    # The representative is the first member of the winning class.
    assert not M.majority_vote_correct([A("2", False), A("2 ", True), A("7", True)], "gsm8k", string_vote)


def test_mv_at_k_uses_disjoint_consecutive_blocks_and_ignores_leftover():
    A = Answer
    answers = [A("1", True), A("2", False), A("2", False), A("1", True), A("9", False), A("9", False)]
    assert M.mv_at_k(answers, 1, "gsm8k", string_vote) == Fraction(2, 6)
    # blocks [1,2] -> 1 T, [2,1] -> 2 F, [9,9] -> F
    assert M.mv_at_k(answers, 2, "gsm8k", string_vote) == Fraction(1, 3)
    # one block of the first four: tie 1 vs 2 -> 1 first -> T; the last two are unused
    assert M.mv_at_k(answers, 4, "gsm8k", string_vote) == 1
    # one block of six: 1, 2, 9 each twice -> 1 first -> T
    assert M.mv_at_k(answers, 6, "gsm8k", string_vote) == 1


def test_vote_fn_receives_dataset_type():
    seen = []

    def spy(answers, dataset_type):
        seen.append(dataset_type)
        return string_vote(answers, dataset_type)

    M.compute_results(config={}, vote_fn=spy, **make_records(dataset="math500", dataset_type="math"))
    assert seen and set(seen) == {"math"}


@pytest.mark.parametrize(
    "c, n, level",
    [
        (5, 5, 1),
        (4, 5, 1),
        (8, 10, 1),
        (79, 100, 2),
        (3, 5, 2),
        (2, 5, 3),
        (59, 100, 3),
        (1, 5, 4),
        (39, 100, 4),
        (19, 100, 5),
        (0, 5, 5),
        (3, 4, 2),
        (1, 4, 4),
        (2, 4, 3),
    ],
)
def test_level_bins(c, n, level):
    assert M.level_from_accuracy(c, n) == level


def test_harmonic_mean():
    assert M.harmonic_mean(Fraction(1), Fraction(5, 6)) == Fraction(10, 11)
    assert M.harmonic_mean(Fraction(0), Fraction(0)) == 0
    assert M.harmonic_mean(None, Fraction(1)) is None


# ------------------------------------------------------------------------------ response only


def test_results_header(results):
    assert results["schema_version"] == M.SCHEMA_VERSION
    assert results["config"] == CONFIG
    assert results["N"] == 4 and results["R"] == 2 and results["ks"] == [1, 2, 4]
    assert results["available"] == {
        "greedy": True,
        "critiques": True,
        "refinements": True,
        "chains": True,
        "tokens": False,
    }
    assert results["chains"] == 1
    assert results["upper_bounds"] == ["parallel.oracle", "critic.accuracy_after_refinement.oracle"]
    assert list(results["datasets"]) == ["gsm8k"]
    ds = results["datasets"]["gsm8k"]
    assert ds["dataset_type"] == "gsm8k" and ds["n_questions"] == 3
    json.dumps(results, allow_nan=False)


def test_greedy_accuracy(overall):
    assert overall["response_only"]["greedy"] == {"value": f(2, 3), "n": 3}


def test_response_only_pass_at_k(overall):
    # A: 1/2, 5/6, 1   B: 1/4, 1/2, 1   C: 3/4, 1, 1
    pts = overall["response_only"]["pass_at_k"]
    assert curve(pts) == {1: f(1, 2), 2: f(7, 9), 4: 1.0}
    assert ns(pts) == {3}


def test_response_only_mv_at_k(overall):
    # MV@1: A 1/2, B 1/4 (None block wrong), C 3/4
    # MV@2: A [5,3]->T [3,5]->F (ties to first) = 1/2; B [-,7]->T [2,2]->F = 1/2; C 1
    # MV@4: A tie 5 vs 3 -> 5 -> T; B 2 beats 7 -> F; C T
    pts = overall["response_only"]["mv_at_k"]
    assert curve(pts) == {1: f(1, 2), 2: f(2, 3), 4: f(2, 3)}
    assert ns(pts) == {3}


# ------------------------------------------------------------------------------ parallel


def test_parallel_oracle(overall):
    # finals A [5T 5T 3F 5T], B [7T 7T 7T 2F], C all T
    par = overall["parallel"]["oracle"]
    assert par["mode"] == "oracle"
    assert curve(par["pass_at_k"]) == {1: f(5, 6), 2: 1.0, 4: 1.0}
    assert curve(par["mv_at_k"]) == {1: f(5, 6), 2: f(5, 6), 4: 1.0}


def test_parallel_refine_all(overall):
    # finals = refinements: A [5T 5T 3F 3F], B [7T 7T 7T 2F], C [1T 2F 1T 1T]
    par = overall["parallel"]["refine_all"]
    assert par["mode"] == "refine_all"
    assert curve(par["pass_at_k"]) == {1: f(2, 3), 2: f(17, 18), 4: 1.0}
    assert curve(par["mv_at_k"]) == {1: f(2, 3), 2: f(5, 6), 4: 1.0}


def test_parallel_verifier(overall):
    # only "wrong" verdicts are refined; None keeps the original:
    # A [5T 5T(ref) 3F(None, kept) 3F(ref)], B [7T(ref) 7T 7T(ref) 2F(ref)], C [1T 1T 1T(ref) 1T]
    par = overall["parallel"]["verifier"]
    assert par["mode"] == "verifier"
    assert curve(par["pass_at_k"]) == {1: f(3, 4), 2: f(17, 18), 4: 1.0}
    assert curve(par["mv_at_k"]) == {1: f(3, 4), 2: f(5, 6), 4: 1.0}
    assert ns(par["pass_at_k"]) == ns(par["mv_at_k"]) == {3}


def test_parallel_final_answers_modes():
    A = Answer
    samples = [A("1", True), A("2", False), A("3", False)]
    refined = [A("9", False), A("1", True), A("1", True)]
    verdicts = ["wrong", "correct", None]
    assert M.parallel_final_answers(samples, refined, verdicts, "oracle") == [samples[0], refined[1], refined[2]]
    assert M.parallel_final_answers(samples, refined, verdicts, "refine_all") == refined
    assert M.parallel_final_answers(samples, refined, verdicts, "verifier") == [refined[0], samples[1], samples[2]]
    with pytest.raises(ValueError):
        M.parallel_final_answers(samples, refined, verdicts, "nope")


# ------------------------------------------------------------------------------ critic-filtered


def test_critic_filtered_mv(overall):
    # A: K=1 1/2; K=2 [keep s0]->T [keep s2 (None verdict)]->F = 1/2; K=4 keep {5,3} tie -> 5 T
    # B: K=1 1/4; K=2 [keep s1]->T [all wrong -> vote all: 2]->F = 1/2; K=4 keep {7} -> T
    # C: K=1 3/4; K=2 1; K=4 1
    pts = overall["critic_filtered"]["mv_at_k"]
    assert curve(pts) == {1: f(1, 2), 2: f(2, 3), 4: 1.0}
    assert ns(pts) == {3}


# ------------------------------------------------------------------------------ sequential


def test_sequential_final_and_mv_with_early_stop(overall):
    # padded chains: A [3F 5T 5T], B [2F 2F 7T], C [1T 1T 1T]
    seq = overall["sequential"]
    assert seq["rounds"] == 2
    assert [p["round"] for p in seq["final"]] == [0, 1, 2]
    assert curve(seq["final"], "round") == {0: f(1, 3), 1: f(2, 3), 2: 1.0}
    # MV r1: A [3,5] tie -> 3 F; r2: A [3,5,5] -> 5 T, B [2,2,7] -> 2 F
    assert curve(seq["mv_rounds_0_to_r"], "round") == {0: f(1, 3), 1: f(1, 3), 2: f(2, 3)}
    assert ns(seq["final"]) == ns(seq["mv_rounds_0_to_r"]) == {3}


@pytest.mark.parametrize("key", ["R", "rounds"])
def test_sequential_rounds_extended_by_config(key):
    res = compute(config={**CONFIG, key: 3})
    assert res["R"] == 3
    seq = res["datasets"]["gsm8k"]["overall"]["sequential"]
    assert seq["rounds"] == 3
    # r3: A [3,5,5,5] T, B [2,2,7,7] tie -> 2 F, C T
    assert curve(seq["final"], "round")[3] == 1.0
    assert curve(seq["mv_rounds_0_to_r"], "round")[3] == f(2, 3)


# ------------------------------------------------------------------------------ compute-matched


def test_compute_matched(overall):
    # N = 4: only K = 1 has 3K <= N.  MV@3 uses one block of the first three samples:
    # A [5,3,3] -> 3 F; B [-,7,2] tie -> 7 T; C [1,1,-] -> T  => 2/3
    rows = overall["compute_matched"]
    assert len(rows) == 1
    row = rows[0]
    assert row["k"] == 1
    assert row["mv_k"] == {"value": f(1, 2), "n": 3}
    assert row["mv_2k"] == {"value": f(2, 3), "n": 3}
    assert row["mv_3k"] == {"value": f(2, 3), "n": 3}
    assert row["with_critique"] == {"refine_all": {"value": f(2, 3), "n": 3}, "verifier": {"value": f(3, 4), "n": 3}}


# ------------------------------------------------------------------------------ critic metrics


def test_critic_accuracy_helpfulness_harm(overall):
    critic = overall["critic"]
    assert critic["n_samples"] == 12
    assert critic["accuracy_before_refinement"] == {"value": f(1, 2), "n": 12}
    assert critic["accuracy_after_refinement"] == {
        "oracle": {"value": f(5, 6), "n": 12, "upper_bound": True},
        "refine_all": {"value": f(2, 3), "n": 12},
        "verifier": {"value": f(3, 4), "n": 12},
    }
    # 6 wrong samples, 4 fixed (A s1, B s0, B s2, C s2)
    assert critic["helpfulness"] == {"value": f(2, 3), "n": 6}
    # 6 correct samples, 2 broken (A s3, C s1)
    assert critic["harm"] == {"value": f(1, 3), "n": 6}


def test_critic_discrimination_and_f1(overall):
    disc = overall["critic"]["discrimination"]
    # 11 parseable verdicts, 10 right (A s3 is correct but judged wrong)
    assert disc["accuracy"] == {"value": f(10, 11), "n": 11}
    assert disc["accuracy_on_wrong"] == {"value": 1.0, "n": 5}
    assert disc["accuracy_on_correct"] == {"value": f(5, 6), "n": 6}
    assert disc["f1"] == {"value": f(10, 11), "n": 11}  # 2 * 1 * 5/6 / (1 + 5/6)


def test_format_violations(overall):
    assert overall["critic"]["format_violations"] == {"count": 1, "share": f(1, 12), "n": 12}


def test_empty_denominators_give_null():
    recs = make_records()
    for r in recs["pool"]:
        r["correct"] = True  # no wrong solutions at all
    critic = compute(recs)["datasets"]["gsm8k"]["overall"]["critic"]
    assert critic["helpfulness"] == {"value": None, "n": 0}
    assert critic["discrimination"]["accuracy_on_wrong"] == {"value": None, "n": 0}
    assert critic["discrimination"]["f1"]["value"] is None
    recs = make_records()
    for r in recs["critiques"]:
        r["verdict"] = None  # no parseable verdict
    critic = compute(recs)["datasets"]["gsm8k"]["overall"]["critic"]
    assert critic["discrimination"]["accuracy"] == {"value": None, "n": 0}
    assert critic["format_violations"] == {"count": 12, "share": 1.0, "n": 12}


# ------------------------------------------------------------------------------ levels and datasets


def test_levels_from_pool_accuracy(results):
    ds = results["datasets"]["gsm8k"]
    assert ds["level_source"] == {"pool_accuracy": 3}
    assert ds["level_counts"] == {"2": 1, "3": 1, "4": 1}
    by_level = ds["by_level"]
    assert list(by_level) == ["2", "3", "4"]
    lv3 = by_level["3"]  # question A alone
    assert lv3["n_questions"] == 1
    assert curve(lv3["response_only"]["pass_at_k"]) == {1: 0.5, 2: f(5, 6), 4: 1.0}
    assert curve(lv3["response_only"]["mv_at_k"]) == {1: 0.5, 2: 0.5, 4: 1.0}
    assert curve(lv3["parallel"]["oracle"]["mv_at_k"]) == {1: 0.75, 2: 0.5, 4: 1.0}
    assert lv3["response_only"]["greedy"] == {"value": 1.0, "n": 1}
    lv4 = by_level["4"]  # question B alone: critic filtering turns MV@4 from wrong to right
    assert curve(lv4["response_only"]["mv_at_k"])[4] == 0.0
    assert curve(lv4["critic_filtered"]["mv_at_k"])[4] == 1.0
    assert curve(lv4["sequential"]["final"], "round") == {0: 0.0, 1: 0.0, 2: 1.0}
    assert lv4["critic"]["helpfulness"] == {"value": f(2, 3), "n": 3}
    lv2 = by_level["2"]  # question C alone
    assert lv2["critic"]["harm"] == {"value": f(1, 3), "n": 3}


def test_levels_from_field_and_per_dataset_keys():
    gsm = make_records()
    math = make_records(dataset="math500", dataset_type="math", prefix="m", levels={"A": 5, "B": 1, "C": 1})
    merged = {k: gsm[k] + math[k] for k in gsm}
    res = compute(merged)
    assert set(res["datasets"]) == {"gsm8k", "math500"}
    # per-dataset numbers are computed on that dataset's questions only
    assert res["datasets"]["gsm8k"]["overall"] == compute()["datasets"]["gsm8k"]["overall"]
    m = res["datasets"]["math500"]
    assert m["dataset_type"] == "math"
    assert m["level_source"] == {"dataset": 3}
    assert m["level_counts"] == {"1": 2, "5": 1}
    # level 1 = B and C even though B's sampled accuracy would put it at level 4
    lv1 = m["by_level"]["1"]
    assert lv1["n_questions"] == 2
    assert curve(lv1["response_only"]["pass_at_k"]) == {1: 0.5, 2: 0.75, 4: 1.0}  # (1/4+3/4)/2, (1/2+1)/2
    assert curve(lv1["response_only"]["mv_at_k"]) == {1: 0.5, 2: 0.75, 4: 0.5}
    assert m["by_level"]["5"]["response_only"]["greedy"] == {"value": 1.0, "n": 1}


def test_mixed_level_sources():
    recs = make_records(levels={"A": 1})
    ds = compute(recs)["datasets"]["gsm8k"]
    assert ds["level_source"] == {"dataset": 1, "pool_accuracy": 2}
    assert ds["level_counts"] == {"1": 1, "2": 1, "4": 1}


# ------------------------------------------------------------------------------ absent methods


def test_absent_methods_recorded_as_null():
    recs = make_records()
    res = compute(recs, greedy=None, critiques=[], refinements=None, chains=None)
    assert res["available"] == {
        "greedy": False,
        "critiques": False,
        "refinements": False,
        "chains": False,
        "tokens": False,
    }
    assert res["R"] is None and res["chains"] is None and res["upper_bounds"] == []
    o = res["datasets"]["gsm8k"]["overall"]
    assert o["response_only"]["greedy"] is None
    assert curve(o["response_only"]["mv_at_k"]) == {1: f(1, 2), 2: f(2, 3), 4: f(2, 3)}
    for key in ("parallel", "critic_filtered", "sequential", "compute_matched", "compute_matched_tokens"):
        assert o[key] is None
    critic = o["critic"]
    assert critic["accuracy_before_refinement"] == {"value": 0.5, "n": 12}
    for key in ("accuracy_after_refinement", "helpfulness", "harm", "discrimination", "format_violations"):
        assert critic[key] is None
    json.dumps(res, allow_nan=False)


def test_refinements_without_critiques_skip_verifier_only():
    o = compute(critiques=None)["datasets"]["gsm8k"]["overall"]
    assert o["parallel"]["verifier"] is None
    assert curve(o["parallel"]["refine_all"]["mv_at_k"]) == {1: f(2, 3), 2: f(5, 6), 4: 1.0}
    assert o["compute_matched"][0]["with_critique"]["verifier"] is None
    assert o["critic"]["accuracy_after_refinement"]["verifier"] is None
    assert o["critic_filtered"] is None


# ------------------------------------------------------------------------------ validation


def _mutate(kind, fn):
    recs = make_records()
    fn(recs[kind])
    return recs


@pytest.mark.parametrize(
    "kind, mutate, match",
    [
        ("questions", lambda rs: rs.append(dict(rs[0])), "duplicate question id 'A'"),
        ("pool", lambda rs: rs.append(dict(rs[0])), "duplicate pool sample id 'A/s0'"),
        ("critiques", lambda rs: rs.append(dict(rs[0])), "duplicate critique id 'A/s0'"),
        ("pool", lambda rs: rs.append({**rs[0], "id": "Z/s0", "qid": "Z"}), "'Z/s0'.*unknown question 'Z'"),
        ("greedy", lambda rs: rs.append({**rs[0], "id": "Q/g0", "qid": "Q"}), "'Q/g0'.*unknown question"),
        ("chains", lambda rs: rs.append({**rs[0], "id": "X/r0", "qid": "X"}), "'X/r0'.*unknown question"),
        ("refinements", lambda rs: rs.append({**rs[0], "id": "A/s9"}), "refinement 'A/s9' refers to no pool sample"),
        ("pool", lambda rs: rs.pop(5), "pool of question 'B' has 3 samples, expected 4"),
        (
            "pool",
            lambda rs: rs.append({**rs[0], "id": "C/s4", "qid": "C", "index": 4}),
            "pool of question 'C' has 5 samples",
        ),
        ("pool", lambda rs: rs[1].update(index=0), "'A/s1' repeats index 0"),
        ("critiques", lambda rs: rs.pop(), "missing critique for pool sample 'C/s3'"),
        ("critiques", lambda rs: rs[0].update(verdict="Correct!"), "'A/s0' has invalid verdict"),
        ("greedy", lambda rs: rs.pop(), "missing greedy sample for question 'C'"),
        ("chains", lambda rs: rs.pop(0), "chain of question 'A' has rounds \\[1\\]"),
        ("chains", lambda rs: rs.pop(), "missing sequential chain for question 'C'"),
        ("pool", lambda rs: rs[2].pop("correct"), "pool sample 'A/s2' is not graded"),
        ("refinements", lambda rs: rs[0].update(correct=None), "refinement 'A/s0' is not graded"),
        ("questions", lambda rs: rs[1].update(level="hard"), "question 'B' has non-integer level"),
    ],
)
def test_validation_errors_name_the_offending_id(kind, mutate, match):
    with pytest.raises(ValueError, match=match):
        compute(_mutate(kind, mutate))


# ------------------------------------------------------------------------------ real vote


def test_default_vote_is_selfimprove_process_vote():
    pytest.importorskip("selfimprove.grading.api")
    o = M.compute_results(config=CONFIG, **make_records())["datasets"]["gsm8k"]["overall"]
    assert curve(o["response_only"]["mv_at_k"]) == {1: f(1, 2), 2: f(2, 3), 4: f(2, 3)}
    assert curve(o["critic_filtered"]["mv_at_k"]) == {1: f(1, 2), 2: f(2, 3), 4: 1.0}


# ------------------------------------------------------------------------------ file helpers


def test_cli_writes_results(tmp_path, monkeypatch):
    recs = make_records()
    paths = {}
    for kind, rs in recs.items():
        paths[kind] = tmp_path / f"{kind}.jsonl"
        paths[kind].write_text("".join(json.dumps(r) + "\n" for r in rs))
    (tmp_path / "config.json").write_text(json.dumps(CONFIG))
    monkeypatch.setattr(M, "default_vote_fn", lambda: string_vote)
    out = tmp_path / "out" / "results.json"
    argv = [f"--{k}={p}" for k, p in paths.items()] + [f"--config={tmp_path / 'config.json'}", f"--out={out}"]
    assert metrics_stage.main(argv) == 0
    assert json.loads(out.read_text()) == json.loads(json.dumps(compute()))
    assert (
        metrics_stage.main([f"--questions={paths['questions']}", f"--pool={tmp_path / 'none.jsonl'}", f"--out={out}"])
        == 2
    )
