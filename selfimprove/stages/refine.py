"""Stage: the actor refines its solutions guided by the critiques; keep the refinements that work.

For every critique the actor writes ``--n`` new solutions. A refinement is *kept* (becomes SFT
data) when it is graded correct, passes the shortcut barrier, and its question has fewer than
``--reserved-new-data`` kept refinements so far (in id order, so the choice does not depend on
how a run was interrupted). Output: ``{"id": "<critique id>/r<k>", "critique_id", "sample_id",
"qid", "response", "pred", "correct", "shortcut", "kept"}``.
"""

from __future__ import annotations

from selfimprove.core.cli import add_generation_args, add_run_args, parser, positive, run, sampling_from_args
from selfimprove.core.io import read_jsonl
from selfimprove.core.manifest import Step
from selfimprove.generation.engines import add_engine_args, engine_kwargs, make_engine
from selfimprove.generation.tasks import CRITIQUE_FIELDS, refine_critiques


def main(argv=None) -> int:
    ap = parser("refine", __doc__)
    ap.add_argument("--samples", required=True, help="graded samples (JSONL)")
    ap.add_argument("--critiques", required=True, help="critiques of (some of) the samples (JSONL)")
    ap.add_argument(
        "--questions", default=None, help="question records, for the reference solutions the shortcut barrier uses"
    )
    ap.add_argument("--out", required=True, help="output refinements (JSONL)")
    ap.add_argument(
        "--reserved-new-data", type=int, default=1, help="keep at most this many correct refinements per question"
    )
    add_engine_args(ap, "actor")
    add_generation_args(ap, temperature=0.7, max_tokens=1024, n=1)
    add_run_args(ap)
    args = ap.parse_args(argv)
    positive(ap, args, "n", "max_tokens", "chunk_size", "reserved_new_data")
    samples = {
        s["id"]: s
        for s in read_jsonl(args.samples, required=("id", "qid", "question", "response", "gold", "dataset_type"))
    }
    critiques = read_jsonl(args.critiques, required=CRITIQUE_FIELDS)
    references = (
        {q["id"]: q.get("reference") or q["gold"] for q in read_jsonl(args.questions, ("id",))}
        if args.questions
        else None
    )
    params = sampling_from_args(args)
    step = Step(
        args.run_dir,
        args.step or "refine",
        {
            "critiques": args.critiques,
            "model": args.actor_model,
            "grader": args.grader,
            "reserved_new_data": args.reserved_new_data,
            **params.as_dict(),
        },
    )
    if step.skip():
        return 0
    with step:
        engine = make_engine(**engine_kwargs(args, "actor")) if critiques else None
        _, counts = refine_critiques(
            engine,
            critiques,
            samples,
            args.out,
            params,
            args.reserved_new_data,
            args.grader,
            args.chunk_size,
            args.grade_workers,
            references,
        )
        step.count(**counts)
        if engine:
            engine.close()
    return 0


if __name__ == "__main__":
    run(main)
