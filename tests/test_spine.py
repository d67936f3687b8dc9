"""Stage logic of the self-improvement loop, exactly, with scripted engines (no model)."""

from __future__ import annotations

import json
import re

import pytest

from selfimprove.core.errors import SettingsChanged
from selfimprove.core.io import RecordError, ResumableJsonl, read_jsonl
from selfimprove.core.manifest import Step
from selfimprove.core.manifest import read as read_manifest
from selfimprove.core.records import Question, Refinement
from selfimprove.generation.engines import SamplingParams, ScriptedEngine
from selfimprove.generation.prompts import (
    SOLUTION_PREFIX,
    Prompt,
    PromptFormat,
    parse_critique,
    refine_prompt,
    solve_prompt,
)
from selfimprove.generation.tasks import (
    critique_samples,
    mark_kept,
    refine_critiques,
    sample_questions,
    select_samples,
    shortcut_barrier,
)
from selfimprove.training import export as sft_filter

QUESTIONS: list[Question] = [
    {
        "id": "toy/train/0",
        "dataset": "toy",
        "dataset_type": "gsm8k",
        "question": "What is 2 + 3?",
        "reference": "2 + 3 = <<2+3=5>>5 apples.\n#### 5",
        "gold": "5",
        "level": 1,
    },
    {
        "id": "toy/train/1",
        "dataset": "toy",
        "dataset_type": "gsm8k",
        "question": "What is 4 * 6?",
        "reference": "4 * 6 = <<4*6=24>>24 pens.\n#### 24",
        "gold": "24",
        "level": 1,
    },
]


def answer_engine(answers: dict[str, list[str]]) -> ScriptedEngine:
    """The k-th sample for a question (matched by its text) answers answers[question][k]."""

    def respond(prompt: Prompt, k: int) -> str:
        q = prompt.messages[0]["content"]
        for key, vals in answers.items():
            if key in q:
                return f"I compute it.\nThe answer is {vals[k % len(vals)]}."
        raise AssertionError(q)

    return ScriptedEngine(respond)


# ------------------------------------------------------------------------------------ prompts


def test_base_format_reproduces_the_released_layout():
    fmt = PromptFormat("base", eos_token="<|end_of_text|>")
    text = fmt.render(refine_prompt("Q?", SOLUTION_PREFIX + "wrong", "Step sentence: x", "gsm8k"))
    assert text == (
        "Human: Q? Please also give your final number in the format of 'The answer is [your answer].'\n\n"
        "Assistant:Let's break it down step by step:\n\nwrong\n<|end_of_text|>\n"
        "Human: I have made a step-by-step critic for your solution. Please read the following critic and use "
        "this critic as a reference to provide a new detailed, step-by-step solution, including all reasoning "
        "and intermediate steps. Please also give your final number in the format of 'The answer is [your answer].'"
        "\n\nStep sentence: x\n\nAssistant:Let's break it down step by step:\n\n"
    )
    assert fmt.render(solve_prompt("Q?", "math")).endswith(
        "'The answer is $\\boxed{[your answer]}$.'\n\nAssistant:Let's break it down step by step:\n\n"
    )
    # the released sampler's stop strings, and the model's own EOS where it is another one
    assert fmt.stop == ("<|end_of_text|>", "</s>", "Human", "Assistant")
    own = PromptFormat("base", eos_token="<|im_end|>").stop
    assert own == ("<|end_of_text|>", "</s>", "Human", "Assistant", "<|im_end|>")


def test_parse_critique_verdicts_and_format_violations():
    text = (
        "Step sentence: a\nCorrectness of the step: Correct\nExplanation: ok\n\n"
        "Step sentence: b\nCorrectness of the step: Wrong\nExplanation: no\n\n"
        "Correctness of the final answer: Wrong\nExplanation: bad"
    )
    p = parse_critique(text)
    assert p.verdict == "wrong" and p.steps == ("correct", "wrong") and p.follows_format
    assert parse_critique("Correctness of the final answer: **Correct**").verdict == "correct"
    assert parse_critique("The solution looks fine to me.").verdict is None
    assert not parse_critique("").follows_format


# ------------------------------------------------------------------------------ sample stage


