"""Step judges: is this step of a solution correct, and why?

A judge sees a batch of :class:`StepItem` (question record, accepted steps so far, the new step)
and returns one :class:`Judgement` per item. Three kinds:

* :class:`FunctionJudge` wraps a plain callable ``judge(question_record, steps_so_far, step) ->
  (ok, explanation)`` — the programmatic critic, or a test's script;
* :class:`ModelJudge` asks a critique model (any engine) for the paper's step-level critique of
  the solution so far and reads the verdict and explanation of its last step;
* :func:`programmatic_judge` builds the programmatic critic of :mod:`selfimprove.critic.programmatic`
  as a judge (:func:`judge_step`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from selfimprove.critic.programmatic import NAME as PROGRAMMATIC
from selfimprove.critic.programmatic import check_solution, true_steps
from selfimprove.generation.engines import Engine, SamplingParams
from selfimprove.generation.prompts import critique_prompt
from selfimprove.grading.api import grade
from selfimprove.selftalk.prompts import solution_text
from selfimprove.selftalk.steps import completion_text, is_final


@dataclass(frozen=True)
class StepItem:
    question: Mapping[str, Any]
    steps: tuple[str, ...]  # the accepted steps before ``step``
    step: str


@dataclass(frozen=True)
class Judgement:
    ok: bool
    explanation: str = ""


class StepJudge(Protocol):
    name: str

    def judge(self, items: Sequence[StepItem]) -> list[Judgement]: ...


JudgeFn = Callable[[Mapping[str, Any], Sequence[str], str], tuple[bool, str]]


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


def judge_step(
    question: Mapping[str, Any], steps: Sequence[str], step: str, grader: str = "default"
) -> tuple[bool, str]:
    """The programmatic critic's ``(ok, explanation)`` for ``step`` after the accepted ``steps``: it
    checks the solution so far and its verdict on the last step is the judgement. A step that
    states the final answer is accepted only when the answer is right (graded against the gold)."""
    text = solution_text([*steps, step])
    gold = str(question["gold"])
    truth = true_steps(question)
    if is_final(step):
        g = grade(text, gold, question["dataset_type"], grader)
        ann = check_solution(text, gold, g.correct, g.pred, question["question"], truth, abstain=False)
        last = ann.steps[-1] if ann.steps else None
        if last is not None and not last.correct:
            return False, last.explanation
        if not g.correct:
            return False, f"The final answer should be {gold}, not {g.pred}." if g.pred else "No final answer is given."
        return True, last.explanation if last is not None else ""
    # Not an answer yet: judged as a wrong-so-far solution with a pending answer, so that the
    # critic checks the arithmetic and, with true values known, that the step stays on track.
    ann = check_solution(text, gold, False, "", question["question"], truth, abstain=False)
    last = ann.steps[-1]
    return last.correct, last.explanation


def programmatic_judge(grader: str = "default") -> StepJudge:
    """The programmatic critic (:mod:`selfimprove.critic.programmatic`, reference-guided) as a step judge."""
    return FunctionJudge(lambda q, steps, step: judge_step(q, steps, step, grader), name=PROGRAMMATIC)
