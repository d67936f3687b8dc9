"""Self-talk chain construction, pinned exactly with scripted actors and scripted step judges."""

from __future__ import annotations

from collections import defaultdict

import pytest

from selfimprove.core.records import Question, Sample
from selfimprove.generation.engines import SamplingParams, ScriptedEngine
from selfimprove.generation.prompts import SOLUTION_PREFIX, Prompt
from selfimprove.selftalk.build import build_selftalk, chain_counts, finish_records, selftalk_examples
from selfimprove.selftalk.chains import ChainConfig, build_chains, chain_record
from selfimprove.selftalk.judges import FunctionJudge, Judgement, ModelJudge, StepItem, judgement_at, step_judgements
from selfimprove.selftalk.prompts import REWRITE_INSTRUCTION
from selfimprove.selftalk.steps import first_step, is_final, split_steps

BAKERY: Question = {
    "id": "toy/train/0",
    "dataset": "toy",
    "dataset_type": "gsm8k",
    "question": "A baker fills 4 trays with 12 rolls each and sells 20 rolls. She bags the rest in bags of 7. How many bags?",
    "gold": "4",
}
GARDEN: Question = {
    "id": "toy/train/1",
    "dataset": "toy",
    "dataset_type": "gsm8k",
    "question": "Omar plants 6 rows of 5 tulips. How many tulips?",
    "gold": "30",
}


def solution(*steps: str) -> str:
    return SOLUTION_PREFIX + "\n".join(steps)


class Script:
    """A scripted actor: rewrites of a step and continuations after a last step, in order.

    ``rewrites[wrong step]`` lists what successive rewrite requests of that step return (the
    latest attempt is the one shown); ``nexts[last accepted step]`` lists the continuations."""

    def __init__(self, rewrites=None, nexts=None):
        self.rewrites = rewrites or {}
        self.nexts = nexts or {}
        self.seen: dict[tuple[str, str], int] = defaultdict(int)
        self.prompts: list[Prompt] = []
        self.engine = ScriptedEngine(self.respond, name="actor")

    def respond(self, prompt: Prompt, k: int) -> str:
        self.prompts.append(prompt)
        if prompt.prefix == "":  # a rewrite request: the wrong step is the assistant turn's last line
            wrong = prompt.messages[1]["content"].splitlines()[-1]
            key, table = ("rewrite", wrong), self.rewrites[wrong]
        else:
            last = prompt.prefix.rstrip("\n").splitlines()[-1]
            key, table = ("next", last), self.nexts[last]
        i = self.seen[key]
        self.seen[key] += 1
        return table[min(i, len(table) - 1)]


def list_judge(bad: set[str], calls: list | None = None) -> FunctionJudge:
    def judge(q, steps, step):
        if calls is not None:
            calls.append((q["id"], tuple(steps), step))
        return (step not in bad, f"'{step}' does not hold." if step in bad else "The arithmetic holds.")

    return FunctionJudge(judge, name="list")


WRONG_SOLUTION = solution(
    "4 * 12 = 48 rolls.",
    "48 - 20 = 18 rolls are left.",
    "18 / 7 = 2 bags, rounding down.",
    "The answer is 2.",
)
BAD = {
    "48 - 20 = 18 rolls are left.",
    "48 - 20 = 38 rolls are left.",
    "18 / 7 = 2 bags, rounding down.",
    "The answer is 2.",
}


def fixing_script() -> Script:
    return Script(
        rewrites={
            "48 - 20 = 18 rolls are left.": ["48 - 20 = 38 rolls are left."],
            "48 - 20 = 38 rolls are left.": ["Step 2: 48 - 20 = 28 rolls are left.\nextra text"],
        },
        nexts={
            "48 - 20 = 28 rolls are left.": ["28 / 7 = 4 bags.\n"],
            "28 / 7 = 4 bags.": ["\nThe answer is 4."],
        },
    )


# ------------------------------------------------------------------------------ steps


def test_steps_are_lines_up_to_the_final_answer():
    text = SOLUTION_PREFIX + "a = 1\n\n  b = 2  \nThe answer is 3.\nan afterthought"
    assert split_steps(text) == ["a = 1", "b = 2", "The answer is 3."]
    assert is_final("So the answer is $\\boxed{3}$.") and is_final("#### 3") and not is_final("3 + 4 = 7")
    assert first_step("\n\n**Step 3:** 5 - 1 = 4\nmore") == "5 - 1 = 4"
    assert first_step("  \n") == ""
    assert first_step("Here's the corrected step:\n\n5 - 1 = 4\n") == "5 - 1 = 4"
    assert first_step("Let me see:") == "Let me see:"


