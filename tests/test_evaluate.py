"""The evaluation's generation flow with scripted actor and critic (no model): which answers get
critiqued and refined in each mode, and that the numbers follow by hand."""

from __future__ import annotations

import json

import pytest

from selfimprove.engines import SamplingParams, ScriptedEngine
from selfimprove.evaluate import run_sequential
from selfimprove.metrics import compute_results
from selfimprove.prompts import Prompt
from selfimprove.sample import sample_questions

QUESTIONS = [
    {"id": "t/0", "dataset": "toy", "dataset_type": "gsm8k", "question": "What is 2 + 3?", "gold": "5", "level": 1},
    {"id": "t/1", "dataset": "toy", "dataset_type": "gsm8k", "question": "What is 4 * 6?", "gold": "24", "level": 2},
]
# first answers: t/0 wrong (6), t/1 right (24); a refinement answers t/0 right (5), t/1 wrong (25)
FIRST = {"2 + 3": "6", "4 * 6": "24"}
REFINED = {"2 + 3": "5", "4 * 6": "25"}


def actor() -> ScriptedEngine:
    def respond(p: Prompt, k: int) -> str:
        table = REFINED if len(p.messages) == 3 else FIRST
        key = next(k for k in table if k in p.messages[0]["content"])
        return f"Compute.\nThe answer is {table[key]}."
    return ScriptedEngine(respond, name="actor")


def critic() -> ScriptedEngine:
    """Judges by the answer: 6 and 25 are wrong, anything else correct (a perfect critic here)."""
    def respond(p: Prompt, k: int) -> str:
        solution = p.messages[0]["content"].split("Solution:\n", 1)[1]
        bad = "answer is 6." in solution or "answer is 25." in solution
        return f"Step sentence: Compute.\nCorrectness of the step: Correct\nExplanation: ok\n\n" \
               f"Correctness of the final answer: {'Wrong' if bad else 'Correct'}\nExplanation: e"
    return ScriptedEngine(respond, name="critic")


def finals(results: dict) -> list[float]:
    block = results["datasets"]["toy"]["overall"]["sequential"]
    return [p["value"] for p in block["final"]]


@pytest.mark.parametrize("mode, refined_per_round, expected_final", [
    ("oracle", [{"t/0"}, {"t/0"}], [0.5, 1.0, 1.0]),        # only the first-wrong chain, every round
    ("all", [{"t/0", "t/1"}, {"t/0", "t/1"}], [0.5, 0.5, 0.5]),  # t/1 is talked out of its right answer
    ("verifier", [{"t/0"}, set()], [0.5, 1.0, 1.0]),        # refine while the critic says wrong
])
def test_sequential_modes(tmp_path, mode, refined_per_round, expected_final):
    a, c = actor(), critic()
    greedy, _ = sample_questions(a, QUESTIONS, tmp_path / "greedy.jsonl", SamplingParams())
    chain, counts = run_sequential(a, c, QUESTIONS, greedy, tmp_path, 2, mode, SamplingParams(), SamplingParams(),
                                   "default", 64)
    for r, expected in enumerate(refined_per_round, 1):
        assert {x["qid"] for x in chain if x["round"] == r} == expected
    assert (tmp_path / f"chain_{mode}.jsonl").is_file()
    results = compute_results(QUESTIONS, greedy, greedy, None, None, chain, {"rounds": 2})
    assert finals(results) == pytest.approx(expected_final)
    # a rerun reads everything back: no generation at all
    a2, c2 = actor(), critic()
    chain2, _ = run_sequential(a2, c2, QUESTIONS, greedy, tmp_path, 2, mode, SamplingParams(), SamplingParams(),
                               "default", 64)
    assert a2.calls == [] and c2.calls == []
    assert [x["id"] for x in chain2] == [x["id"] for x in chain]


def test_more_rounds_cost_only_the_new_rounds(tmp_path):
    a, c = actor(), critic()
    greedy, _ = sample_questions(a, QUESTIONS, tmp_path / "greedy.jsonl", SamplingParams())
    run_sequential(a, c, QUESTIONS, greedy, tmp_path, 1, "all", SamplingParams(), SamplingParams(), "default", 64)
    a2, c2 = actor(), critic()
    chain, _ = run_sequential(a2, c2, QUESTIONS, greedy, tmp_path, 2, "all", SamplingParams(), SamplingParams(),
                              "default", 64)
    assert sum(len(p) for p, _ in a2.calls) == 2  # round 2 only, one refinement per chain
    assert sorted(x["round"] for x in chain) == [0, 0, 1, 1, 2, 2]
    lines = (tmp_path / "chain_all.jsonl").read_text().splitlines()
    assert len(lines) == len({json.loads(x)["id"] for x in lines}) == 6
