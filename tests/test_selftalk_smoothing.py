"""Smoothing a chain into one self-talk monologue: the template text, and the LLM smoother's fallback."""

from __future__ import annotations

from selfimprove.generation.engines import SamplingParams, ScriptedEngine
from selfimprove.generation.prompts import SOLUTION_PREFIX
from selfimprove.grading.api import grade
from selfimprove.selftalk.smoothing import smooth_llm, smooth_template, template_monologue

CHAIN = {
    "id": "kite/c0",
    "question": "Lena buys 3 kites at $8 each. How much does she pay?",
    "gold": "24",
    "dataset_type": "gsm8k",
    "steps": [
        {
            "position": 0,
            "attempts": [
                {"text": "3 * 8 = 21 dollars.", "ok": False, "explanation": "3 * 8 is 24", "origin": "initial"},
                {"text": "3 * 8 = 24 dollars.", "ok": True, "explanation": "3 * 8 is 24.", "origin": "rewrite"},
            ],
        },
        {
            "position": 1,
            "attempts": [{"text": "The answer is 24.", "ok": True, "explanation": "", "origin": "generated"}],
        },
    ],
}


def test_template_monologue_checks_every_attempt_and_redoes_rejected_ones():
    text = template_monologue(CHAIN)
    lines = text.split("\n")
    assert lines[0] == "3 * 8 = 21 dollars."
    # a rejected attempt: a check that quotes the critique, says it is wrong, and announces the redo
    assert "3 * 8 is 24." in lines[1] and ("not right" in lines[1] or "wrong" in lines[1])
    assert lines[1].endswith(("Let me redo this step.", "Let me fix it.", "Let me correct this step."))
    assert lines[2] == "3 * 8 = 24 dollars."
    assert lines[3].endswith(("Looks good.", "That's right."))
    assert (
        lines[4] == "The answer is 24." and "  " not in lines[5] and lines[5].endswith(("Looks good.", "That's right."))
    )
    assert len(lines) == 6
    assert template_monologue(CHAIN) == text  # deterministic
    [(full, how)] = smooth_template([CHAIN])
    assert full == SOLUTION_PREFIX + text and how == "template"
    assert grade(full, "24", "gsm8k").correct


def test_llm_smoother_keeps_outputs_with_the_gold_answer_and_falls_back_otherwise():
    outputs = iter(["I multiply 3 by 8... wait, 21 is not right, it is 24. The answer is 24.", "The answer is 21."])
    engine = ScriptedEngine(lambda p, k: next(outputs))
    out = smooth_llm(engine, [CHAIN, {**CHAIN, "id": "kite/c1"}], SamplingParams())
    assert out[0] == (
        SOLUTION_PREFIX + "I multiply 3 by 8... wait, 21 is not right, it is 24. The answer is 24.",
        "llm",
    )
    assert out[1] == (SOLUTION_PREFIX + template_monologue({**CHAIN, "id": "kite/c1"}), "template-fallback")
    # the smoother is shown the question and the template draft
    shown = engine.calls[0][0][0].messages[0]["content"]
    assert CHAIN["question"] in shown and template_monologue(CHAIN) in shown
