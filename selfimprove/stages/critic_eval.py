"""Compare critics on the same held-out responses (the paper's Table 2).

The held-out responses are flawed paths of test questions: built here from ``--questions`` with
the actor (the flawed-path options of ``critic_paths``; ``paths.jsonl``), or given as ``--paths``.
A balanced set of ``--per-class`` correct and as many wrong ones is drawn (``responses.jsonl``,
each with its true first wrong step). Every ``--critic NAME=SPEC`` critiques them, and the actor refines every
wrong response and every response the critic does not call correct. SPEC is ``none`` (no
critique), ``programmatic`` (the arithmetic annotator), ``api:MODEL`` (an OpenAI-compatible
endpoint, ``--critic-base-url``, key from ``$OPENAI_API_KEY``) or a model folder / hub id.
Writes ``NAME/critiques.jsonl``, ``NAME/refinements.jsonl``, ``results.json`` (``critics: {NAME:
{discrimination, helpfulness, format_compliance, f1, accuracy_after_refinement, n, intervals, ...}}``:
every metric with its counts and 95 % interval under ``intervals``),
``report.md`` and ``critics.png`` into ``--out-dir``. Metrics: :mod:`selfimprove.critic.evaluate`.
"""

from __future__ import annotations

import logging
import random
import re
from dataclasses import replace
from pathlib import Path

from selfimprove.core.cli import add_generation_args, add_run_args, engine_kwargs, parser
from selfimprove.core.errors import UsageError
from selfimprove.core.io import read_jsonl
from selfimprove.core.knob import CRITIC
from selfimprove.core.layout import RunLayout
from selfimprove.core.manifest import Step
from selfimprove.core.record_io import read_questions
from selfimprove.critic.annotate import PATH_FIELDS
from selfimprove.critic.comparison import CriticComparisonConfig, CriticEngines, compare_critics
from selfimprove.critic.evaluate import NONE, processbench_responses
from selfimprove.critic.path_options import (
    add_path_args,
    make_paths,
    path_settings,
    path_step_settings,
)
from selfimprove.critic.programmatic import NAME as PROGRAMMATIC
from selfimprove.data.critique_sets import load_processbench
from selfimprove.generation.engines import (
    Engine,
    SamplingParams,
    add_engine_args,
    make_engine,
    sampling_from_args,
)

log = logging.getLogger(__name__)
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


