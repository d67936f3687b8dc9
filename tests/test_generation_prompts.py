"""Prompt texts written once: the refinement request per prompt format (the released code's
wording for base and chat actors) and critique parsing in its own module."""

from __future__ import annotations

import types

import pytest

from selfimprove.core.records import Critique, Sample
from selfimprove.generation import critique_format, prompts
from selfimprove.generation.engines import SamplingParams, ScriptedEngine
from selfimprove.generation.prompts import (
    SOLUTION_PREFIX,
    PromptFormat,
    parse_critique,
    refine_message,
    refine_prompt,
)
from selfimprove.generation.tasks import refine_critiques

BASE_ASK = "Please read the following critic and use this critic as a reference to provide a new detailed"
CHAT_ASK = "Please read the following critic and generate a new answer to correct your solution."


def test_refine_wording_per_format():
    base = refine_message("Step 2 is wrong.", "gsm8k", "base")
    chat = refine_message("Step 2 is wrong.", "math", "chat")
    assert base.startswith("I have made a step-by-step critic for your solution. " + BASE_ASK)
    assert chat == (
        "I have made a step-by-step critic for your solution. " + CHAT_ASK + " Please also give your final number "
        "in the format of 'The answer is $\\boxed{[your answer]}$.'\n\nStep 2 is wrong."
    )
    assert CHAT_ASK not in base and BASE_ASK not in chat
    assert refine_message("c", "gsm8k") == base.replace("Step 2 is wrong.", "c")  # base when unsaid
    with pytest.raises(ValueError, match="prompt kind"):
        refine_message("c", "gsm8k", "instruct")


def test_chat_template_render_of_the_chat_refine_prompt():
    def apply_chat_template(messages, tokenize, add_generation_prompt):
        turns = "".join(f"<{m['role']}>{m['content']}</{m['role']}>" for m in messages)
        return turns + ("<assistant>" if add_generation_prompt else "")

    tok = types.SimpleNamespace(chat_template="{{ x }}", eos_token="<end>", apply_chat_template=apply_chat_template)
    text = PromptFormat("chat", tok).render(refine_prompt("Q?", SOLUTION_PREFIX + "1 + 1 = 3", "crit", "gsm8k", "chat"))
    assert text == (
        "<user>Q? Please also give your final number in the format of 'The answer is [your answer].'</user>"
        f"<assistant>{SOLUTION_PREFIX}1 + 1 = 3</assistant>"
        "<user>I have made a step-by-step critic for your solution. " + CHAT_ASK + " Please also give your final "
        "number in the format of 'The answer is [your answer].'\n\ncrit</user><assistant>" + SOLUTION_PREFIX
    )


def _refine_with(engine, tmp_path):
    sample: Sample = {
        "id": "q/s0",
        "qid": "q",
        "question": "What is 2 + 2?",
        "response": SOLUTION_PREFIX + "2 + 2 = 5.\nThe answer is 5.",
        "gold": "4",
        "dataset_type": "gsm8k",
    }
    critique: Critique = {"id": "q/s0/c0", "sample_id": "q/s0", "critique": "Correctness of the final answer: Wrong"}
    refine_critiques(engine, [critique], {"q/s0": sample}, tmp_path / "r.jsonl", SamplingParams())
    ((prompts_sent, _),) = engine.calls
    return prompts_sent[0].messages[-1]["content"]


def test_refine_task_words_the_request_for_the_actor(tmp_path):
    chat_actor = ScriptedEngine(lambda p, k: "2 + 2 = 4.\nThe answer is 4.")
    assert chat_actor.prompt_kind == "chat"
    assert CHAT_ASK in _refine_with(chat_actor, tmp_path / "chat")
    base_actor = ScriptedEngine(
        lambda p, k: "2 + 2 = 4.\nThe answer is 4.", prompt_format=PromptFormat("base", eos_token="</s>")
    )
    assert base_actor.prompt_kind == "base"
    assert BASE_ASK in _refine_with(base_actor, tmp_path / "base")


def test_critique_parsing_lives_in_its_own_module_and_is_re_exported():
    assert prompts.parse_critique is critique_format.parse_critique is parse_critique
    assert prompts.ParsedCritique is critique_format.ParsedCritique
    text = (
        "Step sentence: 2 + 2 = 5\nCorrectness of the step: Wrong\nExplanation: 4.\n\n"
        "Correctness of the final answer: [Incorrect]\nExplanation: see above."
    )
    parsed = parse_critique(text)
    assert (parsed.verdict, parsed.steps, parsed.follows_format) == ("wrong", ("wrong",), True)