# ------------------------------------------------------------------------------ construction


def test_first_wrong_step_is_rewritten_until_accepted_and_the_rest_regenerated():
    script = fixing_script()
    calls: list = []
    [chain] = build_chains(
        script.engine, list_judge(BAD, calls), [("c0", BAKERY, WRONG_SOLUTION, "s0")], ChainConfig(max_rounds=3)
    )
    rec = chain_record(chain)
    assert rec["status"] == "complete"
    # initial construction: a critique after every step of the initial solution
    assert [j["ok"] for j in rec["initial"]["judgements"]] == [True, False, False, False]
    assert rec["initial"]["first_wrong"] == 1
    assert rec["initial"]["discarded"] == 2  # steps 3 and 4 of the flawed branch
    assert [[(a["text"], a["ok"], a["origin"]) for a in s["attempts"]] for s in rec["steps"]] == [
        [("4 * 12 = 48 rolls.", True, "initial")],
        [
            ("48 - 20 = 18 rolls are left.", False, "initial"),
            ("48 - 20 = 38 rolls are left.", False, "rewrite"),
            ("48 - 20 = 28 rolls are left.", True, "rewrite"),
        ],
        [("28 / 7 = 4 bags.", True, "generated")],
        [("The answer is 4.", True, "generated")],
    ]
    assert rec["rewritten_steps"] == [1] and rec["rounds"] == 2 and rec["generated_steps"] == 2
    assert [s["rounds"] for s in rec["steps"]] == [0, 2, 0, 0]
    assert rec["response"] == solution(
        "4 * 12 = 48 rolls.", "48 - 20 = 28 rolls are left.", "28 / 7 = 4 bags.", "The answer is 4."
    )
    assert rec["actor_calls"] == 4
    # the judge saw each new step after exactly the accepted steps before it
    assert calls[4:] == [
        ("toy/train/0", ("4 * 12 = 48 rolls.",), "48 - 20 = 38 rolls are left."),
        ("toy/train/0", ("4 * 12 = 48 rolls.",), "48 - 20 = 28 rolls are left."),
        ("toy/train/0", ("4 * 12 = 48 rolls.", "48 - 20 = 28 rolls are left."), "28 / 7 = 4 bags."),
        ("toy/train/0", ("4 * 12 = 48 rolls.", "48 - 20 = 28 rolls are left.", "28 / 7 = 4 bags."), "The answer is 4."),
    ]
    # the discarded branch never reaches the actor again
    shown = ["".join(m["content"] for m in p.messages) + p.prefix for p in script.prompts]
    assert len(shown) == 4 and not any("18 / 7" in text or "The answer is 2" in text for text in shown)


def test_rewrite_prompt_carries_the_critique_and_continuations_the_accepted_steps():
    script = fixing_script()
    build_chains(script.engine, list_judge(BAD), [("c0", BAKERY, WRONG_SOLUTION, "s0")], ChainConfig())
    first = script.prompts[0]
    assert first.messages[1]["content"] == solution("4 * 12 = 48 rolls.", "48 - 20 = 18 rolls are left.")
    assert first.messages[2]["content"] == REWRITE_INSTRUCTION.format(
        step="48 - 20 = 18 rolls are left.", explanation="'48 - 20 = 18 rolls are left.' does not hold."
    )
    second = script.prompts[1]  # the rejected rewrite is what the next request shows
    assert second.messages[1]["content"].endswith("48 - 20 = 38 rolls are left.")
    assert script.prompts[2].prefix == SOLUTION_PREFIX + "4 * 12 = 48 rolls.\n48 - 20 = 28 rolls are left.\n"


@pytest.mark.parametrize("max_rounds", [0, 1, 3])
def test_the_round_bound_holds(max_rounds):
    script = Script(rewrites={"48 - 20 = 18 rolls are left.": ["48 - 20 = 18 rolls are left."]})
    [chain] = build_chains(
        script.engine, list_judge(BAD), [("c0", BAKERY, WRONG_SOLUTION, "s0")], ChainConfig(max_rounds=max_rounds)
    )
    rec = chain_record(chain)
    assert rec["status"] == "unresolved"
    assert len(script.prompts) == max_rounds == rec["rounds"]
    assert len(rec["steps"]) == 2 and rec["steps"][1]["accepted"] is False


