"""Critic evaluation: the balanced response set, every metric worked by hand, scripted critics and
actor end to end, and the report."""

from __future__ import annotations

import json

import pytest

from selfimprove.core.errors import UsageError
from selfimprove.core.records import Refinement
from selfimprove.critic.evaluate import (
    balanced_responses,
    critic_metrics,
    evaluate_critic,
    processbench_metrics,
    processbench_responses,
    response_summary,
)
from selfimprove.critic.report import table, write_report
from selfimprove.generation.engines import SamplingParams, ScriptedEngine
from selfimprove.generation.prompts import SOLUTION_PREFIX
from selfimprove.stages.critic_eval import parse_critics

Q = "Zoe has 12 pens and buys 7 more. She gives 4 away. How many pens does Zoe have?"
STEPS = [{"expr": "12+7", "value": 19}, {"expr": "19-4", "value": 15}]


def resp(rid, lines, correct, pred, selected=True):
    return {
        "id": rid,
        "qid": rid.rsplit("/", 2)[0],
        "strategy": rid.split("/")[-2] if rid.count("/") > 1 else "reference",
        "question": Q,
        "response": SOLUTION_PREFIX + "\n".join(lines),
        "gold": "15",
        "dataset_type": "gsm8k",
        "correct": correct,
        "pred": pred,
        "selected": selected,
        "steps": STEPS,
    }


GOOD = ["Zoe has 12 + 7 = 19 pens.", "She has 19 - 4 = 15 pens.", "The answer is 15."]
BAD1 = ["Zoe has 12 + 7 = 18 pens.", "She has 18 - 4 = 14 pens.", "The answer is 14."]  # first error: 0
BAD2 = ["Zoe has 12 + 7 = 19 pens.", "She has 19 + 4 = 23 pens.", "The answer is 23."]  # first error: 1
C1, C2 = resp("q/a/rg1/0", GOOD, True, "15"), resp("q/b/rg1/0", GOOD + ["Done."], True, "15")
W1, W2 = resp("q/a/rg3/0", BAD1, False, "14"), resp("q/b/rg3/0", BAD2, False, "23")


def test_balanced_responses_are_balanced_seeded_and_labelled():
    extra_wrong = [resp(f"q/x{i}/rg3/0", BAD1, False, "14") for i in range(3)]
    unselected = resp("q/u/rg1/0", GOOD, True, "15", selected=False)
    pool = [C1, C2, W1, W2, unselected, *extra_wrong]
    out = balanced_responses(pool, per_class=5, seed=0)
    assert sum(r["correct"] for r in out) == 2 and sum(not r["correct"] for r in out) == 2
    assert "q/u/rg1/0" not in {r["id"] for r in out}
    assert out == balanced_responses(pool, per_class=5, seed=0)
    labels = {r["id"]: (r["label_first_error"], r["label_status"]) for r in balanced_responses([C1, C2, W1, W2], 9)}
    assert labels == {C1["id"]: (None, "ok"), C2["id"]: (None, "ok"), W1["id"]: (0, "ok"), W2["id"]: (1, "ok")}
    assert response_summary(out)["n"] == 4


def crit(sample, verdict, steps):
    blocks = "".join(f"Step sentence: {s}\nCorrectness of the step: {v}\nExplanation: .\n\n" for s, v in steps)
    text = blocks + (f"Correctness of the final answer: {verdict}\nExplanation: ." if verdict else "I think so.")
    v = None if verdict is None else verdict.lower()
    return {
        "id": sample["id"] + "/c0",
        "sample_id": sample["id"],
        "critique": text,
        "verdict": v,
        "step_verdicts": [x.lower() for _, x in steps],
    }


