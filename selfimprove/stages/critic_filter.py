"""Monte-Carlo filtering of the critiques (AutoMathCritique stage 3).

For each annotated wrong path whose critique calls it wrong, the actor refines it ``--n`` times
guided by the critique; the critique is kept when at least ``--k`` refinements are correct.
Critiques of correct paths are kept when they call the path correct; critiques with a wrong
verdict, no verdict, or none at all are dropped. ``--k 0`` keeps every critique with the right
verdict and refines nothing. Output: one decision per annotation (``n_correct``, ``kept``,
``reason``) in ``--out``, the refinements in ``--refinements``.
"""

from __future__ import annotations

from selfimprove.core.cli import add_generation_args, add_run_args, engine_kwargs, parser
from selfimprove.core.errors import UsageError
from selfimprove.core.io import read_jsonl
from selfimprove.core.knob import CRITIC
from selfimprove.core.layout import RunLayout
from selfimprove.core.manifest import Step
from selfimprove.critic.annotate import PATH_FIELDS
from selfimprove.critic.mcfilter import mc_filter, needs_refinement
from selfimprove.generation.engines import add_engine_args, make_engine, sampling_from_args
from selfimprove.generation.shard import add_shard_args, for_shard, merge_shards


def main(argv: list[str] | None = None) -> int:
    ap = parser("critic_filter", __doc__, scope=CRITIC)
    ap.add_argument("--paths", required=True, help="flawed paths (JSONL)")
    ap.add_argument("--annotations", required=True, help="annotations (JSONL)")
    ap.add_argument("--out", required=True, help="decisions, one per annotation (JSONL, written atomically)")
    ap.add_argument("--refinements", required=True, help="the filter's refinements (JSONL, resumed)")
    ap.add_knob(None, "--k", "mc_k", help="keep a critique when at least k of the n refinements are correct")
    add_engine_args(ap, "actor")
    add_generation_args(ap, knobs={"n": "mc_n"})
    add_run_args(ap)
    add_shard_args(ap)
    args = ap.parse_args(argv)
    if args.k < 0 or args.k > args.n:
        raise UsageError(f"--k must be between 0 and --n={args.n} (got {args.k})")
    paths = {p["id"]: p for p in read_jsonl(args.paths, required=PATH_FIELDS + ("dataset_type",))}
    annotations = read_jsonl(args.annotations, required=("id", "path_id", "critique"))
    unknown = [a["id"] for a in annotations if a["path_id"] not in paths]
    if unknown:
        raise UsageError(f"{args.annotations}: {len(unknown)} annotation(s) of paths not in {args.paths}: {unknown[0]}")
    params = sampling_from_args(args)
    step = Step(
        args.run_dir,
        args.step or RunLayout.pipeline_step("critic", "mc_filter"),
        {
            "annotations": args.annotations,
            "actor": args.actor_model,
            "k": args.k,
            "grader": args.grader,
            **params.as_dict(),
        },
        inputs=[args.paths, args.annotations],
        outputs=[args.out, args.refinements],
    )
    if args.merge_shards:
        return merge_shards(step, args.merge_shards, [args.out, args.refinements])
    step, annotations = for_shard(args, step, annotations, outputs=("out", "refinements"))
    if step.skip():
        return 0
    with step:
        actor = (
            make_engine(**engine_kwargs(args, "actor"))
            if any(needs_refinement(a, args.k) for a in annotations)
            else None
        )
        try:
            _, counts = mc_filter(
                actor,
                paths,
                annotations,
                args.out,
                args.refinements,
                args.n,
                args.k,
                params,
                args.grader,
                args.chunk_size,
                args.grade_workers,
            )
        finally:
            if actor is not None:
                actor.close()
        step.count(**counts)
    return 0