def test_sample_grades_and_resumes_without_duplicates(tmp_path):
    out = tmp_path / "01_samples.jsonl"
    eng = answer_engine({"2 + 3": ["5", "6"], "4 * 6": ["23", "24"]})
    params = SamplingParams(n=2, temperature=0.7, max_tokens=32)
    recs, counts = sample_questions(eng, QUESTIONS, out, params)
    assert [r["id"] for r in recs] == ["toy/train/0/s0", "toy/train/0/s1", "toy/train/1/s0", "toy/train/1/s1"]
    assert [r["correct"] for r in recs] == [True, False, False, True]
    assert all(r["response"].startswith(SOLUTION_PREFIX) for r in recs)
    assert counts["correct"] == 2 and counts["questions_with_correct"] == 2

    # interruption: the file loses its last record and gets a torn line
    lines = out.read_text().splitlines(keepends=True)
    out.write_text("".join(lines[:3]) + lines[3][:20])
    eng2 = answer_engine({"2 + 3": ["5", "6"], "4 * 6": ["23", "24"]})
    recs2, counts2 = sample_questions(eng2, QUESTIONS, out, params)
    assert [r["id"] for r in read_jsonl(out)] == [r["id"] for r in recs]
    assert counts2["generated"] == 1 and counts2["skipped_done"] == 1
    # only the missing sample was asked for, with a shifted seed so it is a fresh draw
    ((prompts, p),) = eng2.calls
    assert len(prompts) == 1 and p.n == 1 and p.seed != params.seed

    eng3 = answer_engine({})
    sample_questions(eng3, QUESTIONS, out, params)
    assert eng3.calls == []  # nothing left to do


def test_larger_n_only_generates_the_new_samples(tmp_path):
    out = tmp_path / "pool.jsonl"
    sample_questions(answer_engine({"2 + 3": ["5"], "4 * 6": ["24"]}), QUESTIONS, out, SamplingParams(n=2))
    eng = answer_engine({"2 + 3": ["7"], "4 * 6": ["24"]})
    recs, counts = sample_questions(eng, QUESTIONS, out, SamplingParams(n=4))
    assert counts["generated"] == 4 and eng.calls[0][1].n == 2
    assert sorted(r["index"] for r in recs if r["qid"] == "toy/train/0") == [0, 1, 2, 3]


