"""The prompts of the critique-data pipeline, written once: mistake insertion (RG3) and annotation.

The critique format itself (the critic's instruction, "Step sentence / Correctness of the step /
Explanation" per step, then "Correctness of the final answer") lives in
:mod:`selfimprove.generation.prompts`; annotators are asked for exactly that format, given the
hints the paper gives its annotator: the reference answer, and where known the location (RG2)
or the location and type (RG3) of the first mistake.
"""

from __future__ import annotations

from selfimprove.generation.prompts import CRITIQUE_INSTRUCTION, Prompt, strip_prefix

# The one list of mistake types (RG3). Each has a short description the inserting model is given.
MISTAKE_TYPES: dict[str, str] = {
    "calculation error": "an arithmetic result in the step is computed wrongly",
    "wrong operation": "the step applies the wrong operation (e.g. adds where it should multiply)",
    "misused quantity": "the step uses a wrong number or quantity from the question or an earlier step",
    "skipped step": "the step leaves out a necessary part of the reasoning and jumps ahead",
    "logic error": "the step draws a conclusion that does not follow from what came before",
}

INSERT_INSTRUCTION = """Below is a math question and the first steps of a step-by-step solution, one step per line.
Rewrite step {step_number} so that it contains exactly one mistake of this type: {mistake_type} ({description}).
Keep the style and length of the original step. Reply with the rewritten step only, on one line.

Question:
{question}

Solution so far:
{steps}

Original step {step_number}:
{line}

Rewritten step {step_number}:"""

ANNOTATE_HINTS = """

Hints for checking (do not mention these hints in your answer):
- The reference answer is: {gold}"""
ANNOTATE_LOCATION = "\n- The first mistake is likely at or after step {step_number}."
ANNOTATE_LOCATION_TYPE = "\n- The first mistake is in step {step_number}, a {mistake_type} ({description})."


def insert_prompt(question: str, lines: list[str], t: int, mistake_type: str) -> Prompt:
    """Ask a model to rewrite line ``t`` (0-based) of ``lines`` with a mistake of ``mistake_type``."""
    if mistake_type not in MISTAKE_TYPES:
        raise ValueError(f"unknown mistake type {mistake_type!r} (one of: {', '.join(MISTAKE_TYPES)})")
    shown = "\n".join(lines[: t + 1])
    text = INSERT_INSTRUCTION.format(
        step_number=t + 1,
        mistake_type=mistake_type,
        description=MISTAKE_TYPES[mistake_type],
        question=question,
        steps=shown,
        line=lines[t],
    )
    return Prompt(({"role": "user", "content": text},), "")


def annotate_prompt(
    question: str, solution: str, gold: str, step: int | None = None, mistake_type: str | None = None
) -> Prompt:
    """The critic's own instruction plus the annotator's hints (reference answer; RG2 location;
    RG3 location and type). ``step`` is 0-based."""
    text = CRITIQUE_INSTRUCTION.format(question=question, solution=strip_prefix(solution))
    hints = ANNOTATE_HINTS.format(gold=gold)
    if step is not None and mistake_type in MISTAKE_TYPES:
        hints += ANNOTATE_LOCATION_TYPE.format(
            step_number=step + 1, mistake_type=mistake_type, description=MISTAKE_TYPES[mistake_type]
        )
    elif step is not None:
        hints += ANNOTATE_LOCATION.format(step_number=step + 1)
    return Prompt(({"role": "user", "content": text + hints},), "")
