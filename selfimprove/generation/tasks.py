"""The three generation tasks of the loop: sample solutions, critique them, refine them.

Each task builds prompts, runs an engine through the resumable generation loop and writes
graded records keyed by stable ids. The stages (and the evaluation) call these. An item whose
prompt is longer than the engine's context window gets empty records flagged ``unanswered``
(graded wrong, never kept); the counts name them (``unanswered``, ``unanswered_ids``).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from selfimprove.core.io import ResumableJsonl, atomic_write_jsonl
from selfimprove.core.records import (
    CRITIQUE_FIELDS,
    QUESTION_FIELDS,
    SAMPLE_FIELDS,
    Critique,
    Question,
    Refinement,
    Sample,
    critique_ids,
    natural_key,
    refinement_ids,
    sample_ids,
)
from selfimprove.generation.critique_format import parse_critique
from selfimprove.generation.engines import Completion, Engine, SamplingParams
from selfimprove.generation.loop import generate_into, grade_records
from selfimprove.generation.prompts import SOLUTION_PREFIX, critique_prompt, refine_prompt, solve_prompt

__all__ = [
    "CRITIQUE_FIELDS",
    "QUESTION_FIELDS",
    "RESERVED_SCOPES",
    "SAMPLE_FIELDS",
    "critique_ids",
    "critique_samples",
    "mark_kept",
    "refine_critiques",
    "refinement_ids",
    "sample_ids",
    "sample_questions",
    "select_samples",
    "shortcut_barrier",
    "unanswered_counts",
]


def unanswered_counts(records: Sequence[Mapping[str, Any]]) -> dict:
    """How many of an output's records are unanswered (their prompt is longer than the context
    window: empty and graded wrong), and which: ``unanswered`` and ``unanswered_ids``."""
    ids = sorted((r["id"] for r in records if r.get("unanswered")), key=natural_key)
    return {"unanswered": len(ids), "unanswered_ids": ids}


# ---------------------------------------------------------------------- sample


def sample_questions(
    engine: Engine,
    questions: Sequence[Question],
    out_path,
    params: SamplingParams,
    grader: str = "default",
    chunk_size: int = 1024,
    grade_workers: int | None = None,
    desc: str = "sampling",
) -> tuple[list[Sample], dict]:
    """Sample ``params.n`` graded solutions per question into ``out_path`` (resumable)."""
    out: ResumableJsonl[Sample] = ResumableJsonl(out_path)
    settings = params.as_dict()

    def make_records(q: Question, completions: list[Completion]) -> list[Sample]:
        return [
            {
                "id": sid,
                "qid": q["id"],
                "index": j,
                "dataset": q.get("dataset"),
                "dataset_type": q["dataset_type"],
                "level": q.get("level"),
                "question": q["question"],
                "gold": q["gold"],
                "model": engine.name,
                "sampling": settings,
                "response": SOLUTION_PREFIX + c.text,
                "empty": not c.text.strip(),
            }
            for j, (sid, c) in enumerate(zip(sample_ids(q["id"], params.n), completions))
        ]

    counts = generate_into(
        out,
        questions,
        engine,
        params,
        build_prompt=lambda q: solve_prompt(q["question"], q["dataset_type"]),
        make_records=make_records,
        expected_ids=lambda q: sample_ids(q["id"], params.n),
        postprocess=lambda recs: grade_records(recs, grader, grade_workers),
        chunk_size=chunk_size,
        desc=desc,
    )
    records = out.records
    counts.update(
        samples=len(records),
        correct=sum(r["correct"] for r in records),
        questions_with_correct=len({r["qid"] for r in records if r["correct"]}),
        **unanswered_counts(records),
    )
    return records, counts


# ---------------------------------------------------------------------- critique
def select_samples(samples: list[Sample], which: str) -> list[Sample]:
    if which == "incorrect":
        return [s for s in samples if not s["correct"]]
    if which == "all":
        return list(samples)
    raise ValueError(f"--which must be 'incorrect' or 'all', not {which!r}")


def critique_samples(
    engine: Engine,
    samples: Sequence[Sample],
    out_path,
    params: SamplingParams,
    chunk_size: int = 1024,
    desc: str = "critiquing",
) -> tuple[list[Critique], dict]:
    """Critique every given sample ``params.n`` times into ``out_path`` (resumable)."""
    out: ResumableJsonl[Critique] = ResumableJsonl(out_path)
    settings = params.as_dict()

    def make_records(s: Sample, completions: list[Completion]) -> list[Critique]:
        recs: list[Critique] = []
        for cid, c in zip(critique_ids(s["id"], params.n), completions):
            text = c.text
            parsed = parse_critique(text)
            recs.append(
                {
                    "id": cid,
                    "sample_id": s["id"],
                    "qid": s["qid"],
                    "critic_model": engine.name,
                    "sampling": settings,
                    "critique": text,
                    "verdict": parsed.verdict,
                    "follows_format": parsed.follows_format,
                    "step_verdicts": list(parsed.steps),
                    "empty": not text.strip(),
                }
            )
        return recs

    counts = generate_into(
        out,
        samples,
        engine,
        params,
        build_prompt=lambda s: critique_prompt(s["question"], s["response"]),
        make_records=make_records,
        expected_ids=lambda s: critique_ids(s["id"], params.n),
        chunk_size=chunk_size,
        desc=desc,
    )
    records = out.records
    counts.update(
        critiques=len(records),
        format_violations=sum(not r["follows_format"] for r in records),
        verdict_wrong=sum(r["verdict"] == "wrong" for r in records),
        verdict_correct=sum(r["verdict"] == "correct" for r in records),
        **unanswered_counts(records),
    )
    return records, counts


# ---------------------------------------------------------------------- refine
_NUMBER = re.compile(r"\d+")


def shortcut_barrier(reference: str, original: str, refined: str) -> bool:
    """False for a "shortcut" refinement: one that states far fewer numbers than both the
    reference solution and the original attempt (it jumps to an answer instead of reasoning).
    Same rule as the released code: reject when new < min(reference, original) - 2."""
    n_ref = len(_NUMBER.findall(reference))
    n_orig = len(_NUMBER.findall(original))
    n_new = len(_NUMBER.findall(refined))
    return not n_new < min(n_ref, n_orig) - 2


RESERVED_SCOPES = ("sample", "question")


def mark_kept(
    refinements: list[Refinement], reserved_new_data: int, reserved_scope: str = "sample"
) -> list[Refinement]:
    """Set ``kept`` on each refinement: correct, no shortcut, and at most ``reserved_new_data``
    kept per critiqued sample (``reserved_scope="sample"``, as the released code does: each wrong
    sample contributes up to k refinements) or per question (``"question"``), first in id order."""
    if reserved_scope not in RESERVED_SCOPES:
        raise ValueError(f"reserved_scope must be one of {RESERVED_SCOPES}, not {reserved_scope!r}")
    kept: dict[str, int] = defaultdict(int)
    for r in sorted(refinements, key=lambda r: natural_key(r["id"])):
        owner = r["sample_id"] if reserved_scope == "sample" else r["qid"]
        ok = r["correct"] and r["shortcut"] and kept[owner] < reserved_new_data
        r["kept"] = bool(ok)
        if ok:
            kept[owner] += 1
    return refinements


def refine_critiques(
    engine: Engine,
    critiques: Sequence[Critique],
    samples: Mapping[str, Sample],
    out_path,
    params: SamplingParams,
    reserved_new_data: int = 1,
    grader: str = "default",
    chunk_size: int = 1024,
    grade_workers: int | None = None,
    references: dict[str, str] | None = None,
    desc: str = "refining",
    reserved_scope: str = "sample",
) -> tuple[list[Refinement], dict]:
    """Refine each critiqued sample ``params.n`` times; grade; mark kept ones; rewrite atomically.
    The refinement request is worded for the actor's prompt format (``engine.prompt_kind``).

    ``references`` maps qid to the reference solution for the shortcut barrier (when absent the
    gold answer stands in, which makes the barrier compare against the original only).
    ``reserved_new_data`` and ``reserved_scope`` bound the kept refinements (:func:`mark_kept`)."""
    if reserved_scope not in RESERVED_SCOPES:
        raise ValueError(f"reserved_scope must be one of {RESERVED_SCOPES}, not {reserved_scope!r}")
    out: ResumableJsonl[Refinement] = ResumableJsonl(out_path)
    settings = params.as_dict()
    references = references or {}
    for c in critiques:
        if c["sample_id"] not in samples:
            raise ValueError(f"critique {c['id']} refers to unknown sample {c['sample_id']}")

    def make_records(c: Critique, completions: list[Completion]) -> list[Refinement]:
        s = samples[c["sample_id"]]
        recs: list[Refinement] = []
        for rid, comp in zip(refinement_ids(c["id"], params.n), completions):
            text = comp.text
            response = SOLUTION_PREFIX + text
            recs.append(
                {
                    "id": rid,
                    "critique_id": c["id"],
                    "sample_id": s["id"],
                    "qid": s["qid"],
                    "dataset": s.get("dataset"),
                    "dataset_type": s["dataset_type"],
                    "level": s.get("level"),
                    "gold": s["gold"],
                    "model": engine.name,
                    "sampling": settings,
                    "response": response,
                    "empty": not text.strip(),
                    "shortcut": shortcut_barrier(references.get(s["qid"], s["gold"]), s["response"], response),
                }
            )
        return recs

    counts = generate_into(
        out,
        critiques,
        engine,
        params,
        build_prompt=lambda c: refine_prompt(
            samples[c["sample_id"]]["question"],
            samples[c["sample_id"]]["response"],
            c["critique"],
            samples[c["sample_id"]]["dataset_type"],
            kind=engine.prompt_kind,
        ),
        make_records=make_records,
        expected_ids=lambda c: refinement_ids(c["id"], params.n),
        postprocess=lambda recs: grade_records(recs, grader, grade_workers),
        chunk_size=chunk_size,
        desc=desc,
    )
    records = mark_kept(out.records, reserved_new_data, reserved_scope)
    atomic_write_jsonl(out_path, records)
    counts.update(
        refinements=len(records),
        correct=sum(r["correct"] for r in records),
        shortcut_rejected=sum(r["correct"] and not r["shortcut"] for r in records),
        kept=sum(r["kept"] for r in records),
        questions_fixed=len({r["qid"] for r in records if r["kept"]}),
        **unanswered_counts(records),
    )
    return records, counts