def test_metrics_worked_by_hand():
    responses = [dict(r, label_status="ok") for r in (C1, C2, W1, W2)]
    for r, label in zip(responses, (None, None, 0, 1)):
        r["label_first_error"] = label
    critiques = [
        crit(C1, "Correct", [(GOOD[0], "Correct"), (GOOD[1], "Correct")]),
        crit(C2, None, [(GOOD[0], "Correct")]),  # no final verdict: a format miss, and refined
        crit(W1, "Wrong", [(BAD1[0], "Wrong"), (BAD1[1], "Wrong")]),  # first error found exactly
        crit(W2, "Correct", [(BAD2[0], "Correct"), (BAD2[1], "Correct")]),  # fooled
    ]
    refinements: list[Refinement] = [
        {"sample_id": C2["id"], "correct": True},
        {"sample_id": W1["id"], "correct": True},
        {"sample_id": W2["id"], "correct": False},
    ]
    m = critic_metrics(responses, critiques, refinements)
    assert m["format_compliance"] == 0.75
    assert (m["discrimination"], m["discrimination_on_wrong"], m["discrimination_on_correct"]) == (0.5, 0.5, 0.5)
    assert (m["f1_accuracy_erroneous"], m["f1_accuracy_correct"], m["f1"]) == (0.5, 0.5, 0.5)
    assert m["helpfulness"] == 0.5
    assert (m["accuracy_before_refinement"], m["accuracy_after_refinement"]) == (0.5, 0.75)
    none = critic_metrics(responses, None, [])
    assert none["accuracy_after_refinement"] == 0.5 and none["discrimination"] is None and none["f1"] is None
    # every ratio again with its counts and 95 % interval (Wilson; F1 from the accuracies' bounds)
    iv = m["intervals"]
    assert iv["format_compliance"] == {"value": 0.75, "hits": 3, "n": 4, "ci": [0.3006, 0.9544], "method": "wilson"}
    assert (iv["discrimination"]["hits"], iv["discrimination"]["n"], iv["discrimination"]["ci"]) == (2, 4, [0.15, 0.85])
    assert (iv["helpfulness"]["hits"], iv["helpfulness"]["n"]) == (1, 2)  # of the wrong responses
    assert (iv["f1_accuracy_erroneous"]["hits"], iv["f1_accuracy_erroneous"]["n"]) == (1, 2)
    assert (iv["accuracy_after_refinement"]["hits"], iv["accuracy_after_refinement"]["n"]) == (3, 4)
    f1 = iv["f1"]
    assert (f1["value"], f1["hits"], f1["n"], f1["method"]) == (0.5, None, 4, "wilson-harmonic")
    assert f1["ci"][0] < 0.5 < f1["ci"][1] and f1["ci"] == [0.0771, 0.9229]  # both accuracies 1/2, at 97.5 %
    assert set(iv) >= {"discrimination_on_wrong", "discrimination_on_correct", "accuracy_before_refinement"}
    assert set(none["intervals"]) == {"accuracy_before_refinement", "accuracy_after_refinement"}
    assert none["intervals"]["accuracy_after_refinement"]["ci"] == [0.15, 0.85]


def test_scripted_critic_and_actor_end_to_end(tmp_path):
    responses = balanced_responses([C1, C2, W1, W2], per_class=2)

    def critic_respond(prompt, k):  # calls everything wrong, blaming the first step
        first = prompt.messages[0]["content"].split("Solution:\n", 1)[1].splitlines()[0]
        return f"Step sentence: {first}\nCorrectness of the step: Wrong\nExplanation: .\n\nCorrectness of the final answer: Wrong\nExplanation: ."

    refined = []

    def actor_respond(prompt, k):
        refined.append(prompt.messages[1]["content"])
        return "Zoe has 19 pens, then 15.\nThe answer is 15."

    critic = ScriptedEngine(critic_respond, name="always-wrong")
    actor = ScriptedEngine(actor_respond, name="actor")
    params = SamplingParams(max_tokens=64)
    m = evaluate_critic("w", critic, actor, responses, tmp_path, params, params)
    assert len(refined) == 4  # every response: the critic calls none correct
    assert (m["format_compliance"], m["discrimination"], m["helpfulness"], m["accuracy_after_refinement"]) == (
        1.0,
        0.5,
        1.0,
        1.0,
    )
    assert (m["f1_accuracy_erroneous"], m["f1_accuracy_correct"]) == (0.5, 0.0)  # W1's first error is step 0
    assert (tmp_path / "w" / "critiques.jsonl").is_file() and (tmp_path / "w" / "refinements.jsonl").is_file()
    # the programmatic critic: right about everything; only the wrong responses are refined
    refined.clear()
    p = evaluate_critic("programmatic", "programmatic", actor, responses, tmp_path, params, params)
    assert len(refined) == 2
    assert (p["format_compliance"], p["discrimination"], p["f1"], p["accuracy_after_refinement"]) == (
        1.0,
        1.0,
        1.0,
        1.0,
    )
    # resumed: nothing new is generated
    evaluate_critic("w", critic, actor, responses, tmp_path, params, params)
    assert len(critic.calls) == 1

    critics = {"none": critic_metrics(responses, None, []), "w": m, "programmatic": p}
    critics["trained"] = dict(m, format_compliance=0.96, discrimination=0.7)
    results = {"actor": "actor", "responses": response_summary(responses), "critics": critics}
    path = write_report(results, tmp_path)
    text = path.read_text()
    assert table(results) in text
    assert "| none |  | – | – | – | – | 50.0 [15.0, 85.0] (n=4) | 4 |" in text  # value [95 % interval] (n)
    assert (
        "| programmatic |  | 100.0 [51.0, 100.0] (n=4) | 100.0 [51.0, 100.0] (n=4) | 100.0 [28.5, 100.0] (n=4) |"
        in text
    )
    assert "| trained |  | 96.0 | 70.0 | 0.0 [0.0, 80.6] (n=4) |" in text  # values changed by hand: no interval
    assert "95 % interval" in text and "Wilson" in text
    assert "trained format compliance: 96.0 % (goal >= 95 %): met" in text
    assert "trained discrimination: 70.0 % (goal >= 75 %): not met" in text
    assert (tmp_path / "critics.png").stat().st_size > 1000
    json.dumps(results)  # serialisable


