"""The actor refines its solutions guided by the critiques; keep the refinements that work.

For every critique the actor writes ``--n`` new solutions. A refinement is *kept* (becomes SFT
data) when it is graded correct, passes the shortcut barrier, and fewer than
``--reserved-new-data`` refinements were kept so far for the same critiqued sample (the released
rule; ``--reserved-scope question`` counts per question instead), in id order, so the choice does
not depend on how a run was interrupted. Output: ``{"id": "<critique id>/r<k>", "critique_id",
"sample_id", "qid", "response", "pred", "correct", "grader", "shortcut", "kept", ...}``. With
``--run-dir`` and ``--iter k`` the files are the run's ``data/train.jsonl`` and
``iter_k/0{1,2,3}_*.jsonl``, and the step is ``iter_k/03_refinements``.
"""

from __future__ import annotations

from typing import cast

from selfimprove.core.cli import add_generation_args, add_run_args, engine_kwargs, layout_paths, parser
from selfimprove.core.layout import RunLayout
from selfimprove.core.manifest import Step
from selfimprove.core.record_io import read_critiques, read_questions, read_samples
from selfimprove.generation.engines import Engine, add_engine_args, make_engine, sampling_from_args
from selfimprove.generation.shard import add_shard_args, for_shard, merge_shards
from selfimprove.generation.tasks import refine_critiques


def main(argv: list[str] | None = None) -> int:
    ap = parser("refine", __doc__)
    ap.add_argument("--samples", default=None, help="graded samples (JSONL)")
    ap.add_argument("--critiques", default=None, help="critiques of (some of) the samples (JSONL)")
    ap.add_argument(
        "--questions", default=None, help="question records, for the reference solutions the shortcut barrier uses"
    )
    ap.add_argument("--out", default=None, help="output refinements (JSONL)")
    ap.add_knob(
        None,
        "--reserved-new-data",
        "reserved_new_data",
        "keep at most this many correct refinements per critiqued sample",
    )
    ap.add_knob(None, "--reserved-scope", "reserved_scope", "what --reserved-new-data counts per: sample or question")
    add_engine_args(ap, "actor")
    add_generation_args(ap, knobs={"n": "refine_num"})
    add_run_args(ap, iteration=True)
    add_shard_args(ap)
    args = ap.parse_args(argv)
    if args.run_dir is not None and args.iter is not None and args.questions is None:
        args.questions = str(RunLayout(args.run_dir).questions("train"))
    layout_paths(
        args,
        samples=lambda lay, k: lay.samples(k),
        critiques=lambda lay, k: lay.critiques(k),
        out=lambda lay, k: lay.refinements(k),
    )
    samples = {
        s["id"]: s for s in read_samples(args.samples, ("id", "qid", "question", "response", "gold", "dataset_type"))
    }
    critiques = read_critiques(args.critiques)
    references = (
        {q["id"]: q.get("reference") or q["gold"] for q in read_questions(args.questions, ("id",))}
        if args.questions
        else None
    )
    params = sampling_from_args(args)
    step = Step(
        args.run_dir,
        args.step or (RunLayout.step("refinements", args.iter) if args.iter is not None else "refine"),
        {
            "critiques": args.critiques,
            "model": args.actor_model,
            "grader": args.grader,
            "reserved_new_data": args.reserved_new_data,
            "reserved_scope": args.reserved_scope,
            **params.as_dict(),
        },
        inputs=[p for p in (args.samples, args.critiques, args.questions) if p],
        outputs=[args.out],
    )
    if args.merge_shards:
        return merge_shards(step, args.merge_shards, [args.out])
    step, critiques = for_shard(args, step, critiques)
    if step.skip():
        return 0
    with step:
        engine = make_engine(**engine_kwargs(args, "actor")) if critiques else None
        _, counts = refine_critiques(
            cast(Engine, engine),  # without critiques nothing is generated: no engine is started
            critiques,
            samples,
            args.out,
            params,
            args.reserved_new_data,
            args.grader,
            args.chunk_size,
            args.grade_workers,
            references,
            reserved_scope=args.reserved_scope,
        )
        step.count(**counts)
        if engine:
            engine.close()
    return 0
