"""Every prompt is fitted to the engine's context window: a prompt that fits generates until the
window is full (``max_tokens`` capped by what it leaves), and a prompt that fills the window alone
is never sent: its item gets empty records flagged unanswered, graded wrong and reported; a rerun
takes them as done instead of failing or asking again."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from selfimprove.core.records import Question, Sample
from selfimprove.generation.engines import UNANSWERED_REASON, SamplingParams, ScriptedEngine, TokenizedEngine
from selfimprove.generation.loop import context_room
from selfimprove.generation.prompts import PromptFormat, solve_prompt
from selfimprove.generation.tasks import critique_samples, sample_questions

MODEL = Path(__file__).resolve().parent.parent / "models" / "SmolLM2-135M-Instruct"
HUGE = "How many apples? " + "apple " * 200_000  # about 1.2 MB


def warnings(caplog) -> list[str]:
    """The warnings the generation loop logged."""
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def _questions() -> list[Question]:
    return [
        {"id": "small", "dataset_type": "gsm8k", "question": "Ann has 2 cats and 3 dogs. How many pets?", "gold": "5"},
        {"id": "huge", "dataset_type": "gsm8k", "question": HUGE, "gold": "1"},
        {"id": "tiny", "dataset_type": "gsm8k", "question": "What is 1 + 1?", "gold": "2"},
    ]


def _actor(**kw) -> ScriptedEngine:
    return ScriptedEngine(lambda p, k: "It is 5.\nThe answer is 5.", **kw)


def test_oversized_prompt_is_answered_empty_reported_and_never_sent(tmp_path, caplog):
    actor = _actor(context_length=200)
    out = tmp_path / "s.jsonl"
    records, counts = sample_questions(actor, _questions(), out, SamplingParams(n=2, max_tokens=64))
    assert counts["unanswered"] == 2 and counts["unanswered_ids"] == ["huge/s0", "huge/s1"]
    assert counts["generated"] == 6 and counts["samples"] == 6 and counts["empty"] == 0
    huge = [r for r in records if r["qid"] == "huge"]
    huge_tokens = len(HUGE.split()) + 22  # the question, the answer-format sentence and the reply prefix
    reason = f"{UNANSWERED_REASON} ({huge_tokens} prompt tokens, window of 200)"
    for r in huge:
        assert r["unanswered"] is True and r["unanswered_reason"] == reason
        assert r["correct"] is False and r["empty"] is True and r["finish_reason"] == "unanswered"
        assert r["prompt_tokens"] == huge_tokens and r["completion_tokens"] == 0
    assert not any(r.get("unanswered") for r in records if r["qid"] != "huge")
    sent = [p.messages[0]["content"] for prompts, _ in actor.calls for p in prompts]
    assert len(sent) == 2 and not any(HUGE in s for s in sent)
    assert f"unanswered huge (s.jsonl): {reason}" in warnings(caplog)

    # a rerun does not fail and does not send it either: every item is done
    again = _actor(context_length=200)
    _, counts = sample_questions(again, _questions(), out, SamplingParams(n=2, max_tokens=64))
    assert counts["skipped_done"] == 3 and counts["generated"] == 0 and counts["unanswered"] == 2
    assert again.calls == []
    assert len(out.read_text().splitlines()) == 6


def test_max_tokens_is_capped_by_what_the_prompt_leaves(tmp_path):
    q = [_questions()[2]]  # "What is 1 + 1?" + answer format + prefix: 27 words
    n = _actor().count_prompt_tokens([solve_prompt(q[0]["question"], "gsm8k")])[0]
    assert n == 27
    roomy = _actor(context_length=n + 10)
    (rec,), fits = sample_questions(roomy, q, tmp_path / "a.jsonl", SamplingParams(max_tokens=10))
    assert fits["capped"] == 0 and fits["unanswered"] == 0 and "max_tokens" not in rec
    assert [p.max_tokens for _, p in roomy.calls] == [10]

    tight = _actor(context_length=n + 10)
    (rec,), capped = sample_questions(tight, q, tmp_path / "b.jsonl", SamplingParams(max_tokens=11))
    assert capped["capped"] == 1 and capped["unanswered"] == 0 and capped["generated"] == 1
    assert [p.max_tokens for _, p in tight.calls] == [10] and rec["max_tokens"] == 10

    one = _actor(context_length=n + 1)
    (rec,), _ = sample_questions(one, q, tmp_path / "c.jsonl", SamplingParams(max_tokens=64))
    assert [p.max_tokens for _, p in one.calls] == [1] and rec["max_tokens"] == 1

    full = _actor(context_length=n)  # the prompt fills the window: no room for one token
    (rec,), none = sample_questions(full, q, tmp_path / "d.jsonl", SamplingParams(max_tokens=64))
    assert none["unanswered"] == 1 and full.calls == [] and rec["unanswered"] and not rec["correct"]


def test_a_capped_generation_stops_at_the_end_of_the_window_as_truncated(tmp_path, caplog):
    q = [_questions()[2]]
    long_answer = "One plus one is two. " * 20 + "The answer is 2."
    actor = ScriptedEngine(lambda p, k: long_answer, context_length=27 + 12, cut_at_max_tokens=True)
    (rec,), counts = sample_questions(actor, q, tmp_path / "s.jsonl", SamplingParams(max_tokens=512))
    assert rec["max_tokens"] == 12 and rec["finish_reason"] == "length" and rec["completion_tokens"] == 12
    assert counts["truncated"] == 1 and counts["capped"] == 1 and not rec["correct"]
    assert "stopped at max_tokens=512 or at the end of the context window: tiny/s0" in caplog.text


def test_one_chunk_mixes_full_capped_and_unanswered_prompts_in_order(tmp_path):
    qs: list[Question] = [
        {"id": f"q{i}", "dataset_type": "gsm8k", "question": "word " * words + "?", "gold": "1"}
        for i, words in enumerate((1, 30, 1, 500, 20))
    ]
    actor = _actor(context_length=80)
    records, counts = sample_questions(actor, qs, tmp_path / "s.jsonl", SamplingParams(max_tokens=40))
    assert [r["qid"] for r in records] == ["q0", "q1", "q2", "q3", "q4"]
    assert [r.get("unanswered", False) for r in records] == [False, False, False, True, False]
    assert counts["capped"] == 2 and counts["unanswered"] == 1
    # one engine call per distinct limit, largest first; the unanswered prompt is never sent
    assert [(len(prompts), p.max_tokens) for prompts, p in actor.calls] == [(2, 40), (1, 37), (1, 27)]
    assert [r.get("max_tokens") for r in records] == [None, 27, None, None, 37]


def test_no_context_means_no_guard(tmp_path):
    _, counts = sample_questions(_actor(), _questions(), tmp_path / "s.jsonl", SamplingParams(max_tokens=64))
    assert counts["unanswered"] == 0 and counts["capped"] == 0 and counts["generated"] == 3


def test_critiques_of_huge_solutions_are_unanswered(tmp_path):
    samples: list[Sample] = [
        {"id": "a/s0", "qid": "a", "question": "Q?", "response": "1 + 1 = 3", "correct": False},
        {"id": "b/s0", "qid": "b", "question": "Q?", "response": HUGE, "correct": False},
    ]
    critic = ScriptedEngine(lambda p, k: "Correctness of the final answer: Wrong", context_length=1000)
    crits, counts = critique_samples(critic, samples, tmp_path / "c.jsonl", SamplingParams(max_tokens=100))
    assert [c["sample_id"] for c in crits] == ["a/s0", "b/s0"]
    assert counts["unanswered"] == 1 and counts["unanswered_ids"] == ["b/s0/c0"]
    assert crits[1]["critique"] == "" and crits[1]["verdict"] is None and crits[1]["unanswered"]
    assert crits[0]["verdict"] == "wrong" and "unanswered" not in crits[0]


def test_many_unanswered_are_summarised(tmp_path, caplog):
    qs: list[Question] = [
        {"id": f"q{i}", "dataset_type": "gsm8k", "question": "word " * 300, "gold": "1"} for i in range(25)
    ]
    _, counts = sample_questions(_actor(context_length=100), qs, tmp_path / "s.jsonl", SamplingParams(max_tokens=8))
    assert counts["unanswered"] == 25 and counts["correct"] == 0
    said = warnings(caplog)
    assert sum(line.startswith("unanswered q") for line in said) == 20
    assert any(line.startswith("25 item(s) unanswered in all") for line in said)


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
    n = len(rendered.split())
    engine = _Tokenized(_WordTokenizer(), fmt, 4096)
    assert engine.count_prompt_tokens([prompt]) == [n + 1]  # with the special token
    engine.add_special_tokens = False
    assert engine.count_prompt_tokens([prompt]) == [n]
    assert context_room(engine, [prompt], 4096 - n) == ([4096 - n], [n])
    assert context_room(engine, [prompt], 4097 - n) == ([4096 - n], [n])
    engine.context_length = n
    assert context_room(engine, [prompt], 10) == ([0], [n])
    engine.context_length = None
    assert context_room(engine, [prompt], 10) == ([10], [None])


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
    assert context_room(engine, [small, huge], 1024) == ([1024, 0], [n_small, n_huge])
    assert json.dumps(context_room(engine, [small], 2048)[0]) == json.dumps([2048 - n_small])
