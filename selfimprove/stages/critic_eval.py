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
import time
from dataclasses import replace
from pathlib import Path

from selfimprove.core.cli import add_generation_args, add_run_args, parser
from selfimprove.core.errors import UsageError
from selfimprove.core.io import atomic_write_json, atomic_write_jsonl, read_jsonl
from selfimprove.core.knob import CRITIC
from selfimprove.core.layout import RunLayout
from selfimprove.core.manifest import Step
from selfimprove.critic.annotate import PATH_FIELDS
from selfimprove.critic.evaluate import (
    NONE,
    balanced_responses,
    evaluate_critic,
    processbench_metrics,
    processbench_responses,
    response_summary,
)
from selfimprove.critic.path_options import (
    QUESTION_FIELDS,
    add_path_args,
    make_paths,
    path_settings,
    path_step_settings,
)
from selfimprove.critic.programmatic import NAME as PROGRAMMATIC
from selfimprove.critic.report import write_report
from selfimprove.data.critique_sets import load_processbench
from selfimprove.generation.engines import (
    Engine,
    SamplingParams,
    add_engine_args,
    engine_kwargs,
    make_engine,
    sampling_from_args,
)
from selfimprove.generation.tasks import critique_samples

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


def main(argv: list[str] | None = None) -> int:
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
    args = ap.parse_args(argv)
    critics = parse_critics(args.critic or [f"{NONE}={NONE}", f"{PROGRAMMATIC}={PROGRAMMATIC}"])
    if args.per_class < 1 or args.critic_max_tokens < 1 or args.processbench_limit < 0:
        raise UsageError("--per-class and --critic-max-tokens must be at least 1, --processbench-limit at least 0")
    pb = load_pb(args) if args.processbench else []
    out_dir = Path(args.out_dir)
    settings = path_settings(args) if args.questions else None
    source = args.questions or args.paths
    questions = read_jsonl(args.questions, required=QUESTION_FIELDS) if args.questions else []
    given = read_jsonl(args.paths, required=PATH_FIELDS + ("dataset_type",)) if args.paths else []
    if args.refine_temperature < 0:
        raise UsageError("--refine-temperature must not be negative")
    refine_params = replace(sampling_from_args(args), temperature=args.refine_temperature)
    critic_params = SamplingParams(n=1, temperature=0.0, max_tokens=args.critic_max_tokens, seed=args.seed)
    step = Step(
        args.run_dir,
        args.step or RunLayout.pipeline_step("critic", "eval"),
        {
            "source": source,
            "paths": path_step_settings(args, settings) if settings else None,
            "critics": dict(critics),
            "per_class": args.per_class,
            "actor": args.actor_model,
            "critic_max_tokens": args.critic_max_tokens,
            "grader": args.grader,
            "processbench": [args.processbench, args.processbench_split, args.processbench_limit] if pb else None,
            **refine_params.as_dict(),
        },
        inputs=[source],
        outputs=[RunLayout.critic_eval_file(out_dir, "results")],
    )
    if step.skip():
        return 0
    with step:
        actor = None
        if settings is not None:
            actor = make_engine(**engine_kwargs(args, "actor"))
            step.count(
                **{
                    f"paths_{k}": v
                    for k, v in make_paths(
                        args, questions, RunLayout.critic_eval_file(out_dir, "paths"), settings, actor
                    ).items()
                }
            )
            given = read_jsonl(RunLayout.critic_eval_file(out_dir, "paths"))
        responses = balanced_responses(given, args.per_class, args.seed)
        if not responses:
            raise UsageError(f"{source}: no correct and wrong selected paths to build a balanced set from")
        atomic_write_jsonl(RunLayout.critic_eval_file(out_dir, "responses"), responses)
        results: dict = {"actor": args.actor_model, "responses": response_summary(responses), "critics": {}}
        if pb:
            results["processbench"] = {"split": args.processbench_split, "n": len(pb), "critics": {}}
        try:
            for name, spec in critics:
                t0 = time.time()
                engine = None
                critic: Engine | str
                if spec in (NONE, PROGRAMMATIC):
                    critic = spec
                elif spec == args.actor_model and args.critic_type == args.actor_type and not args.critic_base_url:
                    actor = actor or make_engine(**engine_kwargs(args, "actor"))
                    critic = actor
                else:
                    args.critic_model = spec[4:] if spec.startswith("api:") else spec
                    kw = engine_kwargs(args, "critic")
                    if spec.startswith("api:"):
                        kw["engine"] = "openai"
                    engine = critic = make_engine(**kw)
                if spec != NONE and actor is None:
                    actor = make_engine(**engine_kwargs(args, "actor"))
                try:
                    metrics = evaluate_critic(
                        name,
                        critic,
                        actor,
                        responses,
                        out_dir,
                        critic_params,
                        refine_params,
                        args.grader,
                        args.chunk_size,
                        args.grade_workers,
                    )
                    if pb and isinstance(critic, Engine):
                        pb_crit, _ = critique_samples(
                            critic,
                            pb,
                            RunLayout.critic_eval_file(out_dir, "processbench", critic=name),
                            critic_params,
                            args.chunk_size,
                        )
                        results["processbench"]["critics"][name] = processbench_metrics(pb, pb_crit)
                finally:
                    if engine is not None:
                        engine.close()
                metrics["model"] = spec
                metrics["seconds"] = round(time.time() - t0, 1)
                results["critics"][name] = metrics
        finally:
            if actor is not None:
                actor.close()
        atomic_write_json(RunLayout.critic_eval_file(out_dir, "results"), results)
        report = write_report(results, out_dir)
        for name, m in results["critics"].items():
            step.count(**{f"{name}_{k}": m.get(k) for k in ("format_compliance", "discrimination", "helpfulness")})
        step.count(responses=len(responses), report=str(report))
    return 0


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
