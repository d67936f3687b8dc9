"""The flawed-path options shared by the ``critic_paths`` and ``critic_eval`` commands.

``critic_paths`` builds the critic's training paths with them; ``critic_eval`` builds its held-out
responses the same way. :func:`add_path_args` declares the options (knob-backed),
:func:`path_settings` checks them into a :class:`~selfimprove.critic.paths.PathSettings`,
:func:`make_paths` runs :func:`~selfimprove.critic.paths.build_paths` with the engines they name,
and :func:`path_step_settings` is what the manifest records.
"""

from __future__ import annotations

from selfimprove.core.cli import engine_kwargs
from selfimprove.core.errors import UsageError
from selfimprove.core.records import Question
from selfimprove.critic.paths import INSERTERS, RG3_CONTINUATIONS, STRATEGIES, PathSettings, build_paths
from selfimprove.critic.prompts import MISTAKE_TYPES
from selfimprove.generation.engines import make_engine

QUESTION_FIELDS = ("id", "dataset_type", "question", "gold")


def _list(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.split(",") if x.strip())


def add_path_args(ap) -> None:
    """The flawed-path options (the generation and engine options are added apart)."""
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


def make_paths(args, questions: list[Question], out, settings: PathSettings, actor=None) -> dict:
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


def path_step_settings(args, settings: PathSettings) -> dict:
    """The settings a path-building step records in the manifest."""
    inserter_model = args.inserter_model or args.actor_model
    return {
        "actor": args.actor_model,
        "inserter_model": inserter_model if settings.inserter == "model" else None,
        **settings.as_dict(),
        "top_p": args.top_p,
    }
