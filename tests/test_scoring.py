"""The released semantics beside the project's: the majority-vote rule (knob ``VOTING``: equivalence
or exact answer strings, as the released ``Counter.most_common``) and, where the grader or the vote
is not the project's own, the headline numbers under the project's grader and vote beside the
primary ones (``results.json``'s ``scoring``, the report's "accuracy by grader and voting rule")."""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest

from selfimprove.core import config as C
from selfimprove.core.errors import UsageError
from selfimprove.core.io import atomic_write_jsonl
from selfimprove.core.records import Question, Sample
from selfimprove.evaluation.estimators import (
    VOTINGS,
    Answer,
    auc,
    default_vote_fn,
    exact_vote,
    majority_vote_correct,
    vote_fn_for,
)
from selfimprove.evaluation.metrics import compute_results
from selfimprove.evaluation.report import write_report
from selfimprove.evaluation.scoring import compare_scorings, settings
from selfimprove.generation.engines import ENGINE_CLASSES, SamplingParams, ScriptedEngine, close_shared_engines
from selfimprove.generation.prompts import Prompt
from selfimprove.generation.tasks import sample_questions

# ------------------------------------------------------------------- the vote rule


def test_exact_vote_is_the_released_counter_most_common():
    rng = random.Random(0)
    for _ in range(500):
        answers = [rng.choice(["1", "2", "3", "0.5", "1/2"]) for _ in range(rng.randint(1, 9))]
        released = Counter(answers).most_common(1)[0][0]
        vote = exact_vote(answers, "math")
        assert vote.answer == released and vote.size == Counter(answers)[released]
        assert sorted(i for c in vote.classes for i in c) == list(range(len(answers)))
    assert exact_vote([None, None], "gsm8k").answer is None  # an answer that was never given does not vote
    assert exact_vote([None, "4", None, "5", "5"], "gsm8k").classes == [[1], [3, 4]]


def test_exact_voting_counts_strings_and_equivalence_voting_counts_values():
    # 1/2 and 0.5 are the right answer written twice; 3 is wrong, written twice
    answers = [Answer("1/2", True), Answer("0.5", True), Answer("3", False), Answer("3", False)]
    assert majority_vote_correct(answers, "math", default_vote_fn()) is True  # {1/2, 0.5} ties {3}: first wins
    assert majority_vote_correct(answers, "math", exact_vote) is False  # "3" has the most identical strings
    assert vote_fn_for("exact") is exact_vote and vote_fn_for(None) is vote_fn_for("equivalence")
    with pytest.raises(ValueError, match="voting must be one of equivalence, exact"):
        vote_fn_for("plurality")


def test_the_voting_knob_defaults_to_equivalence_and_is_checked():
    assert C.VOTINGS == VOTINGS
    assert C.load(C.EVALUATE, env={}).voting == "equivalence"
    assert C.load(C.EVALUATE, env={"VOTING": "exact"}).voting == "exact"
    with pytest.raises(UsageError, match="VOTING='plurality'"):
        C.load(C.EVALUATE, env={"VOTING": "plurality"})
    knob = C.knobs()["voting"]
    assert knob.scopes == {C.EVALUATE, C.SELFTALK} and C.EVALUATE in knob.export
    assert "VOTING=exact" in "\n".join(C.shell_lines(C.load(C.EVALUATE, env={"VOTING": "exact"}), C.EVALUATE))


# ------------------------------------------------------------------- graded records

QUESTIONS: list[Question] = [
    {"id": "g/0", "dataset": "gsm", "dataset_type": "gsm8k", "question": "What is 2 + 3?", "gold": "5", "level": 1},
    {"id": "m/0", "dataset": "mth", "dataset_type": "math", "question": "Halve 1.", "gold": "\\frac{1}{2}", "level": 2},
]
# g/0 states a sum after "The answer is": the released logic reads its first number (3, wrong), the
# project grader the result (5, right). m/0's pool writes 1/2 twice in two forms and a wrong 3 twice.
ANSWERS = {
    "2 + 3": ["The answer is 3 + 2 = 5."] * 4,
    "Halve": ["The answer is $\\boxed{\\frac{1}{2}}$.", "The answer is $\\boxed{0.5}$."]
    + ["The answer is $\\boxed{3}$."] * 2,
}


def respond(p: Prompt, k: int) -> str:
    key = next(x for x in ANSWERS if x in p.messages[0]["content"])
    return f"Compute.\n{ANSWERS[key][k]}"


def graded(tmp_path, grader: str) -> tuple[list[Sample], list[Sample]]:
    actor = ScriptedEngine(respond)
    greedy, _ = sample_questions(actor, QUESTIONS, tmp_path / f"greedy_{grader}.jsonl", SamplingParams(), grader)
    pool, _ = sample_questions(actor, QUESTIONS, tmp_path / f"pool_{grader}.jsonl", SamplingParams(n=4), grader)
    return greedy, pool


