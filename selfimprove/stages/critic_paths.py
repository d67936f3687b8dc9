"""Flawed reasoning paths for critique data (AutoMathCritique stage 1).

Strategies (``--strategies``, comma-separated, mixable): ``rg1`` the actor's own samples (wrong
ones, and up to ``--keep-correct`` correct ones per question); ``rg2`` a prefix of t steps of
each sample, continued at ``--rg2-temperature``; ``rg3`` one step of the reference solution
rewritten with a mistake of a named type (``--inserter programmatic``: exact, no model;
``--inserter model``: the ``--inserter-model``, default the actor), then continued by the actor
(``--rg3-continue actor``) or carried forward through the reference (``reference``: no model);
``reference`` the reference solution as a correct path. Output: one graded record per path,
tagged ``strategy``, ``step`` (0-based) and ``mistake_type``, with ``selected`` marking those
handed to annotation (see :mod:`selfimprove.critic.paths`).
"""

from __future__ import annotations

from selfimprove.core.cli import add_generation_args, add_run_args, parser
from selfimprove.core.errors import UsageError
from selfimprove.core.io import read_jsonl
from selfimprove.core.knob import CRITIC
from selfimprove.core.layout import RunLayout
from selfimprove.core.manifest import Step
from selfimprove.critic.paths import INSERTERS, RG3_CONTINUATIONS, STRATEGIES, PathSettings, build_paths
from selfimprove.critic.prompts import MISTAKE_TYPES
from selfimprove.generation.engines import add_engine_args, engine_kwargs, make_engine
from selfimprove.generation.shard import add_shard_args, for_shard, merge_shards

QUESTION_FIELDS = ("id", "dataset_type", "question", "gold")


def _list(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.split(",") if x.strip())


def add_path_args(ap) -> None:
    """The flawed-path options (shared with ``critic_eval``, which builds its held-out responses)."""
    g = ap.add_argument_group("flawed paths")
    ap.add_knob(g, "--strategies", "strategies", help=f"comma-separated: {', '.join(STRATEGIES)}")
    ap.add_knob(g, "--samples", "path_samples")
    ap.add_knob(g, "--rg2-temperature", "rg2_temperature")
    ap.add_knob(g, "--rg3-per-question", "rg3_per_question")
    ap.add_knob(g, "--rg3-continue", "rg3_continue", choices=RG3_CONTINUATIONS)
    ap.add_knob(g, "--inserter", "inserter", choices=INSERTERS)
    ap.add_knob(g, "--mistake-types", "mistake_types", help=f"comma-separated, or all: {', '.join(MISTAKE_TYPES)}")
    ap.add_knob(g, "--keep-correct", "keep_correct")
    ap.add_knob(g, "--max-steps", "max_steps", help="paths with more lines are not selected")


def path_settings(args) -> PathSettings:
    """:class:`PathSettings` from the options of :func:`add_path_args` and the generation options."""
    for name in ("samples", "rg3_per_question", "max_steps"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be at least 1")
    if args.keep_correct < 0 or args.rg2_temperature < 0:
        raise UsageError("--keep-correct and --rg2-temperature must not be negative")
    try:
        return PathSettings(
            strategies=_list(args.strategies),
            samples=args.samples,
            temperature=args.temperature,
            rg2_temperature=args.rg2_temperature,
            rg3_per_question=args.rg3_per_question,
            rg3_continue=args.rg3_continue,
            inserter=args.inserter,
            mistake_types=tuple(MISTAKE_TYPES) if args.mistake_types.strip() == "all" else _list(args.mistake_types),
            keep_correct=args.keep_correct,
            max_steps=args.max_steps,
            max_tokens=args.max_tokens,
            seed=args.seed,
            grader=args.grader,
        )
    except ValueError as e:
        raise UsageError(str(e)) from None


def make_paths(args, questions: list[dict], out, settings: PathSettings, actor=None) -> dict:
    """Build the paths with the actor (given, or made and closed here) and the inserter model."""
    own = actor is None and settings.needs_actor
    if own:
        actor = make_engine(**engine_kwargs(args, "actor"))
    inserter = None
    inserter_model = args.inserter_model or args.actor_model
    try:
        if "rg3" in settings.strategies and settings.inserter == "model" and inserter_model != args.actor_model:
            args.inserter_model = inserter_model
            inserter = make_engine(**engine_kwargs(args, "inserter"))
        _, counts = build_paths(
            actor,
            questions,
            out,
            settings,
            inserter=inserter,
            chunk_size=args.chunk_size,
            grade_workers=args.grade_workers,
        )
    finally:
        if inserter is not None:
            inserter.close()
        if own and actor is not None:
            actor.close()
    return counts


def main(argv: list[str] | None = None) -> int:
    ap = parser("critic_paths", __doc__, scope=CRITIC)
    ap.add_argument("--questions", required=True, help="question records (JSONL)")
    ap.add_argument("--out", required=True, help="flawed paths (JSONL, resumed, rewritten with the selection)")
    add_path_args(ap)
    add_engine_args(ap, "actor")
    add_engine_args(ap, "inserter", required=False)
    add_generation_args(ap, n=1)
    add_run_args(ap)
    add_shard_args(ap)
    args = ap.parse_args(argv)
    settings = path_settings(args)
    questions = read_jsonl(args.questions, required=QUESTION_FIELDS)
    step = Step(
        args.run_dir,
        args.step or RunLayout.pipeline_step("critic", "paths"),
        {"questions": args.questions, **path_step_settings(args, settings)},
        inputs=[args.questions],
        outputs=[args.out],
    )
    if args.merge_shards:
        return merge_shards(step, args.merge_shards, [args.out])
    step, questions = for_shard(args, step, questions)
    if step.skip():
        return 0
    with step:
        step.count(**make_paths(args, questions, args.out, settings))
    return 0


def path_step_settings(args, settings: PathSettings) -> dict:
    inserter_model = args.inserter_model or args.actor_model
    return {
        "actor": args.actor_model,
        "inserter_model": inserter_model if settings.inserter == "model" else None,
        **settings.as_dict(),
        "top_p": args.top_p,
    }
