"""Every prompt of the pipeline, written once.

The texts are those of the paper's released code: the actor is asked to finish with
"The answer is ..." (``$\\boxed{...}$`` for MATH), starts its reply with "Let's break it down
step by step:", refines after "I have made a step-by-step critic for your solution ..." (worded per
prompt format, :data:`REFINE_INSTRUCTIONS`), and the critique model answers in the "Step sentence /
Correctness of the step / Explanation" format followed by "Correctness of the final answer" (read
back by :mod:`selfimprove.generation.critique_format`; ``parse_critique`` is re-exported here).

A prompt is a conversation (:class:`Prompt`) plus the text the assistant's reply starts with.
:class:`PromptFormat` renders it for a model: the tokenizer's chat template for chat models, the
released code's plain ``Human: ... Assistant:`` layout for base models. Nothing here is keyed on
model names.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from selfimprove.generation.critique_format import ParsedCritique, parse_critique

__all__ = [
    "ANSWER_FORMAT",
    "CRITIQUE_INSTRUCTION",
    "REFINE_INSTRUCTION",
    "REFINE_INSTRUCTIONS",
    "SOLUTION_PREFIX",
    "ParsedCritique",
    "Prompt",
    "PromptFormat",
    "answer_format",
    "critique_message",
    "critique_prompt",
    "parse_critique",
    "question_message",
    "refine_instruction",
    "refine_message",
    "refine_prompt",
    "render_base",
    "solve_prompt",
    "strip_prefix",
]
ANSWER_FORMAT = {
    "gsm8k": "Please also give your final number in the format of 'The answer is [your answer].'",
    "math": "Please also give your final number in the format of 'The answer is $\\boxed{[your answer]}$.'",
}

SOLUTION_PREFIX = "Let's break it down step by step:\n\n"

# Where a base model's completion stops, as the released sampler lists them: Llama-3's and Llama-2's
# EOS, and the next turn's speaker, as a bare word (any "Human" or "Assistant" in the text ends it).
BASE_STOPS: tuple[str, ...] = ("<|end_of_text|>", "</s>", "Human", "Assistant")

# The refinement request after a critique, as the released code words it per prompt format: base
# models are asked for a new detailed solution, chat models (Llama-3-8B-Instruct) to correct theirs.
REFINE_INSTRUCTIONS = {
    "base": (
        "I have made a step-by-step critic for your solution. Please read the following critic and use "
        "this critic as a reference to provide a new detailed, step-by-step solution, including all "
        "reasoning and intermediate steps."
    ),
    "chat": (
        "I have made a step-by-step critic for your solution. Please read the following critic and "
        "generate a new answer to correct your solution."
    ),
}
REFINE_INSTRUCTION = REFINE_INSTRUCTIONS["base"]

CRITIQUE_INSTRUCTION = """Instruction:
For a given question, there is a step-by-step solution, where each line is a step. Please check step by step to tell me whether the solution is correct or wrong. You should repeat each step and give me an explanation on whether this step is correct or wrong. Finally, you should tell me whether the final answer is correct or wrong.

Your answer format should be:

Step sentence: [Repeated sentence, ignoring new line break]
Correctness of the step: [Correct/Wrong]
Explanation: [Your Explanation]

Correctness of the final answer: [Correct/Wrong]
Explanation: [Your Explanation]

Question:
{question}

Solution:
{solution}"""


@dataclass(frozen=True)
class Prompt:
    """A conversation to continue: ``messages`` (role/content dicts) and the reply's first words."""

    messages: tuple[dict, ...]
    prefix: str = ""


def answer_format(dataset_type: str) -> str:
    try:
        return ANSWER_FORMAT[dataset_type]
    except KeyError:
        raise ValueError(f"unknown dataset_type {dataset_type!r} (expected one of {sorted(ANSWER_FORMAT)})") from None


def question_message(question: str, dataset_type: str) -> str:
    """The actor's instruction for a question (also the SFT input)."""
    return f"{question} {answer_format(dataset_type)}"


def strip_prefix(solution: str) -> str:
    return solution[len(SOLUTION_PREFIX) :] if solution.startswith(SOLUTION_PREFIX) else solution


def solve_prompt(question: str, dataset_type: str) -> Prompt:
    return Prompt(({"role": "user", "content": question_message(question, dataset_type)},), SOLUTION_PREFIX)