def test_a_new_wrong_step_is_rewritten_in_place_and_chains_advance_together():
    script = Script(
        rewrites={"6 * 5 = 35 tulips.": ["6 * 5 = 30 tulips."]},
        nexts={
            "6 rows of 5 tulips.": ["6 * 5 = 35 tulips."],
            "6 * 5 = 30 tulips.": ["The answer is 30."],
            "48 - 20 = 28 rolls are left.": ["28 / 7 = 4 bags."],
            "28 / 7 = 4 bags.": ["The answer is 4."],
            "48 - 20 = 38 rolls are left.": ["unused"],
        },
    )
    script.rewrites.update(fixing_script().rewrites)
    starts = [("c0", BAKERY, WRONG_SOLUTION, "s0"), ("c1", GARDEN, solution("6 rows of 5 tulips."), "s1")]
    chains = build_chains(script.engine, list_judge(BAD | {"6 * 5 = 35 tulips."}), starts, ChainConfig())
    recs = [chain_record(c) for c in chains]
    assert [r["status"] for r in recs] == ["complete", "complete"]
    assert recs[1]["rewritten_steps"] == [1] and recs[1]["rounds"] == 1
    assert [s["attempts"][0]["origin"] for s in recs[1]["steps"]] == ["initial", "generated", "generated"]
    assert recs[1]["response"].endswith("6 * 5 = 30 tulips.\nThe answer is 30.")
    # one actor call per tick for all running chains: 4 ticks for the longer chain
    assert [len(prompts) for prompts, _ in script.engine.calls] == [2, 2, 2, 1]


def test_too_long_and_empty_steps_end_a_chain():
    loop = Script(nexts={"6 rows of 5 tulips.": ["Let me think."], "Let me think.": ["Let me think."]})
    [c] = build_chains(
        loop.engine,
        list_judge(set()),
        [("c", GARDEN, solution("6 rows of 5 tulips."), None)],
        ChainConfig(max_steps=3, force_answer=False),
    )
    assert c.status == "too_long" and len(c.slots) == 3
    mute = Script(nexts={"6 rows of 5 tulips.": ["\n  \n"]})
    [c] = build_chains(
        mute.engine, list_judge(set()), [("c", GARDEN, solution("6 rows of 5 tulips."), None)], ChainConfig()
    )
    assert c.status == "empty_step"


def test_a_first_wrong_step_beyond_the_step_cap_is_discarded():
    long = solution("6 rows.", "5 tulips each.", "So 6 * 5.", "That is 31 tulips.", "The answer is 31.")
    script = Script()
    [c] = build_chains(
        script.engine, list_judge({"That is 31 tulips."}), [("c", GARDEN, long, None)], ChainConfig(max_steps=3)
    )
    rec = chain_record(c)
    assert rec["status"] == "too_long" and len(rec["steps"]) == 3 and script.prompts == []
    assert rec["initial"]["first_wrong"] == 3 and rec["initial"]["discarded"] == 2


def test_the_last_allowed_step_is_prefilled_with_the_answer_phrase():
    seen: list[str] = []

    def respond(p: Prompt, k: int) -> str:
        seen.append(p.prefix)
        if p.prefix.endswith("The answer is "):
            return "31." if len(seen) < 3 else "30."  # first a wrong answer, then the right one
        if p.prefix == "":  # the rewrite of the forced answer step is prefilled too
            raise AssertionError("the rewrite should have been prefilled")
        return "Let me think."

    def judge(q, steps, step):
        return (step != "The answer is 31.", "The final answer should be 30, not 31.")

    [c] = build_chains(
        ScriptedEngine(respond),
        FunctionJudge(judge),
        [("c", GARDEN, solution("6 rows of 5 tulips."), None)],
        ChainConfig(max_steps=3),
    )
    rec = chain_record(c)
    assert rec["status"] == "complete" and rec["response"].endswith("Let me think.\nThe answer is 30.")
    assert [a["forced"] for a in rec["steps"][2]["attempts"]] == [True, True]
    assert [a["origin"] for a in rec["steps"][2]["attempts"]] == ["generated", "rewrite"]
    assert seen[0].endswith("tulips.\n") and seen[1].endswith("Let me think.\nThe answer is ")
    # the rewrite request keeps its conversation and only gains the prefill
    assert seen[2] == "The answer is "


def test_a_correct_solution_needs_no_actor_call():
    script = Script()
    [c] = build_chains(
        script.engine,
        list_judge(set()),
        [("c", GARDEN, solution("6 * 5 = 30.", "The answer is 30."), None)],
        ChainConfig(),
    )
    assert (
        c.status == "complete"
        and script.prompts == []
        and c.initial_judgements == [(True, "The arithmetic holds.")] * 2
    )


