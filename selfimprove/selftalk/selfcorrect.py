"""Trajectory-level self-correction: one model answers, critiques its own answer, and corrects it.

**Training data** (:func:`trajectory_examples`), from a run's samples, critiques and refinements
(the ``01_samples`` / ``02_critiques`` / ``03_refinements`` files of an iteration, or the same
layout written by the critic pipeline):

* a wrong answer whose critique says ``wrong`` and led to a kept (correct) refinement:
  question -> answer -> self-critique -> corrected answer;
* a right answer whose critique says ``correct``: question -> answer -> self-critique ("correct").

Samples whose critique disagrees with the ground truth, and wrong answers that were never fixed,
are left out (and counted). :func:`turn_examples` cuts a trajectory into one example per target
turn (the conversation up to that turn), so every format trains every target whatever the
trainer does with history: the critique and the correction always, the first answer only when it
is right (a wrong first answer is context, never a target).

**Test time** (:func:`self_correct`): the model checks each of its own answers in the critique
format (:func:`~selfimprove.selftalk.prompts.self_check_prompt`); an answer it judges wrong is
rewritten after its own critique (:func:`~selfimprove.selftalk.prompts.self_refine_prompt`); the
final answer is the rewrite, else the answer itself. No separate critic.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

from selfimprove.core.io import ResumableJsonl
from selfimprove.core.layout import RunLayout
from selfimprove.core.records import Critique, Question, Refinement, Sample, natural_key
from selfimprove.generation.engines import Completion, Engine, SamplingParams
from selfimprove.generation.loop import generate_into, grade_records
from selfimprove.generation.prompts import SOLUTION_PREFIX, parse_critique, question_message
from selfimprove.selftalk.prompts import self_check_message, self_check_prompt, self_refine_message, self_refine_prompt
from selfimprove.training.export import conversation


class FinalAnswer(Sample, total=False):
    """A one-player row's answer after the model's own check: the sample's fields, the verdict on
    it, whether it was revised and whether the first answer was right."""

    verdict: str | None
    revised: bool
    first_correct: bool


def _verdict(c: Critique) -> str | None:
    return c["verdict"] if "verdict" in c else parse_critique(c["critique"]).verdict


def trajectory_examples(
    questions: Mapping[str, Question],
    samples: Sequence[Sample],
    critiques: Sequence[Critique],
    refinements: Sequence[Refinement] = (),
) -> tuple[list[list[dict]], dict]:
    """Self-correction trajectories, one per usable sample (in sample order), with counts."""
    crits: dict[str, list[Critique]] = {}
    for c in sorted(critiques, key=lambda c: natural_key(c["id"])):
        crits.setdefault(c["sample_id"], []).append(c)
    fixed: dict[str, Refinement] = {}
    for r in sorted(refinements, key=lambda r: natural_key(r["id"])):
        if r.get("kept", r.get("correct")) and r.get("critique_id") not in fixed:
            fixed[r["critique_id"]] = r
    convs: list[list[dict]] = []
    counts: Counter = Counter()
    for s in samples:
        q = questions.get(s["qid"])
        if q is None:
            raise ValueError(f"sample {s['id']} refers to unknown question {s['qid']}")
        head = [question_message(q["question"], q["dataset_type"]), s["response"], self_check_message()]
        own = crits.get(s["id"], [])
        if s["correct"]:
            confirming = [c for c in own if _verdict(c) == "correct"]
            if not confirming:
                counts["skipped_correct_not_confirmed" if own else "skipped_not_critiqued"] += 1
                continue
            convs.append(conversation(*head, confirming[0]["critique"]))
            counts["confirmed"] += 1
            continue
        pairs = [(c, fixed[c["id"]]) for c in own if _verdict(c) == "wrong" and c["id"] in fixed]
        pair = pairs[0] if pairs else None
        if pair is None:
            if not own:
                counts["skipped_not_critiqued"] += 1
            elif not any(_verdict(c) == "wrong" for c in own):
                counts["skipped_wrong_not_flagged"] += 1
            else:
                counts["skipped_not_fixed"] += 1
            continue
        c, r = pair
        convs.append(conversation(*head, c["critique"], self_refine_message(q["dataset_type"]), r["response"]))
        counts["corrected"] += 1
    return convs, {"trajectories": len(convs), **dict(sorted(counts.items()))}


def turn_examples(trajectory: list[dict]) -> list[list[dict]]:
    """One example per target turn of a trajectory: the critique, the correction, and the first
    answer when no correction follows it (a confirmed answer is a right one)."""
    corrected = len(trajectory) > 4
    ends = [i for i, t in enumerate(trajectory) if t["role"] == "assistant" and not (corrected and i == 1)]
    return [trajectory[: i + 1] for i in ends]


def self_correct(
    engine: Engine,
    questions: Mapping[str, Question],
    answers: Sequence[Sample],
    out_dir: str | Path,
    tag: str,
    check_params: SamplingParams,
    refine_params: SamplingParams,
    grader: str = "default",
    chunk_size: int = 512,
) -> tuple[list[FinalAnswer], dict]:
    """The model checks and, where it finds a mistake, corrects each of its graded ``answers``.

    Writes ``<tag>_checks.jsonl`` and ``<tag>_corrections.jsonl`` in ``out_dir`` (resumable) and
    returns the final answer records (id, qid, index, response, pred, correct, verdict, revised)."""
    out_dir = Path(out_dir)
    checks_out: ResumableJsonl[Critique] = ResumableJsonl(RunLayout.onep_file(out_dir, "checks", tag))
    qs = {a["id"]: questions[a["qid"]] for a in answers}

    def check_records(a: Sample, completions: list[Completion]) -> list[Critique]:
        text = completions[0].text
        return [{"id": a["id"], "qid": a["qid"], "critique": text, "verdict": parse_critique(text).verdict}]

    counts: dict[str, int] = {}
    c1 = generate_into(
        checks_out,
        answers,
        engine,
        check_params,
        build_prompt=lambda a: self_check_prompt(qs[a["id"]]["question"], qs[a["id"]]["dataset_type"], a["response"]),
        make_records=check_records,
        expected_ids=lambda a: [a["id"]],
        chunk_size=chunk_size,
        desc=f"{tag}: self-checks",
    )
    checks = {c["id"]: c for c in checks_out.records}
    flagged = [a for a in answers if checks[a["id"]]["verdict"] == "wrong"]
    fixes_out: ResumableJsonl[Sample] = ResumableJsonl(RunLayout.onep_file(out_dir, "corrections", tag))

    def fix_records(a: Sample, completions: list[Completion]) -> list[Sample]:
        q = qs[a["id"]]
        text = completions[0].text
        return [
            {
                "id": a["id"],
                "qid": a["qid"],
                "gold": q["gold"],
                "dataset_type": q["dataset_type"],
                "response": SOLUTION_PREFIX + text,
                "empty": not text.strip(),
            }
        ]

    c2 = generate_into(
        fixes_out,
        flagged,
        engine,
        refine_params,
        build_prompt=lambda a: self_refine_prompt(
            qs[a["id"]]["question"], qs[a["id"]]["dataset_type"], a["response"], checks[a["id"]]["critique"]
        ),
        make_records=fix_records,
        expected_ids=lambda a: [a["id"]],
        postprocess=lambda recs: grade_records(recs, grader),
        chunk_size=chunk_size,
        desc=f"{tag}: self-corrections",
    )
    fixes = {f["id"]: f for f in fixes_out.records}
    finals: list[FinalAnswer] = []
    for a in answers:
        verdict = checks[a["id"]]["verdict"]
        src = fixes.get(a["id"]) if verdict == "wrong" else None
        final = src or a
        finals.append(
            {
                "id": a["id"],
                "qid": a["qid"],
                "index": a["index"],
                "response": final["response"],
                "pred": final["pred"],
                "correct": final["correct"],
                "verdict": verdict,
                "revised": src is not None,
                "first_correct": a["correct"],
            }
        )
    counts.update(
        answers=len(answers),
        judged_wrong=len(flagged),
        format_violations=sum(checks[a["id"]]["verdict"] is None for a in answers),
        checks_generated=c1["generated"],
        corrections_generated=c2["generated"],
        correct_before=sum(a["correct"] for a in answers),
        correct_after=sum(f["correct"] for f in finals),
    )
    return finals, counts
