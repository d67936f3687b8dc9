"""Step judges: is this step of a solution correct, and why?

A judge sees a batch of :class:`StepItem` (question record, accepted steps so far, the new step)
and returns one :class:`Judgement` per item. Three kinds:

* :class:`FunctionJudge` wraps a plain callable ``judge(question_record, steps_so_far, step) ->
  (ok, explanation)`` — the programmatic arithmetic annotator, or a test's script;
* :class:`ModelJudge` asks a critique model (any engine) for the paper's step-level critique of
  the solution so far and reads the verdict and explanation of its last step;
* :func:`annotator_judge` builds the programmatic annotator of :mod:`selfimprove.critic` as a judge.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from selfimprove.generation.engines import Engine, SamplingParams
from selfimprove.generation.prompts import critique_prompt
from selfimprove.selftalk.prompts import solution_text
from selfimprove.selftalk.steps import completion_text


@dataclass(frozen=True)
class StepItem:
    question: dict
    steps: tuple[str, ...]  # the accepted steps before ``step``
    step: str


@dataclass(frozen=True)
class Judgement:
    ok: bool
    explanation: str = ""


class StepJudge(Protocol):
    name: str

    def judge(self, items: Sequence[StepItem]) -> list[Judgement]: ...


JudgeFn = Callable[[dict, Sequence[str], str], tuple[bool, str]]


class FunctionJudge:
    """A judge from ``fn(question_record, steps_so_far, step) -> (ok, explanation)``."""

    def __init__(self, fn: JudgeFn, name: str = "function"):
        self.fn = fn
        self.name = name

    def judge(self, items: Sequence[StepItem]) -> list[Judgement]:
        out = []
        for it in items:
            ok, explanation = self.fn(it.question, list(it.steps), it.step)
            out.append(Judgement(bool(ok), str(explanation or "")))
        return out


_BLOCK_RE = re.compile(
    r"Correctness of the step\s*:\s*\**\s*\[?\s*(correct|wrong|incorrect)\b[^\n]*\n?"
    r"(?:\s*Explanation\s*:\s*(.*?))?(?=\n\s*(?:Step sentence|Correctness of)|\Z)",
    re.I | re.S,
)
_FINAL_RE = re.compile(
    r"Correctness of the final answer\s*:\s*\**\s*\[?\s*(correct|wrong|incorrect)\b[^\n]*\n?"
    r"(?:\s*Explanation\s*:\s*(.*?))?(?=\n\s*(?:Step sentence|Correctness of)|\Z)",
    re.I | re.S,
)


def step_judgements(critique: str) -> list[Judgement]:
    """The per-step verdicts and explanations of a critique in the paper's format, in order."""
    return [
        Judgement(v.lower() == "correct", " ".join((e or "").split())) for v, e in _BLOCK_RE.findall(critique or "")
    ]


def judgement_at(critique: str, position: int) -> Judgement | None:
    """The critique's judgement of step ``position`` (0-based); the last step's when it lists fewer
    steps, the final answer's when it lists none; None when it follows no format."""
    steps = step_judgements(critique)
    if steps:
        return steps[min(position, len(steps) - 1)]
    finals = _FINAL_RE.findall(critique or "")
    if finals:
        v, e = finals[-1]
        return Judgement(v.lower() == "correct", " ".join((e or "").split()))
    return None


UNREADABLE = "The check of this step did not follow the critique format."


class ModelJudge:
    """A critique model judges the last step of the solution so far (one critique per item).

    A critique that follows no format counts as a rejection (``UNREADABLE``) and is counted in
    ``format_violations``."""

    def __init__(self, engine: Engine, params: SamplingParams):
        self.engine = engine
        self.params = params
        self.name = f"model:{engine.name}"
        self.format_violations = 0

    def judge(self, items: Sequence[StepItem]) -> list[Judgement]:
        if not items:
            return []
        prompts = [critique_prompt(it.question["question"], solution_text([*it.steps, it.step])) for it in items]
        outs = self.engine.generate(prompts, self.params)
        result = []
        for it, completions in zip(items, outs):
            j = judgement_at(completion_text(completions[0]), len(it.steps))
            if j is None:
                self.format_violations += 1
                j = Judgement(False, UNREADABLE)
            result.append(j)
        return result


def annotator_judge(grader: str = "default") -> StepJudge:
    """The programmatic arithmetic annotator of :mod:`selfimprove.critic` as a step judge
    (reference-guided: see :mod:`selfimprove.selftalk.annotator`)."""
    from selfimprove.selftalk.annotator import NAME, judge_step

    return FunctionJudge(lambda q, steps, step: judge_step(q, steps, step, grader), name=NAME)
