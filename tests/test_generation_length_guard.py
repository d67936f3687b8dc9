"""Prompts that do not fit the engine's context are reported and skipped, never sent; a rerun
skips them again instead of failing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from selfimprove.generation.engines import SamplingParams, ScriptedEngine, TokenizedEngine
from selfimprove.generation.loop import too_long
from selfimprove.generation.prompts import PromptFormat, solve_prompt
from selfimprove.generation.tasks import critique_samples, sample_questions

MODEL = Path(__file__).resolve().parent.parent / "models" / "SmolLM2-135M-Instruct"
HUGE = "How many apples? " + "apple " * 200_000  # about 1.2 MB


def _questions() -> list[dict]:
    return [
        {"id": "small", "dataset_type": "gsm8k", "question": "Ann has 2 cats and 3 dogs. How many pets?", "gold": "5"},
        {"id": "huge", "dataset_type": "gsm8k", "question": HUGE, "gold": "1"},
        {"id": "tiny", "dataset_type": "gsm8k", "question": "What is 1 + 1?", "gold": "2"},
    ]


def _actor(**kw) -> ScriptedEngine:
    return ScriptedEngine(lambda p, k: "It is 5.\nThe answer is 5.", **kw)


def test_too_long_prompt_is_skipped_reported_and_never_sent(tmp_path, capsys):
    actor = _actor(context_length=200)
    out = tmp_path / "s.jsonl"
    records, counts = sample_questions(actor, _questions(), out, SamplingParams(n=2, max_tokens=64))
    assert counts["skipped_too_long"] == 1 and counts["generated"] == 4
    assert sorted({r["qid"] for r in records}) == ["small", "tiny"]
    sent = [p.messages[0]["content"] for prompts, _ in actor.calls for p in prompts]
    assert len(sent) == 2 and not any(HUGE in s for s in sent)
    err = capsys.readouterr().err
    huge_tokens = len(HUGE.split()) + 22  # the question, the answer-format sentence and the reply prefix
    assert f"warning: skipped huge: prompt of {huge_tokens} tokens + max_tokens 64 > context of 200 tokens" in err

    # a rerun does not fail and does not send it either; the others are done
    again = _actor(context_length=200)
    _, counts = sample_questions(again, _questions(), out, SamplingParams(n=2, max_tokens=64))
    assert counts["skipped_too_long"] == 1 and counts["skipped_done"] == 2 and counts["generated"] == 0
    assert again.calls == []
    assert len(out.read_text().splitlines()) == 4


def test_room_for_max_tokens_decides(tmp_path):
    q = [_questions()[2]]  # "What is 1 + 1?" + answer format + prefix: 27 words
    n = _actor().count_prompt_tokens([solve_prompt(q[0]["question"], "gsm8k")])[0]
    assert n == 27
    _, fits = sample_questions(_actor(context_length=n + 10), q, tmp_path / "a.jsonl", SamplingParams(max_tokens=10))
    assert fits["skipped_too_long"] == 0 and fits["generated"] == 1
    _, over = sample_questions(_actor(context_length=n + 10), q, tmp_path / "b.jsonl", SamplingParams(max_tokens=11))
    assert over["skipped_too_long"] == 1 and over["generated"] == 0


def test_no_context_means_no_guard(tmp_path):
    _, counts = sample_questions(_actor(), _questions(), tmp_path / "s.jsonl", SamplingParams(max_tokens=64))
    assert counts["skipped_too_long"] == 0 and counts["generated"] == 3


def test_critiques_of_huge_solutions_are_skipped(tmp_path):
    samples = [
        {"id": "a/s0", "qid": "a", "question": "Q?", "response": "1 + 1 = 3", "correct": False},
        {"id": "b/s0", "qid": "b", "question": "Q?", "response": HUGE, "correct": False},
    ]
    critic = ScriptedEngine(lambda p, k: "Correctness of the final answer: Wrong", context_length=1000)
    crits, counts = critique_samples(critic, samples, tmp_path / "c.jsonl", SamplingParams(max_tokens=100))
    assert [c["sample_id"] for c in crits] == ["a/s0"] and counts["skipped_too_long"] == 1


def test_many_skips_are_summarised(tmp_path, capsys):
    qs = [{"id": f"q{i}", "dataset_type": "gsm8k", "question": "word " * 300, "gold": "1"} for i in range(25)]
    _, counts = sample_questions(_actor(context_length=100), qs, tmp_path / "s.jsonl", SamplingParams(max_tokens=8))
    assert counts["skipped_too_long"] == 25
    err = capsys.readouterr().err
    assert err.count("warning: skipped q") == 20
    assert "25 item(s) skipped in all" in err


class _WordTokenizer:
    def __call__(self, texts, add_special_tokens=True):
        extra = 1 if add_special_tokens else 0
        return {"input_ids": [[0] * (len(t.split()) + extra) for t in texts]}


class _Tokenized(TokenizedEngine):
    def __init__(self, tokenizer, fmt, context_length, add_special_tokens=True):
        self.tokenizer, self.format, self.context_length = tokenizer, fmt, context_length
        self.add_special_tokens = add_special_tokens

    def generate(self, prompts, params):
        raise AssertionError("not used")


def test_tokenized_engines_count_the_rendered_prompt():
    fmt = PromptFormat("base", eos_token="</s>")
    prompt = solve_prompt("What is 1 + 1?", "gsm8k")
    rendered = fmt.render(prompt)
    engine = _Tokenized(_WordTokenizer(), fmt, 4096)
    assert engine.count_prompt_tokens([prompt]) == [len(rendered.split()) + 1]  # with the special token
    engine.add_special_tokens = False
    assert engine.count_prompt_tokens([prompt]) == [len(rendered.split())]
    assert too_long(engine, [prompt], 4096 - len(rendered.split())) == {}
    assert list(too_long(engine, [prompt], 4097 - len(rendered.split()))) == [0]


@pytest.mark.skipif(not (MODEL / "tokenizer.json").is_file(), reason="embedded model not prepared")
def test_real_tokenizer_counts_a_megabyte_question():
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(MODEL))
    engine = _Tokenized(tok, PromptFormat.for_tokenizer(tok), 2048)
    small, huge = solve_prompt("What is 1 + 1?", "gsm8k"), solve_prompt(HUGE, "gsm8k")
    counts = engine.count_prompt_tokens([small, huge])
    assert counts is not None
    n_small, n_huge = counts
    assert 20 < n_small < 120 and n_huge > 200_000
    assert too_long(engine, [small, huge], 1024) == {
        1: f"prompt of {n_huge} tokens + max_tokens 1024 > context of 2048 tokens"
    }
    assert json.dumps(too_long(engine, [small], 1024)) == "{}"
