"""scripts/verdict_weight.py: which tokens are verdicts, and how decisions are scored."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("verdict_weight", ROOT / "scripts" / "verdict_weight.py")
assert _spec is not None and _spec.loader is not None
vw = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(vw)

CRITIQUE = (
    "Step sentence: Liam bakes 5 * 3 = 24 cookies.\nCorrectness of the step: Wrong\nExplanation: 5 * 3 = 15.\n\n"
    "Correctness of the final answer: Wrong\nExplanation: The final answer should be 15, not 24."
)


def test_the_verdict_spans_are_the_verdict_words_with_their_space():
    assert [CRITIQUE[s:e] for s, e in vw.verdict_spans(CRITIQUE)] == [" Wrong", " Wrong"]
    assert vw.verdict_spans("Explanation: Wrong is a word here.") == []


def test_only_tokens_overlapping_a_verdict_get_the_weight():
    start = CRITIQUE.index(" Wrong")
    offsets = [(0, 4), (start - 1, start), (start, start + 6), (start + 6, start + 7)]
    assert vw.token_weights(offsets, vw.verdict_spans(CRITIQUE), 10.0) == [1.0, 1.0, 10.0, 1.0]


def test_the_first_mistake_is_told_apart_by_its_explanation():
    calc = CRITIQUE.replace("Explanation: 5 * 3 = 15.", "Explanation: 5 * 3 = 15, not 24.")
    setup = CRITIQUE.replace(
        "Explanation: 5 * 3 = 15.", "Explanation: This step gives 24, but it should give 8 (5 + 3 = 8)."
    )
    assert vw.mistake_kind(calc) == "calculation"
    assert vw.mistake_kind(setup) == "setup"
    assert vw.mistake_kind(CRITIQUE.replace("Wrong", "Correct")) is None


def test_wrong_verdicts_can_weigh_more_than_right_ones():
    spans = [(10, 16), (30, 38)]
    offsets = [(0, 4), (10, 16), (30, 38)]
    assert vw.token_weights(offsets, spans, 10.0, 0.5, [True, False], 2.0) == [0.5, 20.0, 10.0]


def test_the_best_threshold_is_what_a_calibrated_verdict_would_reach():
    ranked = [(-3.0, False), (-2.0, False), (-1.0, True), (0.5, True)]  # perfect ranking, bias off
    assert vw.balanced([(m > 0, w) for m, w in ranked]) == pytest.approx(75.0)
    assert vw.best_threshold(ranked) == pytest.approx(100.0)
    assert vw.best_threshold([(0.0, True), (0.0, False)]) == pytest.approx(50.0)  # no ranking: chance


@pytest.mark.parametrize(
    ("pairs", "expected"),
    [
        ([(True, True), (False, False)], 100.0),
        ([(False, True), (False, False), (False, False)], 50.0),  # one verdict for everything: chance
        ([(True, False), (False, True)], 0.0),
    ],
)
def test_balanced_accuracy(pairs, expected):
    assert vw.balanced(pairs) == pytest.approx(expected)


def test_arithmetic_checks_pair_each_right_step_with_a_changed_result():
    right = "Step sentence: Ines now has 22 + 9 = $31.\nCorrectness of the step: Correct\nExplanation: ok.\n\n"
    two = "Step sentence: She has 2 * 3 = 6 and 6 + 1 = 7.\nCorrectness of the step: Correct\nExplanation: ok.\n\n"
    rows = [{"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": right + two + CRITIQUE}]}]
    checks = [r["conversations"] for r in vw.drill_examples(rows, 6, seed=3)]
    assert len(checks) == 6
    verdicts = [c[1]["value"].split("Correctness of the step: ")[1].split("\n")[0] for c in checks]
    assert verdicts == ["Correct", "Wrong"] * 3
    for (
        prompt,
        critique,
    ) in checks:  # only the one-equation right step is used (not the wrong one, not the two-equation one)
        assert prompt["value"].startswith("Check this step:\nInes now has 22 + 9 = $")
        stated = int(prompt["value"].split("$")[1].rstrip("."))
        if "Wrong" in critique["value"]:
            assert stated != 31 and 1 <= abs(stated - 31) <= 9
            assert critique["value"].endswith(f"Explanation: 22 + 9 = 31, not {stated}.")
        else:
            assert stated == 31 and critique["value"].endswith("Explanation: 22 + 9 = 31 is correct.")
        assert critique["value"].startswith(f"Step sentence: {prompt['value'].split(chr(10))[1]}\n")


@pytest.mark.integration
def test_a_short_run_on_the_embedded_model_reports_before_and_after(tmp_path, capsys):
    model = ROOT / "models" / "SmolLM2-135M-Instruct"
    if not (model / "config.json").is_file():
        pytest.skip("the embedded model is not set up (bash scripts/setup_env.sh)")
    right = CRITIQUE.replace("= 24", "= 15").replace("Wrong", "Correct")
    rows = [
        {"conversations": [{"from": "human", "value": f"Question {i}: check it."}, {"from": "gpt", "value": c}]}
        for i, c in enumerate([CRITIQUE, right] * 2)
    ]
    data = tmp_path / "critiques.json"
    data.write_text(json.dumps(rows))
    argv = ["--train", str(data), "--test", str(data), "--model", str(model), "--n", "4", "--ntest", "2"]
    assert vw.main(argv + ["--batch", "2", "--eval-every", "0", "--verdict-weight", "10"]) == 0
    out = capsys.readouterr().out
    assert "4 examples + 0 arithmetic checks, 2 steps; base: decisions" in out
    assert "end (" in out and "(n = 2)" in out
    assert vw.main(argv + ["--batch", "2", "--eval-every", "0", "--drill", "4", "--drill-batch", "2"]) == 0
    out = capsys.readouterr().out
    assert "4 examples + 4 arithmetic checks, 4 steps; base: decisions" in out
    assert "held-out arithmetic checks" in out
