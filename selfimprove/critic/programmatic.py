"""The programmatic critic: an exact step-level critique without a model (the critic pipeline's annotator).

A step is a line of the solution. For every step the annotator re-computes each arithmetic claim
(calculator annotations ``<<3*12=36>>`` and inline ``3 * 12 = 36``, see
:mod:`selfimprove.critic.arith`); a claim whose stated value is not its computed value makes the
step wrong ("3 * 12 = 36, not 38."). When the true value of each reasoning step is known (the
``steps`` field of synthetic question records), a computing step whose result is none of the true
values (nor a number of the question) is wrong too, unless the next computing step turns it into
the next true value (a legitimate intermediate such as ``50 * 20 = 1000`` before ``1000 / 100 =
10``); this catches a wrong operation or a misused quantity whose arithmetic is right. Whether the
final answer is right comes from the grader (the annotator's "reference answer" hint).

The first wrong step is the critique's first "Wrong"; later steps are wrong when their own
arithmetic is wrong, when they use a value of a wrong step, or (true values known) when they
are off track. A wrong final answer with no wrong step found is pinned on the answer line when
that line states a value the solution never computed (or when there is no answer at all);
otherwise the error cannot be located (GSM8K without true values) and the annotator abstains
(``status="unlocalised"``, no critique) rather than guess.

The critique is written in the paper's format and parses with
:func:`selfimprove.generation.prompts.parse_critique`.

As a critic (:data:`NAME`, ``programmatic``: ``critic_model_name=programmatic`` in the drivers,
``--critic-model programmatic`` of the critique stage, the SFT + critic row of the one-player
table, ``--critic programmatic=programmatic`` of the critic evaluation), :func:`critique` writes a
whole-solution critique and :func:`annotate_samples` the critique stage's records. It is
**reference-guided**: it knows the gold answer and, for synthetic questions, the true value of
every step (the ``steps`` field of the question record), like a critique model prompted with the
reference; as a test-time critic it is therefore an upper bound, and the drivers use it on
training samples only. The self-talk step judge built on it is
:func:`selfimprove.selftalk.judges.programmatic_judge`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from selfimprove.core.io import ResumableJsonl
from selfimprove.core.records import Critique, Question, Sample
from selfimprove.critic.arith import (
    Equation,
    evaluate,
    find_equations,
    format_value,
    number_value,
    numbers_in,
    pretty_expr,
)
from selfimprove.generation.prompts import parse_critique, strip_prefix
from selfimprove.generation.tasks import critique_ids
from selfimprove.grading.api import grade

NAME = "programmatic"
MAX_STEPS = 60  # a solution with more lines is checked on its first MAX_STEPS lines

_CALC = re.compile(r"<<[^<>\n]*>>")
_ANSWER_LINE = re.compile(r"answer\s+is|####|\\boxed", re.I)


def solution_steps(response: str) -> list[str]:
    """The steps of a solution: its non-empty lines (after the reply's fixed opening), stripped."""
    return [ln.strip() for ln in strip_prefix(response or "").splitlines() if ln.strip()]


def step_sentence(line: str) -> str:
    """A step as the critique repeats it: calculator annotations removed, spaces collapsed."""
    return " ".join(_CALC.sub("", line).split())


@dataclass(frozen=True)
class TrueStep:
    value: Fraction
    expr: str | None = None


def true_steps(question: Mapping[str, Any]) -> list[TrueStep] | None:
    """The exact value of each reasoning step of a question record, when known.

    From the record's ``steps`` field (``[{"text", "expr", "value"}, ...]``); for synthetic
    records without it, from the reference's calculator annotations (the generator writes one
    annotated step per line). None when unknown."""
    steps = question.get("steps")
    out: list[TrueStep] = []
    if isinstance(steps, list) and steps:
        for s in steps:
            if not isinstance(s, dict):
                return None
            v = s.get("value")
            val = number_value(str(v)) if isinstance(v, (int, float, str)) and not isinstance(v, bool) else None
            if val is None:
                val = evaluate(str(s.get("expr", "")))
            if val is None:
                return None
            out.append(TrueStep(val, str(s["expr"]) if s.get("expr") else None))
        return out
    if question.get("dataset") == "synthetic" and isinstance(question.get("reference"), str):
        for line in question["reference"].splitlines():
            calc = [e for e in find_equations(line) if e.kind == "calc"]
            if calc:
                out.append(TrueStep(calc[-1].computed, calc[-1].lhs.replace(" ", "")))
        return out or None
    return None


@dataclass(frozen=True)
class StepCheck:
    sentence: str
    correct: bool
    explanation: str


@dataclass(frozen=True)
class Annotation:
    """What the annotator concluded. ``first_error`` is the 0-based index of the first wrong
    step (None: no wrong step). ``critique`` is None when it abstains."""

    status: str  # "ok" | "unlocalised" | "empty"
    verdict: str  # "correct" | "wrong"
    first_error: int | None
    steps: tuple[StepCheck, ...] = field(default_factory=tuple)
    critique: str | None = None
    annotator: str = NAME


def _arith_error(eqs: list[Equation]) -> Equation | None:
    return next((e for e in eqs if not e.correct), None)


def _explain_arith(e: Equation) -> str:
    return f"{e.lhs} = {format_value(e.computed)}, not {e.stated_text.replace('$', '').strip()}."


def _on_track_explanation(r: Fraction, target: TrueStep | None) -> str:
    if target is None:
        return f"This step gives {format_value(r)}, which is not a value the problem leads to."
    how = f" ({pretty_expr(target.expr)} = {format_value(target.value)})" if target.expr else ""
    return f"This step gives {format_value(r)}, but it should give {format_value(target.value)}{how}."


def _answer_value(pred: str | None) -> Fraction | None:
    if pred is None:
        return None
    v = evaluate(pred)
    return v if v is not None else number_value(pred)


def check_solution(
    response: str,
    gold: str,
    correct: bool,
    pred: str | None,
    question: str = "",
    truth: list[TrueStep] | None = None,
    abstain: bool = True,
) -> Annotation:
    """Check every step of ``response``; ``correct``/``pred`` are the grader's verdict and the
    extracted final answer, ``truth`` the true step values when known. With ``abstain=False`` an
    unlocalised error still gets a critique (no step called wrong, the final answer wrong): what a
    verifier without a model says, used when the annotator serves as a critic at test time."""
    lines = solution_steps(response)[:MAX_STEPS]
    verdict = "correct" if correct else "wrong"
    if not lines:
        return Annotation("empty", verdict, None)
    q_values = set(numbers_in(question))
    t_values = [t.value for t in truth] if truth else []
    reached: set[int] = set()
    labels: list[tuple[bool, str]] = []
    first: int | None = None
    tainted: set[Fraction] = set()  # results of wrong steps (that are not valid values anyway)
    computed: list[Fraction] = []
    pending: tuple[int, Fraction] | None = None  # an off-track step awaiting the next computing step

    def target() -> TrueStep | None:
        return next((truth[j] for j in range(len(truth)) if j not in reached), None) if truth else None

    def wrong(i: int, why: str, value: Fraction | None = None) -> None:
        nonlocal first
        labels[i] = (False, why)
        if first is None or i < first:
            first = i
        if value is not None and value not in q_values and value not in t_values:
            tainted.add(value)

    for i, line in enumerate(lines):
        eqs = find_equations(line)
        used = set(numbers_in(line))
        labels.append((True, ""))
        bad = _arith_error(eqs)
        r = eqs[-1].stated if eqs else None
        if pending is not None and eqs:
            p_i, p_r = pending
            pending = None
            if not (p_r in used and (bad is not None or r in t_values)):
                wrong(p_i, _on_track_explanation(p_r, target()), p_r)
        if bad is not None:
            wrong(i, _explain_arith(bad), bad.stated)
        elif first is not None and used & tainted:
            wrong(i, f"It uses {format_value(min(used & tainted))}, which comes from a wrong step.", r)
        if r is None:
            continue
        computed.append(r)
        if truth is None or correct or not labels[i][0]:
            continue
        hit = next((j for j, v in enumerate(t_values) if v == r and j not in reached), None)
        if hit is not None:
            reached.add(hit)
        elif r not in t_values and r not in q_values:
            if first is not None:
                wrong(i, _on_track_explanation(r, target()), r)
            else:
                pending = (i, r)
    if pending is not None:
        wrong(pending[0], _on_track_explanation(pending[1], target()), pending[1])
    pv = _answer_value(pred)
    ans_i = next((i for i in range(len(lines) - 1, -1, -1) if _ANSWER_LINE.search(lines[i])), None)
    if ans_i is None and pv is not None:  # no "The answer is": the last line that states the answer
        ans_i = next((i for i in range(len(lines) - 1, -1, -1) if pv in numbers_in(lines[i])), None)
    if correct:
        final = f"The final answer {pred} is correct."
    elif pred is None:
        final = f"The solution gives no final answer; the answer should be {gold}."
    else:
        final = f"The final answer should be {gold}, not {pred}."
    if not correct:
        if ans_i is None:
            if first is None and pred is None:
                wrong(len(lines) - 1, final)
        elif first is None:
            if pred is None or pv is None or (pv not in computed and pv not in q_values):
                wrong(ans_i, final)
        elif ans_i > first:
            labels[ans_i] = (False, final)
        if first is None and abstain:
            return Annotation("unlocalised", verdict, None)
    steps = []
    for i, (ok, why) in enumerate(labels):
        if ok:
            eqs = find_equations(lines[i])
            if i == ans_i and correct:
                why = f"The final answer {pred} follows from the steps."
            elif eqs:
                why = f"{eqs[-1].lhs} = {format_value(eqs[-1].computed)} is correct."
            else:
                why = "This step is correct."
        steps.append(StepCheck(step_sentence(lines[i]), ok, why))
    status = "unlocalised" if first is None and not correct else "ok"
    return Annotation(status, verdict, first, tuple(steps), render_critique(steps, verdict, final))


def render_critique(steps: tuple[StepCheck, ...] | list[StepCheck], verdict: str, final_explanation: str) -> str:
    """The paper's critique format."""
    blocks = [
        f"Step sentence: {s.sentence}\nCorrectness of the step: {'Correct' if s.correct else 'Wrong'}\n"
        f"Explanation: {s.explanation}"
        for s in steps
    ]
    blocks.append(
        f"Correctness of the final answer: {'Correct' if verdict == 'correct' else 'Wrong'}\n"
        f"Explanation: {final_explanation}"
    )
    return "\n\n".join(blocks)


def annotate_record(path: dict, question: dict | None = None, abstain: bool = True) -> Annotation:
    """Annotate a graded flawed-path record (``response``, ``gold``, ``correct``, ``pred``);
    ``question`` (the question record) supplies the true step values when it has them."""
    q = question or path
    return check_solution(
        path["response"],
        str(path["gold"]),
        bool(path["correct"]),
        path.get("pred"),
        question=path.get("question", q.get("question", "")),
        truth=true_steps(q),
        abstain=abstain,
    )


# ---------------------------------------------------------------------- the programmatic critic
def critique(question: Mapping[str, Any], response: str, grader: str = "default") -> str:
    """The programmatic critic's critique of a whole solution, in the paper's format. It never
    abstains: where it cannot locate an error it still says whether the final answer is right."""
    gold = str(question["gold"])
    g = grade(response, gold, question["dataset_type"], grader)
    ann = check_solution(response, gold, g.correct, g.pred, question["question"], true_steps(question), abstain=False)
    if ann.critique is not None:
        return ann.critique
    return render_critique((), ann.verdict, "The solution has no steps." if not g.correct else "")


def annotate_samples(
    questions: Mapping[str, Question],
    samples: Sequence[Sample],
    out_path: str | Path,
    grader: str = "default",
    critique_fn: Callable[[Question, str], str] | None = None,
) -> tuple[list[Critique], dict]:
    """Critique records (the critique stage's shape, id ``<sample id>/c0``) for every sample,
    written by ``critique_fn`` (default: :func:`critique`); resumable."""
    fn = critique_fn or (lambda q, response: critique(q, response, grader))
    out: ResumableJsonl[Critique] = ResumableJsonl(out_path)
    new: list[Critique] = []
    for s in samples:
        cid = critique_ids(s["id"], 1)[0]
        if cid in out.done:
            continue
        text = fn(questions[s["qid"]], s["response"])
        parsed = parse_critique(text)
        new.append(
            {
                "id": cid,
                "sample_id": s["id"],
                "qid": s["qid"],
                "critic_model": NAME,
                "critique": text,
                "verdict": parsed.verdict,
                "follows_format": parsed.follows_format,
                "step_verdicts": list(parsed.steps),
            }
        )
    out.append(new)
    ids = {critique_ids(s["id"], 1)[0] for s in samples}
    records = [r for r in out.records if r["id"] in ids]
    counts = {
        "critiques": len(records),
        "written": len(new),
        "verdict_wrong": sum(r["verdict"] == "wrong" for r in records),
        "verdict_correct": sum(r["verdict"] == "correct" for r in records),
    }
    return records, counts