def parse_critics(items: list[str]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for item in items:
        name, sep, spec = item.partition("=")
        if not sep or not _NAME.match(name) or not spec.strip():
            raise UsageError(f"--critic expects NAME=SPEC with NAME of letters, digits, '.', '_' or '-', got {item!r}")
        if name in {n for n, _ in out}:
            raise UsageError(f"--critic {name} given twice")
        out.append((name, spec.strip()))
    return out


def build_parser():
    """The command's options."""
    ap = parser("critic_eval", __doc__, scope=CRITIC)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--questions", help="held-out question records (JSONL): build their flawed paths here")
    src.add_argument("--paths", help="flawed paths of held-out questions (JSONL), built already")
    ap.add_argument("--out-dir", required=True, help="folder for the responses, per-critic files and results")
    ap.add_argument("--critic", action="append", default=[], metavar="NAME=SPEC", help="a critic (repeatable)")
    ap.add_knob(None, "--per-class", "eval_per_class", help="correct (and as many wrong) responses")
    ap.add_knob(None, "--critic-max-tokens", "critic_max_tokens")
    ap.add_argument(
        "--processbench", default=None, help="also score the model critics on ProcessBench: a file or folder, or 'hub'"
    )
    ap.add_knob(None, "--processbench-split", "processbench_split")
    ap.add_knob(None, "--processbench-limit", "processbench_limit")
    add_path_args(ap)
    add_engine_args(ap, "actor")
    add_engine_args(ap, "critic", required=False)
    add_engine_args(ap, "inserter", required=False)
    ap.add_argument("--refine-temperature", type=float, default=0.0, help="temperature of the actor's refinements")
    add_generation_args(ap, n=1)
    add_run_args(ap)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    critics = parse_critics(args.critic or [f"{NONE}={NONE}", f"{PROGRAMMATIC}={PROGRAMMATIC}"])
    if args.per_class < 1 or args.critic_max_tokens < 1 or args.processbench_limit < 0:
        raise UsageError("--per-class and --critic-max-tokens must be at least 1, --processbench-limit at least 0")
    pb = load_pb(args) if args.processbench else []
    if args.refine_temperature < 0:
        raise UsageError("--refine-temperature must not be negative")
    cfg = CriticComparisonConfig(
        out_dir=Path(args.out_dir),
        source=args.questions or args.paths,
        actor_model=args.actor_model,
        per_class=args.per_class,
        critic_params=SamplingParams(n=1, temperature=0.0, max_tokens=args.critic_max_tokens, seed=args.seed),
        refine_params=replace(sampling_from_args(args), temperature=args.refine_temperature),
        grader=args.grader,
        seed=args.seed,
        chunk_size=args.chunk_size,
        grade_workers=args.grade_workers,
        processbench_split=args.processbench_split,
    )
    return run(cfg, critics, pb, args)


def run(cfg: CriticComparisonConfig, critics: list[tuple[str, str]], pb: list[dict], args) -> int:
    """Skip a finished comparison, or build the paths (with ``--questions``) and compare the critics
    under the run's step, with the engines of ``args``."""
    settings = path_settings(args) if args.questions else None
    questions = read_questions(args.questions) if args.questions else []
    given = read_jsonl(args.paths, required=PATH_FIELDS + ("dataset_type",)) if args.paths else []
    step = Step(
        args.run_dir,
        args.step or RunLayout.pipeline_step("critic", "eval"),
        {
            "source": cfg.source,
            "paths": path_step_settings(args, settings) if settings else None,
            "critics": dict(critics),
            "per_class": cfg.per_class,
            "actor": cfg.actor_model,
            "critic_max_tokens": cfg.critic_params.max_tokens,
            "grader": cfg.grader,
            "processbench": [args.processbench, args.processbench_split, args.processbench_limit] if pb else None,
            **cfg.refine_params.as_dict(),
        },
        inputs=[cfg.source],
        outputs=[RunLayout.critic_eval_file(cfg.out_dir, "results")],
    )
    if step.skip():
        return 0
    with step:
        engines = engine_source(args)
        if settings is not None:
            paths_file = RunLayout.critic_eval_file(cfg.out_dir, "paths")
            counts = make_paths(args, questions, paths_file, settings, engines.the_actor())
            step.count(**{f"paths_{k}": v for k, v in counts.items()})
            given = read_jsonl(paths_file)
        results, report = compare_critics(cfg, given, critics, engines, pb)
        for name, m in results["critics"].items():
            step.count(**{f"{name}_{k}": m.get(k) for k in ("format_compliance", "discrimination", "helpfulness")})
        step.count(responses=results["responses"]["n"], report=str(report))
    return 0


def engine_source(args) -> CriticEngines:
    """The engines the options name: the actor, and a model critic per spec (``api:MODEL`` through
    the OpenAI-compatible endpoint); a spec equal to the actor's model (same type, no endpoint) is
    the actor itself."""

    def load_critic(spec: str) -> Engine:
        kw = engine_kwargs(args, "critic")
        kw["model"] = spec[4:] if spec.startswith("api:") else spec
        if spec.startswith("api:"):
            kw["engine"] = "openai"
        return make_engine(**kw)

    return CriticEngines(
        load_actor=lambda: make_engine(**engine_kwargs(args, "actor")),
        load_critic=load_critic,
        is_actor=lambda spec: (
            spec == args.actor_model and args.critic_type == args.actor_type and not args.critic_base_url
        ),
    )


def load_pb(args) -> list[dict]:
    """The ProcessBench rows to score (a seeded subset), as responses."""
    source = None if args.processbench == "hub" else args.processbench
    try:
        records, problems = load_processbench(args.processbench_split, source)
    except ValueError as e:
        raise UsageError(f"--processbench: {e}") from None
    if problems:
        log.warning("ProcessBench: %d row(s) skipped, e.g. %s", len(problems), problems[0])
    if args.processbench_limit and len(records) > args.processbench_limit:
        records = random.Random(f"{args.seed}:processbench").sample(records, args.processbench_limit)
    return processbench_responses(sorted(records, key=lambda r: r["id"]))