# ------------------------------------------------------------------------------ verification


def test_final_verification_drops_wrong_answers_and_unfinished_chains():
    script = Script(rewrites={"48 - 20 = 18 rolls are left.": ["48 - 20 = 18 rolls are left."]})
    wrong_but_accepted = solution("6 * 5 = 36 tulips.", "The answer is 36.")
    starts = [
        ("ok", GARDEN, solution("6 * 5 = 30 tulips.", "The answer is 30."), None),
        ("wrong", GARDEN, wrong_but_accepted, None),
        ("stuck", BAKERY, WRONG_SOLUTION, None),
    ]
    chains = build_chains(script.engine, list_judge(BAD), starts, ChainConfig(max_rounds=1))
    recs = finish_records(chains)
    assert [(r["kept"], r["drop_reason"]) for r in recs] == [
        (True, None),
        (False, "wrong_answer"),
        (False, "unresolved"),
    ]
    assert [r["correct"] for r in recs] == [True, False, False]
    assert "selftalk" in recs[1] and "selftalk" not in recs[2]  # only complete chains are smoothed
    assert selftalk_examples(recs) == [
        [
            {
                "role": "user",
                "content": GARDEN["question"]
                + " "
                + "Please also give your final number in the format of 'The answer is [your answer].'",
            },
            {"role": "assistant", "content": recs[0]["selftalk"]},
        ]
    ]
    counts = chain_counts(recs)
    assert counts["kept"] == 1 and counts["dropped_wrong_answer"] == 1 and counts["dropped_unresolved"] == 1
    assert counts["status_complete"] == 2 and counts["rewrite_rounds"] == 1


def test_build_is_resumable_without_repeating_work(tmp_path):
    samples: list[Sample] = [
        {"id": "toy/train/0/s0", "qid": "toy/train/0", "response": WRONG_SOLUTION},
        {"id": "toy/train/1/s0", "qid": "toy/train/1", "response": solution("6 * 5 = 30.", "The answer is 30.")},
    ]
    qs = {q["id"]: q for q in (BAKERY, GARDEN)}
    script = fixing_script()
    recs, counts = build_selftalk(script.engine, list_judge(BAD), qs, samples[:1], tmp_path / "c.jsonl", ChainConfig())
    assert counts["kept"] == 1 and recs[0]["id"] == "toy/train/0/s0/talk"
    n_calls = len(script.engine.calls)
    recs, counts = build_selftalk(script.engine, list_judge(BAD), qs, samples, tmp_path / "c.jsonl", ChainConfig())
    assert len(script.engine.calls) == n_calls  # the second sample needed no actor, the first was done
    assert [r["id"] for r in recs] == ["toy/train/0/s0/talk", "toy/train/1/s0/talk"] and counts["kept"] == 2


# ------------------------------------------------------------------------------ model critic


CRITIQUE = """Step sentence: 4 * 12 = 48 rolls.
Correctness of the step: Correct
Explanation: 4 times 12 is 48.

Step sentence: 48 - 20 = 18 rolls are left.
Correctness of the step: Wrong
Explanation: 48 minus 20
is 28, not 18.

Correctness of the final answer: Wrong
Explanation: the count of rolls is off."""


def test_model_critique_is_read_per_step():
    js = step_judgements(CRITIQUE)
    assert [(j.ok, j.explanation) for j in js] == [(True, "4 times 12 is 48."), (False, "48 minus 20 is 28, not 18.")]
    assert judgement_at(CRITIQUE, 5) == Judgement(False, "48 minus 20 is 28, not 18.")
    only_final = "Correctness of the final answer: Correct\nExplanation: fine"
    assert judgement_at(only_final, 0) == Judgement(True, "fine") and judgement_at("no format", 0) is None


def test_model_judge_asks_the_critic_about_the_solution_so_far():
    critic = ScriptedEngine(lambda p, k: CRITIQUE if "18 rolls" in p.messages[0]["content"] else "rambling")
    judge = ModelJudge(critic, SamplingParams())

    out = judge.judge(
        [StepItem(BAKERY, ("4 * 12 = 48 rolls.",), "48 - 20 = 18 rolls are left."), StepItem(GARDEN, (), "x")]
    )
    assert out[0].ok is False and "28, not 18" in out[0].explanation
    assert out[1].ok is False and judge.format_violations == 1
    assert "4 * 12 = 48 rolls.\n48 - 20 = 18 rolls are left." in critic.calls[0][0][0].messages[0]["content"]