def mv4(results: dict, dataset: str) -> float:
    return next(p["value"] for p in results["datasets"][dataset]["overall"]["response_only"]["mv_at_k"] if p["k"] == 4)


def test_results_vote_by_the_rule_their_configuration_names(tmp_path):
    greedy, pool = graded(tmp_path, "default")
    exact = compute_results(QUESTIONS, greedy, pool, None, None, None, {"voting": "exact"})
    equivalence = compute_results(QUESTIONS, greedy, pool, None, None, None, {"voting": "equivalence"})
    assert mv4(exact, "mth") == 0.0 and mv4(equivalence, "mth") == 1.0
    assert compute_results(QUESTIONS, greedy, pool, None, None, None, {})["datasets"] == equivalence["datasets"]


def test_the_project_scoring_alone_adds_nothing(tmp_path):
    greedy, pool = graded(tmp_path, "default")
    config = {"grader": "default", "voting": "equivalence"}
    results = compute_results(QUESTIONS, greedy, pool, None, None, None, config)
    assert compare_scorings(QUESTIONS, greedy, pool, None, None, None, config, results) is None
    assert settings("mathcritique", "exact") == [
        ("mathcritique", "exact"),
        ("default", "exact"),
        ("mathcritique", "equivalence"),
    ]
    assert settings("default", "exact") == [("default", "exact"), ("default", "equivalence")]


def test_released_scoring_has_the_project_grader_and_equivalence_voting_beside(tmp_path):
    greedy, pool = graded(tmp_path, "mathcritique")
    config = {"grader": "mathcritique", "voting": "exact"}
    results = compute_results(QUESTIONS, greedy, pool, None, None, None, config)
    scoring = compare_scorings(QUESTIONS, greedy, pool, None, None, None, config, results)
    assert scoring is not None
    cols = {(c["grader"], c["voting"]): c for c in scoring["columns"]}
    assert [c["primary"] for c in scoring["columns"]] == [True, False, False]
    assert cols["mathcritique", "exact"]["name"] == "released grader, exact-answer voting"
    assert cols["default", "exact"]["name"] == "project grader, exact-answer voting"

    def value(grader: str, voting: str, dataset: str, key: str) -> float:
        return cols[grader, voting]["datasets"][dataset][key]["value"]

    # g/0: wrong for the released grader, right for the project's; the records' own grades untouched
    assert value("mathcritique", "exact", "gsm", "greedy") == 0.0 and value("default", "exact", "gsm", "greedy") == 1.0
    assert greedy[0]["grader"] == "mathcritique" and greedy[0]["correct"] is False
    # m/0: the released grader takes 0.5 for wrong; exact voting lets the two 3s win, equivalence
    # voting ties {1/2, 0.5} with {3} and the first class wins
    assert value("mathcritique", "exact", "mth", "pass_at_1") == 0.25
    assert value("default", "exact", "mth", "pass_at_1") == 0.5
    assert value("mathcritique", "exact", "mth", "mv_at_n") == 0.0
    assert value("mathcritique", "equivalence", "mth", "mv_at_n") == 1.0
    assert cols["mathcritique", "exact"]["datasets"]["mth"]["critique_refine"] is None  # no critic was run
    # the primary column is the file's own numbers
    assert value("mathcritique", "exact", "mth", "mv_at_n") == mv4(results, "mth")


# ------------------------------------------------------------------- the evaluation stage and its report


@pytest.fixture
def scripted(monkeypatch):
    """``--actor-engine scripted-scoring``: the actor above, whatever the model name."""
    monkeypatch.delenv("MATHCRITIQUE_RUN_LOCK", raising=False)
    monkeypatch.delenv("PRESET", raising=False)

    class Scripted(ScriptedEngine):
        @classmethod
        def from_settings(cls, settings):
            return cls(respond, name="actor")

    monkeypatch.setitem(ENGINE_CLASSES, "scripted-scoring", Scripted)
    close_shared_engines()
    yield
    close_shared_engines()


def run_stage(tmp_path, **env) -> dict:
    from selfimprove.stages import evaluate

    atomic_write_jsonl(tmp_path / "q.jsonl", QUESTIONS)
    out = tmp_path / "eval"
    argv = ["--questions", str(tmp_path / "q.jsonl"), "--out-dir", str(out), "--actor-model", "test/actor"]
    argv += ["--actor-engine", "scripted-scoring", "--use-critic", "0", "--pool-size", "4", "--temperature", "0.7"]
    assert evaluate.main(argv) == 0
    return json.loads((out / "results.json").read_text())


