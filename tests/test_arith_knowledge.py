"""scripts/arith_knowledge.py: which equations are probed, and how they are scored."""

from __future__ import annotations

import importlib.util
import json
import random
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("arith_knowledge", ROOT / "scripts" / "arith_knowledge.py")
assert _spec is not None and _spec.loader is not None
ak = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ak)


def _questions(tmp_path: Path) -> Path:
    rows = [
        {"id": "a", "steps": [{"expr": "4*7", "value": 28}, {"expr": "28-6", "value": 22}]},
        {"id": "b", "steps": [{"expr": "4*7", "value": 28}, {"expr": "(2+3)*4", "value": 20}]},
        {"id": "c", "question": "GSM8K-style, no steps"},
    ]
    path = tmp_path / "q.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + "\n")
    return path


def test_only_distinct_single_operation_steps_are_probed(tmp_path):
    assert sorted(ak.equations(_questions(tmp_path), 10)) == [("28 - 6", 22), ("4 * 7", 28)]
    assert len(ak.equations(_questions(tmp_path), 1)) == 1


def test_a_near_miss_is_one_to_three_away_and_never_negative():
    rng = random.Random(0)
    misses = [ak.near_miss(1, rng) for _ in range(200)]
    assert set(misses) <= {0, 2, 3, 4} and 1 not in misses
    assert {ak.near_miss(40, rng) - 40 for _ in range(200)} == {-3, -2, -1, 1, 2, 3}


def test_whole_results_only():
    assert [ak.value_of(7, "-", 9), ak.value_of(9, "-", 7), ak.value_of(7, "/", 2), ak.value_of(8, "/", 2)] == [
        None,
        2,
        None,
        4,
    ]


def test_drill_equations_stay_in_the_probed_ranges_and_avoid_the_probed_ones():
    probed = [("12 - 5", 7), ("30 - 9", 21), ("4 * 7", 28), ("3 * 6", 18)]
    drill = ak.drill_equations(probed, 300, seed=1)
    assert len(drill) == 300
    for expr, value in drill:
        a, op, b = expr.split()
        assert expr not in {e for e, _ in probed}
        assert value == ak.value_of(int(a), op, int(b))
        if op == "-":
            assert 12 <= int(a) <= 30 and 5 <= int(b) <= 9
        else:
            assert op == "*" and 3 <= int(a) <= 4 and 6 <= int(b) <= 7
    assert {e.split()[1] for e, _ in drill} == {"-", "*"}


def test_steps_are_scored_where_they_stand_in_the_solution_up_to_the_first_wrong_one():
    prompt = "Question: ...\nSolution:\nKim buys 4 * 7 = 28 cards.\nKim has 28 - 6 = 23 cards left.\nThe answer is 23."
    critique = (
        "Step sentence: Kim buys 4 * 7 = 28 cards.\nCorrectness of the step: Correct\nExplanation: ok.\n\n"
        "Step sentence: Kim has 28 - 6 = 23 cards left.\nCorrectness of the step: Wrong\nExplanation: 22.\n\n"
        "Step sentence: The answer is 23.\nCorrectness of the step: Wrong\nExplanation: carried."
    )
    steps = ak.step_statements(prompt, critique)
    assert [(prompt[r[0] : r[1]], prompt[e[0] : e[1]], w) for r, e, w in steps] == [
        ("28", "4 * 7 = 28", False),
        ("23", "28 - 6 = 23", True),
    ]
    assert ak.step_statements(prompt, critique.replace("Kim buys", "Kim gets")) == steps[1:]  # not in the prompt


@pytest.mark.integration
def test_the_embedded_model_is_probed_per_operation(tmp_path, capsys):
    model = ROOT / "models" / "SmolLM2-135M-Instruct"
    if not (model / "config.json").is_file():
        pytest.skip("the embedded model is not set up (bash scripts/setup_env.sh)")
    assert ak.main(["--questions", str(_questions(tmp_path)), "--model", str(model)]) == 0
    out = capsys.readouterr().out
    assert "| * | 1 |" in out and "| - | 1 |" in out and "| all | 2 |" in out
    wider = tmp_path / "wider.jsonl"
    steps = [{"expr": e, "value": v} for e, v in [("12-5", 7), ("30-9", 21), ("4*7", 28), ("3*6", 18)]]
    wider.write_text(json.dumps({"id": "w", "steps": steps}) + "\n")
    assert ak.main(["--questions", str(wider), "--model", str(model), "--train", "4"]) == 0
    out = capsys.readouterr().out
    assert "| all | 4 |" in out and "after fine-tuning on 4 other equations" in out
    critiques = tmp_path / "critiques.json"
    step = "Kim has 12 - 5 = {} cards."
    rows = [
        {
            "conversations": [
                {"from": "human", "value": f"Solution:\n{step.format(v)}"},
                {"from": "gpt", "value": f"Step sentence: {step.format(v)}\nCorrectness of the step: {verdict}"},
            ]
        }
        for v, verdict in [(7, "Correct"), (9, "Wrong")]
    ]
    critiques.write_text(json.dumps(rows))
    assert ak.main(["--questions", str(wider), "--model", str(model), "--critiques", str(critiques)]) == 0
    assert "in the critic's prompt: 2 step decisions with an equation (1 wrong): AUC" in capsys.readouterr().out


def test_questions_without_steps_are_refused(tmp_path, capsys):
    path = tmp_path / "q.jsonl"
    path.write_text(json.dumps({"id": "x", "question": "q"}) + "\n")
    assert ak.main(["--questions", str(path), "--model", "no-such-model"]) == 2
    assert "no single-operation steps" in capsys.readouterr().err
