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
from selfimprove.core.knob import CRITIC
from selfimprove.core.layout import RunLayout
from selfimprove.core.manifest import Step
from selfimprove.core.record_io import read_questions
from selfimprove.critic.path_options import (
    add_path_args,
    make_paths,
    path_settings,
    path_step_settings,
)
from selfimprove.generation.engines import add_engine_args
from selfimprove.generation.shard import add_shard_args, for_shard, merge_shards


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
    questions = read_questions(args.questions)
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
