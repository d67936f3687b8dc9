"""The programmatic arithmetic annotator (:mod:`selfimprove.critic.programmatic`) in the two shapes
the one-player modes use.

* :func:`judge_step` — the step judge of self-talk construction: the annotator checks the solution
  so far and its verdict on the last step is the judgement. A step that states the final answer
  is accepted only when the answer is right (graded against the gold answer).
* :func:`critique` — a whole-solution critique in the paper's format (for critique data and as the
  test-time critic of the SFT + critic row). It never abstains: where it cannot locate an error
  it still says whether the final answer is right.

Both are **reference-guided**: the annotator knows the gold answer and, for synthetic questions,
the true value of every step (the ``steps`` field of the question record), like a critique model
prompted with the reference. As a test-time critic it is therefore an upper bound.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from selfimprove.core.io import ResumableJsonl
from selfimprove.critic.programmatic import check_solution, render_critique, true_steps
from selfimprove.generation.prompts import parse_critique
from selfimprove.generation.tasks import critique_ids
from selfimprove.grading.api import grade
from selfimprove.selftalk.prompts import solution_text
from selfimprove.selftalk.steps import is_final

NAME = "annotator"


def judge_step(question: dict, steps: Sequence[str], step: str, grader: str = "default") -> tuple[bool, str]:
    """``(ok, explanation)`` for ``step`` after the accepted ``steps``."""
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
    # annotator checks the arithmetic and, with true values known, that the step stays on track.
    ann = check_solution(text, gold, False, "", question["question"], truth, abstain=False)
    last = ann.steps[-1]
    return last.correct, last.explanation


def critique(question: dict, response: str, grader: str = "default") -> str:
    """The annotator's critique of a whole solution, in the paper's format."""
    gold = str(question["gold"])
    g = grade(response, gold, question["dataset_type"], grader)
    ann = check_solution(response, gold, g.correct, g.pred, question["question"], true_steps(question), abstain=False)
    if ann.critique is not None:
        return ann.critique
    return render_critique((), ann.verdict, "The solution has no steps." if not g.correct else "")


def annotate_samples(
    questions: dict[str, dict],
    samples: Sequence[dict],
    out_path: str | Path,
    grader: str = "default",
    critique_fn: Callable[[dict, str], str] | None = None,
) -> tuple[list[dict], dict]:
    """Critique records (the critique stage's shape, id ``<sample id>/c0``) for every sample,
    written by ``critique_fn`` (default: :func:`critique`); resumable."""
    fn = critique_fn or (lambda q, response: critique(q, response, grader))
    out = ResumableJsonl(out_path)
    new = []
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