def test_stage_with_the_released_grader_and_vote_reports_the_projects_beside(tmp_path, scripted, monkeypatch):
    monkeypatch.setenv("GRADER", "mathcritique")
    monkeypatch.setenv("VOTING", "exact")
    results = run_stage(tmp_path)
    assert (results["config"]["grader"], results["config"]["voting"]) == ("mathcritique", "exact")
    assert mv4(results, "mth") == 0.0  # counted by identical strings
    names = [c["name"] for c in results["scoring"]["columns"]]
    assert names == [
        "released grader, exact-answer voting",
        "project grader, exact-answer voting",
        "released grader, equivalence voting",
    ]
    report = write_report([results], tmp_path / "report").read_text()
    assert "### Accuracy by grader and voting rule" in report
    header = next(line for line in report.splitlines() if line.startswith("| metric | accuracy ("))
    assert "accuracy (released grader, exact-answer voting, primary)" in header
    assert "accuracy (project grader, exact-answer voting)" in header
    assert "| greedy accuracy | 0.0 (n=1) | 100.0 (n=1) | 0.0 (n=1) |" in report
    assert "| MV@4 of the pool | 0.0 (n=1) | 0.0 (n=1) | 100.0 (n=1) |" in report
    # the per-iteration table of several actors names the extra columns
    several = write_report([results, results], tmp_path / "report2").read_text()
    assert "greedy (project grader, exact-answer voting)" in several
    assert "MV@N (released grader, equivalence voting)" in several
    # another vote recounts the same generations: nothing is generated again
    monkeypatch.setenv("VOTING", "equivalence")
    again = run_stage(tmp_path)
    assert mv4(again, "mth") == 1.0
    assert [(c["grader"], c["voting"]) for c in again["scoring"]["columns"]] == [
        ("mathcritique", "equivalence"),
        ("default", "equivalence"),
    ]


def test_stage_with_the_projects_grader_and_vote_has_no_scoring_section(tmp_path, scripted, monkeypatch):
    monkeypatch.delenv("GRADER", raising=False)
    monkeypatch.delenv("VOTING", raising=False)
    results = run_stage(tmp_path)
    assert results["config"]["voting"] == "equivalence" and "scoring" not in results
    assert "Accuracy by grader and voting rule" not in write_report([results], tmp_path / "r").read_text()


# ------------------------------------------------------------------- the one-player table


def test_one_player_rows_show_the_projects_grader_and_vote_beside(tmp_path):
    from selfimprove.selftalk.table import comparison, markdown, row_results

    greedy, pool = graded(tmp_path, "mathcritique")
    row = row_results("selftalk", QUESTIONS, greedy, pool, {"grader": "mathcritique", "voting": "exact"})
    assert [c["name"] for c in row["scoring"]["columns"]][1] == "project grader, exact-answer voting"
    table = comparison([row])
    scoring = table["datasets"]["mth"]["rows"]["selftalk"]["scoring"]
    assert [(c["mv_at_n"] or {}).get("value") for c in scoring] == [0.0, 0.0, 1.0]
    md = markdown(table)
    assert "greedy (released grader, exact-answer voting, primary)" in md
    assert "| Self-talk (one player) | 0.0 | 0.0 | 100.0 | 100.0 | 0.0 | 0.0 |" in md  # gsm: greedy, MV@N each
    plain = row_results("selftalk", QUESTIONS, greedy, pool, {"grader": "default"})
    assert plain["scoring"] is None and "scoring" not in comparison([plain])["datasets"]["mth"]["rows"]["selftalk"]


@pytest.mark.parametrize(
    ("pos", "neg", "expected"),
    [
        ([2.0, 3.0], [0.0, 1.0], 1.0),  # every positive scores above every negative
        ([0.0, 1.0], [2.0, 3.0], 0.0),
        ([1.0, 1.0], [1.0, 1.0], 0.5),  # ties count half
        ([0.0, 2.0], [1.0], 0.5),
        ([3.0, 1.0, 2.0], [0.0, 2.0], 4.5 / 6),
    ],
)
def test_auc_is_the_share_of_pairs_ranked_right(pos, neg, expected):
    assert auc(pos + neg, [True] * len(pos) + [False] * len(neg)) == pytest.approx(expected)
    mixed = list(zip(pos + neg, [True] * len(pos) + [False] * len(neg)))[::-1]  # the order does not matter
    assert auc([s for s, _ in mixed], [y for _, y in mixed]) == pytest.approx(expected)


def test_auc_of_an_empty_class_is_unknown():
    assert auc([1.0], [True]) is None and auc([1.0], [False]) is None and auc([], []) is None
