"""Self-talk data: chains from initial solutions, smoothed, verified, exported for fine-tuning.

``build_selftalk`` runs the construction of :mod:`selfimprove.selftalk.chains` over a file of
initial solutions (graded samples of the actor, ``{"id", "qid", "response"}``), chunk by chunk
into a resumable JSONL of chain records (a rerun continues from the first missing chain). Each
record carries its provenance (:func:`~selfimprove.selftalk.chains.chain_record`), its graded
final solution (``pred``, ``correct``), its monologue (``selftalk``, ``smoother``) and the
final verification (``kept``, ``drop_reason``). ``selftalk_examples`` turns the kept chains into
question -> monologue conversations.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

from selfimprove.core.io import ResumableJsonl, chunks
from selfimprove.core.records import Question, Sample
from selfimprove.generation.engines import Engine, SamplingParams
from selfimprove.generation.prompts import question_message
from selfimprove.grading.api import grade_batch
from selfimprove.selftalk.chains import Chain, ChainConfig, build_chains, chain_record, verify
from selfimprove.selftalk.judges import StepJudge
from selfimprove.selftalk.smoothing import smooth_llm, smooth_template
from selfimprove.training.export import conversation


def chain_id(sample_id: str) -> str:
    return f"{sample_id}/talk"


def finish_records(
    chains: Sequence[Chain],
    grader: str = "default",
    smoother: str = "template",
    smoother_engine: Engine | None = None,
    smooth_params: SamplingParams | None = None,
) -> list[dict]:
    """Chain records, graded, smoothed (complete chains) and verified."""
    records = [chain_record(c) for c in chains]
    grades = grade_batch([(r["response"], r["gold"], r["dataset_type"]) for r in records], grader=grader)
    for r, g in zip(records, grades):
        r["pred"], r["correct"] = g.pred, g.correct
    complete = [r for r in records if r["status"] == "complete"]
    if smoother == "llm":
        if smoother_engine is None:
            raise ValueError("the llm smoother needs an engine")
        smoothed = smooth_llm(smoother_engine, complete, smooth_params or SamplingParams(max_tokens=1024), grader)
    elif smoother == "template":
        smoothed = smooth_template(complete)
    else:
        raise ValueError(f"smoother must be template or llm, not {smoother!r}")
    talk_grades = grade_batch(
        [(t, r["gold"], r["dataset_type"]) for r, (t, _) in zip(complete, smoothed)], grader=grader
    )
    for r, (text, how), g in zip(complete, smoothed, talk_grades):
        r["selftalk"], r["smoother"], r["selftalk_correct"] = text, how, g.correct
    for chain, r in zip(chains, records):
        reason = verify(chain, r["correct"])
        if reason is None and not r.get("selftalk_correct"):
            reason = "monologue_answer"
        r["kept"], r["drop_reason"] = reason is None, reason
    return records


def build_selftalk(
    actor: Engine,
    judge: StepJudge,
    questions: Mapping[str, Question],
    samples: Sequence[Sample],
    out_path: str | Path,
    cfg: ChainConfig,
    grader: str = "default",
    chunk_size: int = 64,
    smoother: str = "template",
    smoother_engine: Engine | None = None,
    smooth_params: SamplingParams | None = None,
) -> tuple[list[dict], dict]:
    """One chain per sample into ``out_path`` (resumable); returns all records and counts."""
    out = ResumableJsonl(out_path)
    todo = [s for s in samples if chain_id(s["id"]) not in out.done]
    for s in todo:
        if s["qid"] not in questions:
            raise ValueError(f"sample {s['id']} refers to unknown question {s['qid']}")
    for chunk in chunks(todo, chunk_size):
        starts = [(chain_id(s["id"]), questions[s["qid"]], s["response"], s["id"]) for s in chunk]
        chains = build_chains(actor, judge, starts, cfg)
        out.append(finish_records(chains, grader, smoother, smoother_engine, smooth_params))
    records = [r for r in out.records if r.get("source_id") in {s["id"] for s in samples}]
    return records, chain_counts(records)


def chain_counts(records: Sequence[dict]) -> dict:
    status = Counter(r["status"] for r in records)
    drops = Counter(r["drop_reason"] for r in records if not r["kept"])
    kept = [r for r in records if r["kept"]]
    return {
        "chains": len(records),
        **{f"status_{k}": status[k] for k in sorted(status)},
        "kept": len(kept),
        **{f"dropped_{k}": drops[k] for k in sorted(drops)},
        "kept_questions": len({r["qid"] for r in kept}),
        "chains_with_rewrites": sum(bool(r["rewritten_steps"]) for r in records),
        "kept_with_rewrites": sum(bool(r["rewritten_steps"]) for r in kept),
        "rewrite_rounds": sum(r["rounds"] for r in records),
        "generated_steps": sum(r["generated_steps"] for r in records),
    }


def selftalk_examples(records: Sequence[dict]) -> list[list[dict]]:
    """question -> self-talk monologue, for every kept chain."""
    return [
        conversation(question_message(r["question"], r["dataset_type"]), r["selftalk"]) for r in records if r["kept"]
    ]
