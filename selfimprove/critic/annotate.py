"""Annotation (AutoMathCritique, stage 2): a step-level critique for every selected flawed path.

Annotators sit behind one call, :func:`annotate_paths`, and every record names the annotator
that wrote it:

* ``"programmatic"`` — :mod:`selfimprove.critic.programmatic`: exact, no model. Where it cannot
  locate the error (a wrong GSM8K answer whose arithmetic is all right) it abstains: the record
  has ``status: "unlocalised"`` and no critique.
* any :class:`~selfimprove.generation.engines.Engine` — a local model (vLLM, transformers) or an
  OpenAI-compatible endpoint (a GPT-4o-class annotator, the paper's choice), prompted with the
  critic's instruction plus the paper's hints (:func:`~selfimprove.critic.prompts.annotate_prompt`:
  the reference answer; for RG2 the location; for RG3 the location and the mistake type).

Record: ``{"id": "<path id>/a", "path_id", "qid", "strategy", "annotator", "status", "critique",
"verdict", "follows_format", "step_verdicts", "first_error", "path_correct", "verdict_right"}``.
``first_error`` is the 0-based first step the critique calls wrong (None: none).
"""

from __future__ import annotations

import sys
from collections import Counter

from tqdm import tqdm

from selfimprove.core.io import ResumableJsonl, chunks
from selfimprove.critic.critiques import predicted_first_error
from selfimprove.critic.programmatic import NAME as PROGRAMMATIC
from selfimprove.critic.programmatic import annotate_record
from selfimprove.critic.prompts import annotate_prompt
from selfimprove.generation.critique_format import parse_critique
from selfimprove.generation.engines import Completion, Engine, SamplingParams
from selfimprove.generation.loop import generate_into

PATH_FIELDS = ("id", "qid", "strategy", "question", "response", "gold", "correct")


def annotation_id(path_id: str) -> str:
    return f"{path_id}/a"


def _record(path: dict, annotator: str, critique: str | None, status: str, first_error: int | None) -> dict:
    parsed = parse_critique(critique or "")
    path_correct = bool(path["correct"])
    return {
        "id": annotation_id(path["id"]),
        "path_id": path["id"],
        "qid": path["qid"],
        "strategy": path["strategy"],
        "step": path.get("step"),
        "mistake_type": path.get("mistake_type"),
        "annotator": annotator,
        "status": status,
        "critique": critique,
        "verdict": parsed.verdict,
        "follows_format": parsed.follows_format,
        "step_verdicts": list(parsed.steps),
        "first_error": first_error,
        "path_correct": path_correct,
        "verdict_right": parsed.verdict is not None and (parsed.verdict == "correct") == path_correct,
    }


def programmatic_record(path: dict) -> dict:
    ann = annotate_record(path)
    return _record(path, PROGRAMMATIC, ann.critique, ann.status, ann.first_error)


def hint_prompt(path: dict):
    """The annotator's prompt for a path: RG2 gives the location, RG3 the location and type."""
    step = path.get("step") if path.get("strategy") in ("rg2", "rg3") else None
    mtype = path.get("mistake_type") if path.get("strategy") == "rg3" else None
    return annotate_prompt(path["question"], path["response"], str(path["gold"]), step, mtype)


def annotate_paths(
    paths: list[dict],
    out_path,
    annotator: str | Engine,
    params: SamplingParams | None = None,
    chunk_size: int = 512,
) -> tuple[list[dict], dict]:
    """Annotate every path (resumable); ``annotator`` is "programmatic" or an engine."""
    out = ResumableJsonl(out_path)
    todo = [p for p in paths if annotation_id(p["id"]) not in out.done]
    counts: dict = {"paths": len(paths), "skipped_done": len(paths) - len(todo)}
    if isinstance(annotator, str):
        if annotator != PROGRAMMATIC:
            raise ValueError(f"annotator must be {PROGRAMMATIC!r} or an engine, not {annotator!r}")
        bar = tqdm(total=len(todo), desc="annotating", unit="path", file=sys.stderr, dynamic_ncols=True)
        for chunk in chunks(todo, chunk_size):
            out.append([programmatic_record(p) for p in chunk])
            bar.update(len(chunk))
        bar.close()
    else:
        engine = annotator
        p = params or SamplingParams(n=1, temperature=0.0, max_tokens=1024)
        if p.n != 1:
            p = SamplingParams(n=1, temperature=p.temperature, top_p=p.top_p, max_tokens=p.max_tokens, seed=p.seed)

        def make(path: dict, comps: list[Completion]) -> list[dict]:
            text = comps[0].text
            return [
                _record(
                    path,
                    engine.name,
                    text,
                    "ok" if text.strip() else "empty",
                    predicted_first_error(text, path["response"]),
                )
            ]

        counts.update(
            generate_into(
                out,
                todo,
                engine,
                p,
                build_prompt=hint_prompt,
                make_records=make,
                expected_ids=lambda path: [annotation_id(path["id"])],
                chunk_size=chunk_size,
                desc="annotating",
            )
        )
    recs = out.records
    status = Counter(r["status"] for r in recs)
    counts.update(
        annotations=len(recs),
        with_critique=sum(r["critique"] is not None for r in recs),
        unlocalised=status.get("unlocalised", 0),
        empty=status.get("empty", 0),
        format_violations=sum(r["critique"] is not None and not r["follows_format"] for r in recs),
        verdict_right=sum(r["verdict_right"] for r in recs),
    )
    return recs, counts
