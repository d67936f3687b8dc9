"""Evaluate one row of the one-player comparison (self-talk, self-correction, SFT + critic).

``--method selftalk``: the model's own final answers. ``--method selfcorrect``: the model checks
its own answers and corrects those it judges wrong (no separate critic). ``--method sft_critic``:
a separate critic (``--critic-model``, or ``--critic-model programmatic`` for the programmatic
critic) critiques each answer and the actor refines those judged wrong.

Writes into ``--out-dir``: ``greedy.jsonl``, ``pool.jsonl`` (N samples per question), the row's
checks/critiques and corrections, and ``row.json`` (greedy accuracy, Pass@K and MV@K of the final
answers, and of the first answers for the two revising rows).

A model folder holding ``not_trained.json`` (``train --if-empty skip``: its data file had no
example) gives a row that says so, with the reason, and no numbers.
"""

from __future__ import annotations

import sys
from pathlib import Path

from selfimprove.core import config as C
from selfimprove.core.cli import add_run_args, parser, positive
from selfimprove.core.io import atomic_write_json, read_json, read_jsonl
from selfimprove.core.knob import SELFTALK
from selfimprove.core.layout import NOT_TRAINED, RunLayout
from selfimprove.core.manifest import Step
from selfimprove.critic.programmatic import NAME as PROGRAMMATIC
from selfimprove.critic.programmatic import critique
from selfimprove.generation.engines import SamplingParams, add_engine_args, engine_kwargs, shared_engine
from selfimprove.generation.tasks import QUESTION_FIELDS
from selfimprove.selftalk.rows import CritiqueFn, sample_row, selfcorrect_row, sft_critic_row
from selfimprove.selftalk.table import METHODS, not_trained_row, row_results


def programmatic_critique(grader: str) -> CritiqueFn:
    """The programmatic critic (reference-guided: an upper bound) as a critique function."""
    return lambda q, response: critique(q, response, grader)


def main(argv=None) -> int:
    ap = parser("selftalk_eval", __doc__.split("\n\n")[0], scope=SELFTALK)
    ap.add_argument("--method", required=True, choices=METHODS)
    ap.add_argument("--questions", required=True, help="test question records (JSONL)")
    ap.add_argument("--out-dir", required=True, help="folder of this row")
    ap.add_argument("--label", default=None, help="name of the model in the report")
    ap.add_knob(None, "--pool-size", "eval_sample_num", help="N samples per question (Pass@K, MV@K)")
    ap.add_knob(None, "--temperature", "temperature", help="temperature of the pool (greedy uses 0)")
    ap.add_knob(None, "--max-tokens", "max_tokens", help="new tokens per answer or correction")
    ap.add_knob(None, "--critic-max-tokens", "critic_max_tokens", help="new tokens per critique or self-check")
    ap.add_knob(None, "--max-model-len", "max_model_len")
    ap.add_knob(None, "--gpu-memory-utilization", "gpu_memory_utilization")
    ap.add_knob(None, "--grader", "grader")
    ap.add_knob(None, "--voting", "voting", choices=C.VOTINGS)
    ap.add_knob(None, "--chunk-size", "chunk_size")
    add_engine_args(ap, "actor")
    add_engine_args(ap, "critic", required=False)
    add_run_args(ap)
    args = ap.parse_args(argv)
    positive(ap, args, "pool_size", "max_tokens", "critic_max_tokens", "chunk_size")
    if args.method == "sft_critic" and not args.critic_model:
        ap.error("--method sft_critic needs --critic-model (a model, or 'programmatic')")
    out_dir = Path(args.out_dir)
    row_file = RunLayout.onep_file(out_dir, "row")
    questions = read_jsonl(args.questions, required=QUESTION_FIELDS)
    config = {
        "actor": args.label or args.actor_model,
        "actor_model": args.actor_model,
        "critic": args.critic_model if args.method == "sft_critic" else None,
        "questions": args.questions,
        "n_questions": len(questions),
        "pool_size": args.pool_size,
        "temperature": args.temperature,
        "max_tokens": args.max_tokens,
        "critic_max_tokens": args.critic_max_tokens,
        "grader": args.grader,
        "voting": args.voting,
        "seed": args.seed,
    }
    # the vote only counts answers: another VOTING recomputes the row from the same generations
    step = Step(
        args.run_dir,
        args.step or f"{RunLayout.pipeline_step('selftalk', 'eval')}/{args.method}",
        {"method": args.method, **{k: v for k, v in config.items() if k != "voting"}},
    )
    if step.done and row_file.is_file() and _voting(row_file) == args.voting:
        print(f"[{step.name}] already done, skipping; row: {row_file}", file=sys.stderr)
        return 0
    greedy_p = SamplingParams(n=1, temperature=0.0, max_tokens=args.max_tokens, seed=args.seed)
    pool_p = SamplingParams(n=args.pool_size, temperature=args.temperature, max_tokens=args.max_tokens, seed=args.seed)
    refine_p = SamplingParams(n=1, temperature=0.0, max_tokens=args.max_tokens, seed=args.seed)
    critic_p = SamplingParams(n=1, temperature=0.0, max_tokens=args.critic_max_tokens, seed=args.seed)
    marker = Path(args.actor_model) / NOT_TRAINED
    with step:
        out_dir.mkdir(parents=True, exist_ok=True)
        if marker.is_file():
            reason = str(read_json(marker).get("reason", "no training example"))
            atomic_write_json(row_file, not_trained_row(args.method, config, reason))
            step.count(not_trained=1)
            print(f"row: {row_file} (model not trained: {reason})", file=sys.stderr)
            return 0
        actor = shared_engine(**engine_kwargs(args, "actor"))
        greedy, pool = sample_row(
            actor, questions, out_dir, args.pool_size, greedy_p, pool_p, args.grader, args.chunk_size
        )
        counts: dict = {"greedy_correct": sum(g["correct"] for g in greedy), "pool_samples": len(pool)}
        if args.method == "selftalk":
            row = row_results("selftalk", questions, greedy, pool, config)
        elif args.method == "selfcorrect":
            row, c = selfcorrect_row(
                actor, questions, greedy, pool, out_dir, config, critic_p, refine_p, args.grader, args.chunk_size
            )
            counts.update(c)
        else:
            critic = (
                programmatic_critique(args.grader)
                if args.critic_model == PROGRAMMATIC
                else shared_engine(**engine_kwargs(args, "critic"))
            )
            row, c = sft_critic_row(
                actor,
                critic,
                questions,
                greedy,
                pool,
                out_dir,
                config,
                critic_p,
                refine_p,
                args.grader,
                args.chunk_size,
            )
            counts.update(c)
        atomic_write_json(row_file, row)
        step.count(**counts)
    print(f"row: {row_file}", file=sys.stderr)
    return 0


def _voting(row_path: Path) -> str:
    """The vote a written row counted with (a row that names none: equivalence)."""
    return str((read_json(row_path).get("config") or {}).get("voting") or "equivalence")
