"""Engines return completions (text, finish reason, token counts) and every generated record
carries them; truncated generations are counted."""

from __future__ import annotations

import json
import types

import pytest

from selfimprove.core.records import Question, Sample
from selfimprove.generation.engines import Completion, HFEngine, SamplingParams, ScriptedEngine
from selfimprove.generation.prompts import Prompt, PromptFormat
from selfimprove.generation.tasks import critique_samples, refine_critiques, sample_questions

QUESTIONS: list[Question] = [
    {"id": "add", "dataset_type": "gsm8k", "question": "Tom has 4 pens and buys 3 more. How many now?", "gold": "7"},
    {"id": "mul", "dataset_type": "gsm8k", "question": "Six boxes hold 5 eggs each. How many eggs?", "gold": "30"},
]


def test_completion_defaults_and_record_fields():
    c = Completion("x")
    assert (c.finish_reason, c.prompt_tokens, c.completion_tokens, c.truncated) == ("stop", None, None, False)
    cut = Completion("half an ans", "length", 12, 3)
    assert cut.truncated
    assert cut.record_fields() == {"finish_reason": "length", "prompt_tokens": 12, "completion_tokens": 3}
    with pytest.raises(AttributeError):
        cut.text = "changed"  # type: ignore[misc]


def test_scripted_engine_counts_words_and_keeps_scripted_completions():
    def respond(prompt: Prompt, k: int):
        if k == 1:
            return Completion("cut off mid", "length")
        if k == 2:
            return Completion("given counts", "stop", prompt_tokens=99, completion_tokens=1)
        return "four words right here"

    prompt = Prompt(({"role": "user", "content": "two words"},), prefix="and three more")
    (out,) = ScriptedEngine(respond).generate([prompt], SamplingParams(n=3))
    assert out == [
        Completion("four words right here", "stop", 5, 4),
        Completion("cut off mid", "length", 5, 3),
        Completion("given counts", "stop", 99, 1),
    ]


def _actor(truncate: set[str]) -> ScriptedEngine:
    """Answers right; the questions in ``truncate`` stop at the length limit on sample 1."""

    def respond(prompt: Prompt, k: int):
        q = prompt.messages[0]["content"]
        key = "add" if "pens" in q else "mul"
        answer = {"add": "4 + 3 = 7.\nThe answer is 7.", "mul": "6 * 5 = 30.\nThe answer is 30."}[key]
        if key in truncate and k == 1:
            return Completion(answer.split("=")[0] + "=", "length")
        return answer

    return ScriptedEngine(respond, name="actor")


def test_sample_records_carry_finish_reason_and_tokens(tmp_path, caplog):
    out = tmp_path / "samples.jsonl"
    records, counts = sample_questions(_actor({"mul"}), QUESTIONS, out, SamplingParams(n=2, max_tokens=6))
    assert counts["truncated"] == 1 and counts["generated"] == 4
    by_id = {r["id"]: r for r in records}
    assert by_id["mul/s1"]["finish_reason"] == "length" and not by_id["mul/s1"]["correct"]
    assert by_id["mul/s1"]["completion_tokens"] == 4  # "6 * 5 ="
    assert by_id["add/s0"]["finish_reason"] == "stop" and by_id["add/s0"]["completion_tokens"] == 9
    # prompt tokens: the question message (with the answer-format sentence) plus the reply prefix
    assert all(isinstance(r["prompt_tokens"], int) and r["prompt_tokens"] > 20 for r in records)
    on_disk = [json.loads(line) for line in out.read_text().splitlines()]
    assert {r["id"]: r["finish_reason"] for r in on_disk} == {r["id"]: r["finish_reason"] for r in records}
    assert "1 generation(s)" in caplog.text and "stopped at max_tokens=6: mul/s1" in caplog.text

    # a rerun generates nothing and keeps the fields
    again, counts = sample_questions(_actor(set()), QUESTIONS, out, SamplingParams(n=2, max_tokens=6))
    assert counts["generated"] == 0 and counts["truncated"] == 0
    assert again == records


def test_critique_and_refine_records_carry_the_fields(tmp_path):
    samples, _ = sample_questions(_actor(set()), QUESTIONS, tmp_path / "s.jsonl", SamplingParams(n=1))
    wrong: list[Sample] = [{**s, "correct": False} for s in samples]

    def critic_respond(prompt, k):
        if "pens" in prompt.messages[0]["content"]:
            return Completion("Correctness of the step: Wrong", "length", completion_tokens=5)
        return "Correctness of the final answer: Wrong"

    crits, cc = critique_samples(ScriptedEngine(critic_respond), wrong, tmp_path / "c.jsonl", SamplingParams())
    assert cc["truncated"] == 1
    assert {c["sample_id"]: (c["finish_reason"], c["completion_tokens"]) for c in crits} == {
        "add/s0": ("length", 5),
        "mul/s0": ("stop", 6),
    }
    refs, rc = refine_critiques(
        _actor({"add"}), crits, {s["id"]: s for s in wrong}, tmp_path / "r.jsonl", SamplingParams(n=2)
    )
    assert rc["truncated"] == 1
    assert [(r["id"], r["finish_reason"]) for r in refs if r["finish_reason"] != "stop"] == [("add/s0/c0/r1", "length")]
    assert all((r["prompt_tokens"] or 0) > 0 and (r["completion_tokens"] or 0) > 0 for r in refs)


# --------------------------------------------------------------------------- HF finish reasons


class _Tok:
    """A word-level stand-in tokenizer: ids 1.. for words, 0 = end of sequence (also padding)."""

    eos_token_id = 0
    eos_token = "<eos>"
    chat_template = None

    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": list(range(1, len(text.split()) + 1))}


def _hf_stub() -> HFEngine:
    engine = HFEngine.__new__(HFEngine)  # no model: only the bookkeeping of one generated row
    engine.tokenizer = _Tok()
    engine.format = PromptFormat("base", _Tok())
    return engine


def test_hf_completion_finish_reasons():
    engine = _hf_stub()
    p = SamplingParams(max_tokens=5, stop=("Human:",))
    # ended with the end-of-sequence token (then padding): "stop", the eos counted
    assert engine._completion("a b", [7, 8, 0, 0, 0], 9, p) == Completion("a b", "stop", 9, 3)
    # ran into max_tokens without an end: "length"
    assert engine._completion("a b c d e", [1, 2, 3, 4, 5], 9, p) == Completion("a b c d e", "length", 9, 5)
    # ran on into a stop string: cut there, "stop", the kept text counted
    assert engine._completion("a b Human: c", [1, 2, 3, 4, 5], 9, p) == Completion("a b ", "stop", 9, 2)


def test_openai_usage_with_one_choice_is_the_completion_length():
    from selfimprove.generation.engines import OpenAIEngine

    engine = OpenAIEngine.__new__(OpenAIEngine)
    engine.format = None
    response = types.SimpleNamespace(
        choices=[types.SimpleNamespace(finish_reason="length")],
        usage=types.SimpleNamespace(prompt_tokens=40, completion_tokens=16),
    )
    assert engine._completions(response, ["t"]) == [Completion("t", "length", 40, 16)]
    no_usage = types.SimpleNamespace(choices=[types.SimpleNamespace(finish_reason="stop")] * 2, usage=None)
    assert engine._completions(no_usage, ["a", "b"]) == [Completion("a", "stop"), Completion("b", "stop")]
