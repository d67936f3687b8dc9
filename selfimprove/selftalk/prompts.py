"""The texts of the one-player modes, written once.

* step rewriting (self-talk construction): the actor rewrites the step a critic judged wrong;
* self-check and self-refine (trajectory-level self-correction): the model critiques its own
  answer in the critique model's format, then writes a corrected solution;
* smoothing: the phrases of the template smoother and the instruction of the LLM smoother.

Conversations are :class:`~selfimprove.generation.prompts.Prompt` objects, rendered for each
model by its engine (chat template or the plain base layout), like every other prompt.
"""

from __future__ import annotations

from collections.abc import Sequence

from selfimprove.generation.prompts import (
    CRITIQUE_INSTRUCTION,
    SOLUTION_PREFIX,
    Prompt,
    answer_format,
    question_message,
)

# ------------------------------------------------------------------------------ step rewriting

REWRITE_INSTRUCTION = (
    'Your step "{step}" is wrong. {explanation}\n'
    "Please rewrite only this step so that it is correct. Reply with the corrected step on one line."
)


#: The words a final-answer step starts with when the chain must answer now (its last allowed step).
ANSWER_LEAD = {"gsm8k": "The answer is ", "math": "The answer is $\\boxed{"}


def answer_lead(dataset_type: str) -> str:
    return ANSWER_LEAD.get(dataset_type, "The answer is ")


def solution_text(steps: Sequence[str]) -> str:
    """A solution as the actor writes it: the reply's first words, then one step per line."""
    return SOLUTION_PREFIX + "".join(f"{s}\n" for s in steps)


def next_step_prompt(question: str, dataset_type: str, steps: Sequence[str]) -> Prompt:
    """Continue a solution after its accepted ``steps`` (the reply's next line is the next step)."""
    return Prompt(({"role": "user", "content": question_message(question, dataset_type)},), solution_text(steps))


def rewrite_prompt(question: str, dataset_type: str, steps: Sequence[str], wrong: str, explanation: str) -> Prompt:
    """Ask the actor to rewrite the step ``wrong`` that follows ``steps``, given the critic's reason."""
    return Prompt(
        (
            {"role": "user", "content": question_message(question, dataset_type)},
            {"role": "assistant", "content": solution_text([*steps, wrong]).rstrip("\n")},
            {"role": "user", "content": REWRITE_INSTRUCTION.format(step=wrong, explanation=explanation.strip())},
        ),
        "",
    )


# ------------------------------------------------------------------------------ self-correction

#: The critique model's answer format (the block of its instruction between "should be:" and the question).
CRITIQUE_FORMAT = CRITIQUE_INSTRUCTION.split("Your answer format should be:", 1)[1].split("\n\nQuestion:", 1)[0].strip()

SELF_CHECK_INSTRUCTION = (
    "Now check your own solution above step by step: each line is a step. Repeat each step, say whether it "
    "is correct or wrong and explain why; finally say whether the final answer is correct or wrong.\n\n"
    "Your answer format should be:\n\n" + CRITIQUE_FORMAT
)

SELF_REFINE_INSTRUCTION = (
    "Use your step-by-step check above to write a new detailed, step-by-step solution that corrects the "
    "mistakes, including all reasoning and intermediate steps."
)


def self_check_message() -> str:
    return SELF_CHECK_INSTRUCTION


def self_refine_message(dataset_type: str) -> str:
    return f"{SELF_REFINE_INSTRUCTION} {answer_format(dataset_type)}"


def self_check_turns(question: str, dataset_type: str, answer: str) -> list[dict]:
    return [
        {"role": "user", "content": question_message(question, dataset_type)},
        {"role": "assistant", "content": answer},
        {"role": "user", "content": self_check_message()},
    ]


def self_check_prompt(question: str, dataset_type: str, answer: str) -> Prompt:
    """The model critiques its own ``answer`` (no separate critic)."""
    return Prompt(tuple(self_check_turns(question, dataset_type, answer)), "")


def self_refine_prompt(question: str, dataset_type: str, answer: str, critique: str) -> Prompt:
    """The model corrects its own ``answer`` after its own ``critique`` of it."""
    turns = [
        *self_check_turns(question, dataset_type, answer),
        {"role": "assistant", "content": critique},
        {"role": "user", "content": self_refine_message(dataset_type)},
    ]
    return Prompt(tuple(turns), SOLUTION_PREFIX)


# ------------------------------------------------------------------------------ smoothing

#: What the monologue says after a step the critic accepted / rejected, and before a rewrite.
#: A phrase is picked by a stable hash of (chain, position, attempt), so the text is reproducible.
CHECK_OK = (
    "Let me check this step. {explanation} Looks good.",
    "Wait, let me check this calculation. {explanation} That's right.",
    "Let me double-check. {explanation} Looks good.",
)
CHECK_WRONG = (
    "Wait, let me check this calculation. {explanation} Hmm, that's not right.",
    "Hold on, let me verify this step. {explanation} That's not right.",
    "Wait, let me check this. {explanation} No, that's wrong.",
)
REDO = (
    "Let me redo this step.",
    "Let me fix it.",
    "Let me correct this step.",
)

SMOOTH_INSTRUCTION = """Below is a step-by-step solution to a math question, with a check after each step. Some steps were wrong and were rewritten after their check.
Rewrite it as one continuous inner monologue of someone solving the problem and checking their own work, in the first person: state each step, check it ("Wait, let me check this calculation ..."), say when it is wrong ("... that's not right") and redo it, or confirm it ("Looks good."). Keep every number and the final answer exactly as they are, and end with the final answer in the same format.

Question:
{question}

Solution with checks:
{draft}"""


def smooth_prompt(question: str, draft: str) -> Prompt:
    return Prompt(({"role": "user", "content": SMOOTH_INSTRUCTION.format(question=question, draft=draft)},), "")
