"""Stage: the actor refines its solutions guided by the critiques; keep the refinements that work.

For every critique the actor writes ``--n`` new solutions. A refinement is *kept* (becomes SFT
data) when it is graded correct, passes the shortcut barrier, and its question has fewer than
``--reserved-new-data`` kept refinements so far (in id order, so the choice does not depend on
how a run was interrupted). Output: ``{"id": "<critique id>/r<k>", "critique_id", "sample_id",
"qid", "response", "pred", "correct", "shortcut", "kept"}``.
"""

from __future__ import annotations

import re
from collections import defaultdict

from .cli import add_generation_args, add_run_args, parser, positive, run, sampling_from_args
from .engines import Engine, SamplingParams, add_engine_args, engine_kwargs, make_engine
from .generation import generate_into, grade_records
from .io import ResumableJsonl, atomic_write_jsonl, read_jsonl
from .manifest import Step
from .prompts import SOLUTION_PREFIX, refine_prompt

CRITIQUE_FIELDS = ("id", "sample_id", "critique")
_NUMBER = re.compile(r"\d+")


def shortcut_barrier(reference: str, original: str, refined: str) -> bool:
    """False for a "shortcut" refinement: one that states far fewer numbers than both the
    reference solution and the original attempt (it jumps to an answer instead of reasoning).
    Same rule as the released code: reject when new < min(reference, original) - 2."""
    n_ref = len(_NUMBER.findall(reference))
    n_orig = len(_NUMBER.findall(original))
    n_new = len(_NUMBER.findall(refined))
    return not n_new < min(n_ref, n_orig) - 2


def refinement_ids(critique_id: str, n: int) -> list[str]:
    return [f"{critique_id}/r{k}" for k in range(n)]


def mark_kept(refinements: list[dict], reserved_new_data: int) -> list[dict]:
    """Set ``kept`` on each refinement: correct, no shortcut, at most ``reserved_new_data`` per
    question, first in id order."""
    per_question: dict[str, int] = defaultdict(int)
    for r in sorted(refinements, key=lambda r: _natural_key(r["id"])):
        ok = r["correct"] and r["shortcut"] and per_question[r["qid"]] < reserved_new_data
        r["kept"] = bool(ok)
        if ok:
            per_question[r["qid"]] += 1
    return refinements


def _natural_key(s: str) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s)]


def refine_critiques(engine: Engine, critiques: list[dict], samples: dict[str, dict], out_path,
                     params: SamplingParams, reserved_new_data: int = 1, grader: str = "default",
                     chunk_size: int = 1024, grade_workers: int | None = None,
                     references: dict[str, str] | None = None, desc: str = "refining") -> tuple[list[dict], dict]:
    """Refine each critiqued sample ``params.n`` times; grade; mark kept ones; rewrite atomically.

    ``references`` maps qid to the reference solution for the shortcut barrier (when absent the
    gold answer stands in, which makes the barrier compare against the original only)."""
    out = ResumableJsonl(out_path)
    settings = params.as_dict()
    references = references or {}
    for c in critiques:
        if c["sample_id"] not in samples:
            raise ValueError(f"critique {c['id']} refers to unknown sample {c['sample_id']}")

    def make_records(c: dict, completions: list[str]) -> list[dict]:
        s = samples[c["sample_id"]]
        recs = []
        for rid, text in zip(refinement_ids(c["id"], params.n), completions):
            response = SOLUTION_PREFIX + text
            recs.append({
                "id": rid, "critique_id": c["id"], "sample_id": s["id"], "qid": s["qid"],
                "dataset": s.get("dataset"), "dataset_type": s["dataset_type"], "level": s.get("level"),
                "gold": s["gold"], "model": engine.name, "sampling": settings, "response": response,
                "empty": not text.strip(),
                "shortcut": shortcut_barrier(references.get(s["qid"], s["gold"]), s["response"], response),
            })
        return recs

    counts = generate_into(
        out, critiques, engine, params,
        build_prompt=lambda c: refine_prompt(samples[c["sample_id"]]["question"],
                                             samples[c["sample_id"]]["response"], c["critique"],
                                             samples[c["sample_id"]]["dataset_type"]),
        make_records=make_records,
        expected_ids=lambda c: refinement_ids(c["id"], params.n),
        postprocess=lambda recs: grade_records(recs, grader, grade_workers),
        chunk_size=chunk_size, desc=desc)
    records = mark_kept(out.records, reserved_new_data)
    atomic_write_jsonl(out_path, records)
    counts.update(refinements=len(records), correct=sum(r["correct"] for r in records),
                  shortcut_rejected=sum(r["correct"] and not r["shortcut"] for r in records),
                  kept=sum(r["kept"] for r in records),
                  questions_fixed=len({r["qid"] for r in records if r["kept"]}))
    return records, counts


def main(argv=None) -> int:
    ap = parser("refine", __doc__)
    ap.add_argument("--samples", required=True, help="graded samples (JSONL)")
    ap.add_argument("--critiques", required=True, help="critiques of (some of) the samples (JSONL)")
    ap.add_argument("--questions", default=None,
                    help="question records, for the reference solutions the shortcut barrier uses")
    ap.add_argument("--out", required=True, help="output refinements (JSONL)")
    ap.add_argument("--reserved-new-data", type=int, default=1,
                    help="keep at most this many correct refinements per question")
    add_engine_args(ap, "actor")
    add_generation_args(ap, temperature=0.7, max_tokens=1024, n=1)
    add_run_args(ap)
    args = ap.parse_args(argv)
    positive(ap, args, "n", "max_tokens", "chunk_size", "reserved_new_data")
    samples = {s["id"]: s for s in read_jsonl(args.samples, required=("id", "qid", "question", "response",
                                                                      "gold", "dataset_type"))}
    critiques = read_jsonl(args.critiques, required=CRITIQUE_FIELDS)
    references = ({q["id"]: q.get("reference") or q["gold"] for q in read_jsonl(args.questions, ("id",))}
                  if args.questions else None)
    params = sampling_from_args(args)
    step = Step(args.run_dir, args.step or "refine",
                {"critiques": args.critiques, "model": args.actor_model, "grader": args.grader,
                 "reserved_new_data": args.reserved_new_data, **params.as_dict()})
    if step.skip():
        return 0
    with step:
        engine = make_engine(**engine_kwargs(args, "actor")) if critiques else None
        _, counts = refine_critiques(engine, critiques, samples, args.out, params, args.reserved_new_data,
                                     args.grader, args.chunk_size, args.grade_workers, references)
        step.count(**counts)
        if engine:
            engine.close()
    return 0


if __name__ == "__main__":
    run(main)
