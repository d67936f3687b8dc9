"""Annotate the selected flawed paths with step-level critiques (AutoMathCritique stage 2).

``--annotator programmatic`` (default) re-computes every arithmetic step exactly and, for
synthetic questions, knows every step's true value; it needs no model and abstains where it
cannot locate the error. ``--annotator model`` prompts ``--annotator-model`` (a local folder
through vLLM/transformers, or an API model with ``--annotator-base-url``, key from
``$OPENAI_API_KEY``) with the critic's instruction and the paper's hints (reference answer;
RG2 location; RG3 location and type). Output: one record per path, ``{"id": "<path id>/a",
"path_id", "annotator", "status", "critique", "verdict", "first_error", "verdict_right", ...}``
(see :mod:`selfimprove.critic.annotate`).
"""

from __future__ import annotations

from selfimprove.core.cli import add_generation_args, add_run_args, engine_kwargs, parser
from selfimprove.core.errors import UsageError
from selfimprove.core.io import read_jsonl
from selfimprove.core.layout import RunLayout
from selfimprove.core.manifest import Step
from selfimprove.critic.annotate import PATH_FIELDS, annotate_paths
from selfimprove.critic.programmatic import NAME as PROGRAMMATIC
from selfimprove.generation.engines import add_engine_args, make_engine, sampling_from_args
from selfimprove.generation.shard import add_shard_args, for_shard, merge_shards


def main(argv: list[str] | None = None) -> int:
    ap = parser("critic_annotate", __doc__)
    ap.add_argument("--paths", required=True, help="flawed paths (JSONL, from critic_paths)")
    ap.add_argument("--out", required=True, help="annotations (JSONL, appended/resumed)")
    ap.add_argument("--annotator", default=PROGRAMMATIC, choices=(PROGRAMMATIC, "model"), help="who annotates")
    ap.add_argument("--all-paths", action="store_true", help="annotate every path, not only the selected ones")
    add_engine_args(ap, "annotator", required=False)
    add_generation_args(ap, temperature=0.0, max_tokens=1024, n=1)
    add_run_args(ap)
    add_shard_args(ap)
    args = ap.parse_args(argv)
    if args.annotator == "model" and not args.annotator_model:
        raise UsageError("--annotator model needs --annotator-model (a model folder, hub id or API model name)")
    paths = [p for p in read_jsonl(args.paths, required=PATH_FIELDS) if args.all_paths or p.get("selected", True)]
    params = sampling_from_args(args)
    settings: dict = {"paths": args.paths, "annotator": args.annotator, "all_paths": args.all_paths}
    if args.annotator == "model":
        settings.update(model=args.annotator_model, **params.as_dict())
    step = Step(
        args.run_dir,
        args.step or RunLayout.pipeline_step("critic", "annotations"),
        settings,
        inputs=[args.paths],
        outputs=[args.out],
    )
    if args.merge_shards:
        return merge_shards(step, args.merge_shards, [args.out])
    step, paths = for_shard(args, step, paths)
    if step.skip():
        return 0
    with step:
        if args.annotator == PROGRAMMATIC:
            _, counts = annotate_paths(paths, args.out, PROGRAMMATIC, chunk_size=args.chunk_size)
        else:
            with make_engine(**engine_kwargs(args, "annotator")) as engine:
                _, counts = annotate_paths(paths, args.out, engine, params, chunk_size=args.chunk_size)
        step.count(**counts)
    return 0