def test_resumable_jsonl_rejects_corruption_in_the_middle(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_text('{"id": "a"}\nnot json\n{"id": "b"}\n')
    with pytest.raises(RecordError, match=r"x.jsonl:2"):
        ResumableJsonl(p)
    p.write_text('{"id": "a"}\n{"id": "a"}\n')
    with pytest.raises(RecordError, match="duplicate"):
        ResumableJsonl(p)


# --------------------------------------------------------------------- critique and refine


def test_critique_only_incorrect_and_refine_keeps_reserved(tmp_path):
    samples, _ = sample_questions(
        answer_engine({"2 + 3": ["6", "7", "5"], "4 * 6": ["24"]}), QUESTIONS, tmp_path / "s.jsonl", SamplingParams(n=3)
    )
    wrong = select_samples(samples, "incorrect")
    assert [s["id"] for s in wrong] == ["toy/train/0/s0", "toy/train/0/s1"]
    assert len(select_samples(samples, "all")) == 6

    critic = ScriptedEngine(
        lambda p, k: (
            "Step sentence: x\nCorrectness of the step: Wrong\nExplanation: e\n\n"
            "Correctness of the final answer: Wrong\nExplanation: fix it"
        )
    )
    crits, cc = critique_samples(critic, wrong, tmp_path / "c.jsonl", SamplingParams())
    assert [c["id"] for c in crits] == ["toy/train/0/s0/c0", "toy/train/0/s1/c0"]
    assert cc["verdict_wrong"] == 2 and cc["format_violations"] == 0
    assert "Solution:\nI compute it." in critic.calls[0][0][0].messages[0]["content"]  # prefix stripped

    # every refinement is right: with reserved_new_data=1 only the first per question is kept
    actor = ScriptedEngine(lambda p, k: "2 + 3 = 5.\nThe answer is 5.")
    refs, rc = refine_critiques(
        actor,
        crits,
        {s["id"]: s for s in samples},
        tmp_path / "r.jsonl",
        SamplingParams(n=2),
        reserved_new_data=1,
        references={str(q["id"]): str(q["reference"]) for q in QUESTIONS},
        reserved_scope="question",
    )
    assert [r["id"] for r in refs] == [
        "toy/train/0/s0/c0/r0",
        "toy/train/0/s0/c0/r1",
        "toy/train/0/s1/c0/r0",
        "toy/train/0/s1/c0/r1",
    ]
    assert [r["kept"] for r in refs] == [True, False, False, False]
    assert rc["kept"] == 1 and rc["correct"] == 4
    # the refinement prompt carries the wrong solution and the critique
    msgs = actor.calls[0][0][0].messages
    assert msgs[1]["content"].startswith(SOLUTION_PREFIX) and "fix it" in msgs[2]["content"]

    refs3, _ = refine_critiques(
        actor,
        crits,
        {s["id"]: s for s in samples},
        tmp_path / "r3.jsonl",
        SamplingParams(n=2),
        reserved_new_data=3,
        reserved_scope="question",
    )
    assert sum(r["kept"] for r in refs3) == 3


def test_shortcut_barrier_matches_the_released_rule():
    ref = "1 2 3 4 5 6 7 8"  # 8 numbers
    orig = "1 2 3 4 5 6"  # 6 numbers -> min 6, threshold 4
    assert shortcut_barrier(ref, orig, "1 2 3 4")  # 4 numbers: not fewer than 4
    assert not shortcut_barrier(ref, orig, "1 2 3")  # 3 < 4: shortcut
    assert shortcut_barrier("1", "1 2 3", "")  # min 1 - 2 < 0: never a shortcut


def test_mark_kept_is_independent_of_record_order():
    recs: list[Refinement] = [
        {"id": f"q/s{i}/c0/r0", "qid": "q", "correct": True, "shortcut": True} for i in (10, 2, 1)
    ]
    kept = {r["id"] for r in mark_kept([{**r} for r in recs], 2, "question") if r["kept"]}
    assert kept == {"q/s1/c0/r0", "q/s2/c0/r0"}
    recs[2]["shortcut"] = False
    kept = {r["id"] for r in mark_kept([{**r} for r in recs], 2, "question") if r["kept"]}
    assert kept == {"q/s2/c0/r0", "q/s10/c0/r0"}


# ------------------------------------------------------------------------------- filter flags


@pytest.fixture
def run_dir(tmp_path):
    """Two iterations: iteration i samples s0 (correct iff i == 1) and one kept refinement."""
    for i in (1, 2):
        d = tmp_path / f"iter_{i}"
        d.mkdir()
        samples = [
            {
                "id": f"toy/train/0/s{j}",
                "qid": "toy/train/0",
                "dataset_type": "gsm8k",
                "question": "What is 2 + 3?",
                "response": f"{SOLUTION_PREFIX}it{i}{j}\nThe answer is 5.",
                "correct": j == 0,
            }
            for j in range(2)
        ]
        (d / "01_samples.jsonl").write_text("".join(json.dumps(s) + "\n" for s in samples))
        (d / "02_critiques.jsonl").write_text(
            json.dumps({"id": "toy/train/0/s1/c0", "sample_id": "toy/train/0/s1", "critique": f"crit{i}"}) + "\n"
        )
        refs = [
            {
                "id": f"toy/train/0/s1/c0/r{k}",
                "critique_id": "toy/train/0/s1/c0",
                "sample_id": "toy/train/0/s1",
                "response": f"{SOLUTION_PREFIX}fixed{i}{k}",
                "kept": k == 0,
            }
            for k in range(2)
        ]
        (d / "03_refinements.jsonl").write_text("".join(json.dumps(r) + "\n" for r in refs))
    return tmp_path


FLAGS0 = dict(
    use_original=False, use_gpt4_feedback=False, use_previous=False, use_critic=False, use_selfimprove_feedback=False
)
FEEDBACK = [sft_filter.conversation("q", "a", "critique", "b")]


@pytest.mark.parametrize(
    "flags, expected",
    [
        ({}, {"samples": 1}),
        ({"use_critic": True}, {"samples": 1, "refinements": 1}),
        (
            {"use_critic": True, "use_selfimprove_feedback": True},
            {"samples": 1, "refinements": 1, "selfimprove_feedback": 1},
        ),
        ({"use_selfimprove_feedback": True}, {"samples": 1}),  # feedback examples come with USE_CRITIC only
        ({"use_previous": True, "use_critic": True}, {"samples": 2, "refinements": 2}),
        ({"use_original": True}, {"original": 2, "samples": 1}),
        ({"use_original": True, "use_gpt4_feedback": True}, {"original": 2, "gpt4_feedback": 1, "samples": 1}),
        ({"use_gpt4_feedback": True}, {"samples": 1}),  # external feedback rides with the original data
    ],
)
def test_filter_flags_select_exactly_their_sources(run_dir, flags, expected):
    sft, critic, counts = sft_filter.assemble(run_dir, 2, QUESTIONS, {**FLAGS0, **flags}, FEEDBACK)
    assert {k: v for k, v in counts.items() if k not in ("total", "critic_pairs") and v} == expected
    assert counts["total"] == len(sft) == sum(expected.values())
    assert counts["critic_pairs"] == 1 and critic[0][1]["content"] == "crit2"
    if "refinements" in expected:
        assert [m["content"] for m in sft[-1 if "selfimprove_feedback" not in expected else -2]][
            -1
        ] == f"{SOLUTION_PREFIX}fixed20"


def test_iteration_zero_is_reference_solutions_in_answer_format(tmp_path):
    sft, critic, counts = sft_filter.assemble(tmp_path, 0, QUESTIONS, FLAGS0, None)
    assert counts == {"original": 2, "total": 2, "critic_pairs": 0}
    # calculator annotations stay, as in the released data; the knob strips them
    assert sft[0][1]["content"] == f"{SOLUTION_PREFIX}2 + 3 = <<2+3=5>>5 apples.\nThe answer is 5."
    assert sft[0][0]["content"].endswith("'The answer is [your answer].'")
    stripped, _, _ = sft_filter.assemble(tmp_path, 0, QUESTIONS, FLAGS0, None, strip_calculator=True)
    assert stripped[0][1]["content"] == f"{SOLUTION_PREFIX}2 + 3 = 5 apples.\nThe answer is 5."


def test_export_formats_for_llamafactory():
    conv = sft_filter.feedback_example("Q?", "gsm8k", "wrong", "crit", "right")
    share = sft_filter.to_sharegpt(conv)
    assert [t["from"] for t in share["conversations"]] == ["human", "gpt", "human", "gpt"]
    alp = sft_filter.to_alpaca(conv, "<|end_of_text|>")
    # rendered already (LLaMA-Factory's "empty" template adds nothing): the instruction is exactly
    # the sampler's prompt, minus the reply prefix the sampler puts on the assistant's side
    sent = PromptFormat("base", eos_token="<|end_of_text|>").render(refine_prompt("Q?", "wrong", "crit", "gsm8k"))
    assert sent == alp["instruction"] + SOLUTION_PREFIX
    # the target is the reply, then the EOS (no newline between them), as the released template ends it
    assert alp["output"] == "right<|end_of_text|>"
    single = sft_filter.to_alpaca(sft_filter.conversation("Q? fmt", "sol"), "</s>")
    assert single == {"instruction": "Human: Q? fmt\n\nAssistant:", "input": "", "output": "sol</s>"}


def test_alpaca_feedback_file_is_parsed_into_turns(tmp_path):
    row = {
        "instruction": "Q? fmt\n\nAssistant:Let's go\nstep\n<|end_of_text|>\nHuman: I have made a critic.\n\ncrit\n",
        "input": "",
        "output": "new solution",
    }
    bad = {"instruction": "no turns here", "output": "x"}
    path = tmp_path / "fb.json"
    path.write_text(json.dumps([row, bad, "junk"]))
    examples, problems = sft_filter.load_feedback_file(str(path))
    assert examples == [
        sft_filter.conversation("Q? fmt", "Let's go\nstep", "I have made a critic.\n\ncrit", "new solution")
    ]
    assert len(problems) == 2 and re.search(r"fb.json\[1\]", problems[0]) and "fb.json[2]" in problems[1]


def test_shared_feedback_samples_parse_cleanly(shared_data):
    for name in ("gsm8k-critique-refine-100.json", "math-critique-refine-100.json"):
        examples, problems = sft_filter.load_feedback_file(str(shared_data / "mathcritique-samples" / name))
        assert problems == [] and len(examples) == 100
        assert all(len(e) == 4 and "critic" in e[2]["content"] for e in examples)


# ---------------------------------------------------------------------------------- manifest


def test_step_skips_when_done_and_refuses_other_settings(tmp_path):
    with Step(tmp_path, "iter_1/01_samples", {"n": 2}) as s:
        s.count(samples=4)
    entry = read_manifest(tmp_path)["steps"]["iter_1/01_samples"]
    assert entry["status"] == "done" and entry["counts"] == {"samples": 4} and entry["seconds"] >= 0
    assert Step(tmp_path, "iter_1/01_samples", {"n": 2}).done
    with pytest.raises(SettingsChanged, match="other settings"):
        _ = Step(tmp_path, "iter_1/01_samples", {"n": 3}).done
    with pytest.raises(RuntimeError):
        with Step(tmp_path, "iter_1/02_critiques", {}):
            raise RuntimeError("boom")
    assert read_manifest(tmp_path)["steps"]["iter_1/02_critiques"]["status"] == "failed"
    assert not Step(tmp_path, "iter_1/02_critiques", {}).done