def test_parse_critics():
    assert parse_critics(["base=/m", "trained=runs/x/critic/model", "gpt=api:gpt-4o"]) == [
        ("base", "/m"),
        ("trained", "runs/x/critic/model"),
        ("gpt", "api:gpt-4o"),
    ]
    for bad in (["base"], ["a b=x"], ["x="], ["a=1", "a=2"]):
        with pytest.raises(UsageError):
            parse_critics(bad)


def test_processbench_metrics_by_hand():
    rows = [
        {
            "id": "pb/0",
            "problem": "What is 5 + 6?",
            "steps": ["5 + 6 = 11.", "The answer is 11."],
            "label": -1,
            "final_answer_correct": True,
        },
        {
            "id": "pb/1",
            "problem": "What is 4 * 4?",
            "steps": ["We multiply.", "4 * 4 = 15.\nSo 15.", "Answer: 15"],
            "label": 1,
            "final_answer_correct": False,
        },
        {
            "id": "pb/2",
            "problem": "What is 9 - 2?",
            "steps": ["9 - 2 = 8.", "The answer is 8."],
            "label": 0,
            "final_answer_correct": False,
        },
    ]
    responses = processbench_responses(rows)
    assert responses[1]["response"] == SOLUTION_PREFIX + "We multiply.\n4 * 4 = 15. So 15.\nAnswer: 15"

    def c(r, verdict, steps):
        return crit(r, verdict, steps)

    critiques = [
        c(responses[0], "Correct", [("5 + 6 = 11.", "Correct")]),  # right, no step called wrong
        c(responses[1], "Wrong", [("We multiply.", "Correct"), ("4 * 4 = 15. So 15.", "Wrong")]),  # exact
        c(responses[2], "Wrong", [("9 - 2 = 8.", "Correct"), ("The answer is 8.", "Wrong")]),  # one step late
    ]
    m = processbench_metrics(responses, critiques)
    intervals = m.pop("intervals")
    assert m == {
        "n": 3,
        "format_compliance": 1.0,
        "discrimination": 1.0,
        "f1": round(2 * 0.5 * 1.0 / 1.5, 4),
        "f1_accuracy_erroneous": 0.5,
        "f1_accuracy_correct": 1.0,
    }
    assert intervals["discrimination"] == {"value": 1.0, "hits": 3, "n": 3, "ci": [0.4385, 1.0], "method": "wilson"}
    assert (intervals["f1_accuracy_correct"]["hits"], intervals["f1_accuracy_correct"]["n"]) == (1, 1)
    assert intervals["f1"]["n"] == 3 and intervals["f1"]["value"] == m["f1"]


def test_the_comparison_flow_builds_engines_when_needed_and_closes_them(tmp_path):
    from selfimprove.critic.comparison import CriticComparisonConfig, CriticEngines, compare_critics

    def critic_respond(prompt, k):  # calls everything wrong
        return "Correctness of the final answer: Wrong\nExplanation: ."

    actors: list[ScriptedEngine] = []
    critics: list[ScriptedEngine] = []

    def load_actor():
        actors.append(ScriptedEngine(lambda p, k: "Zoe has 15.\nThe answer is 15.", name="actor"))
        return actors[-1]

    def load_critic(spec):
        critics.append(ScriptedEngine(critic_respond, name=spec))
        return critics[-1]

    params = SamplingParams(max_tokens=64)
    cfg = CriticComparisonConfig(
        out_dir=tmp_path,
        source="paths.jsonl",
        actor_model="actor",
        per_class=2,
        critic_params=params,
        refine_params=params,
        grader="default",
        seed=0,
        chunk_size=8,
        grade_workers=0,
    )
    engines = CriticEngines(load_actor, load_critic, is_actor=lambda spec: spec == "actor")
    named = [("none", "none"), ("w", "some/model"), ("programmatic", "programmatic")]
    results, report = compare_critics(cfg, [C1, C2, W1, W2], named, engines)
    assert list(results["critics"]) == ["none", "w", "programmatic"] and report.is_file()
    assert len(actors) == 1 and actors[0].closed and len(critics) == 1 and critics[0].closed
    assert results["critics"]["w"]["model"] == "some/model" and results["critics"]["w"]["discrimination"] == 0.5
    assert json.loads((tmp_path / "results.json").read_text()) == results
    assert len((tmp_path / "responses.jsonl").read_text().splitlines()) == 4
    with pytest.raises(UsageError, match="paths.jsonl: no correct and wrong"):
        compare_critics(cfg, [C1, C2], named, engines)