def refine_instruction(kind: str = "base") -> str:
    """The refinement request for a prompt format ("base" or "chat")."""
    try:
        return REFINE_INSTRUCTIONS[kind]
    except KeyError:
        raise ValueError(f"prompt kind must be one of {sorted(REFINE_INSTRUCTIONS)}, not {kind!r}") from None


def refine_message(critique: str, dataset_type: str, kind: str = "base") -> str:
    return f"{refine_instruction(kind)} {answer_format(dataset_type)}\n\n{critique}"


def refine_prompt(question: str, solution: str, critique: str, dataset_type: str, kind: str = "base") -> Prompt:
    """Ask the actor for a new solution given its earlier one and a critique of it, worded for
    the actor's prompt format (``kind``: "base" or "chat", an engine's ``prompt_kind``)."""
    return Prompt(
        (
            {"role": "user", "content": question_message(question, dataset_type)},
            {"role": "assistant", "content": solution},
            {"role": "user", "content": refine_message(critique, dataset_type, kind)},
        ),
        SOLUTION_PREFIX,
    )


def critique_message(question: str, solution: str) -> str:
    return CRITIQUE_INSTRUCTION.format(question=question, solution=strip_prefix(solution))


def critique_prompt(question: str, solution: str) -> Prompt:
    return Prompt(({"role": "user", "content": critique_message(question, solution)},), "")


# --------------------------------------------------------------------------- rendering


class PromptFormat:
    """Turns a :class:`Prompt` into the text a local model continues.

    ``kind="chat"`` uses the tokenizer's chat template; ``kind="base"`` uses the plain layout of
    the released code for base models::

        Human: {user}\\n\\nAssistant:{assistant}\\n{eos}\\nHuman: {user}\\n\\nAssistant:{prefix}
    """

    def __init__(self, kind: str, tokenizer: Any = None, eos_token: str | None = None):
        if kind not in ("chat", "base"):
            raise ValueError(f"prompt format must be 'chat' or 'base', not {kind!r}")
        if kind == "chat" and (tokenizer is None or not getattr(tokenizer, "chat_template", None)):
            raise ValueError("chat format needs a tokenizer with a chat template; use model type 'base'")
        self.kind = kind
        self.tokenizer = tokenizer
        self.eos_token = eos_token if eos_token is not None else getattr(tokenizer, "eos_token", None) or "</s>"

    @classmethod
    def for_tokenizer(cls, tokenizer: Any, model_type: str = "auto") -> PromptFormat:
        """``model_type``: "chat"/"Instruct", "base"/"Base", or "auto" (chat iff a chat template exists)."""
        mt = (model_type or "auto").lower()
        if mt in ("instruct", "chat"):
            return cls("chat", tokenizer)
        if mt == "base":
            return cls("base", tokenizer)
        if mt == "auto":
            return cls("chat" if getattr(tokenizer, "chat_template", None) else "base", tokenizer)
        raise ValueError(f"model type must be auto, chat/Instruct or base/Base, not {model_type!r}")

    @property
    def stop(self) -> tuple[str, ...]:
        """Stop strings: base models otherwise run on into the next turn. The released code's list
        (:data:`BASE_STOPS`: both EOS spellings and the bare words "Human" and "Assistant"), and the
        model's own EOS where it is another one."""
        if self.kind != "base":
            return ()
        return BASE_STOPS + ((self.eos_token,) if self.eos_token not in BASE_STOPS else ())

    def render(self, prompt: Prompt) -> str:
        if self.kind == "chat":
            text = self.tokenizer.apply_chat_template(list(prompt.messages), tokenize=False, add_generation_prompt=True)
            return text + prompt.prefix
        return render_base(prompt.messages, self.eos_token) + "Assistant:" + prompt.prefix


def render_base(messages: Sequence[dict], eos_token: str) -> str:
    parts = []
    for m in messages:
        if m["role"] == "user":
            parts.append(f"Human: {m['content']}\n\n")
        elif m["role"] == "assistant":
            parts.append(f"Assistant:{m['content']}\n{eos_token}\n")
        elif m["role"] == "system":
            parts.append(f"{m['content']}\n\n")
        else:
            raise ValueError(f"unknown role {m['role']!r}")
    return "".join(parts)
