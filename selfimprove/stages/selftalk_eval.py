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

import argparse
import sys
from pathlib import Path

from selfimprove.core import config as C
from selfimprove.core.cli import add_run_args, config_from, engine_kwargs, parser, positive
from selfimprove.core.io import read_json
from selfimprove.core.knob import SELFTALK
from selfimprove.core.layout import NOT_TRAINED, RunLayout
from selfimprove.core.manifest import Step
from selfimprove.core.record_io import read_questions
from selfimprove.critic.programmatic import NAME as PROGRAMMATIC
from selfimprove.generation.engines import add_engine_args, shared_engine
from selfimprove.selftalk.evaluate import RowConfig, evaluate_row, programmatic_critique, write_not_trained_row
from selfimprove.selftalk.table import METHODS


def build_parser() -> argparse.ArgumentParser:
    """The command's options."""
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
    return ap


def main(argv=None) -> int:
    ap = build_parser()
    args = ap.parse_args(argv)
    positive(ap, args, "pool_size", "max_tokens", "critic_max_tokens", "chunk_size")
    if args.method == "sft_critic" and not args.critic_model:
        ap.error("--method sft_critic needs --critic-model (a model, or 'programmatic')")
    cfg = config_from(RowConfig, args, out_dir=Path(args.out_dir))
    return run(cfg, args)


def run(cfg: RowConfig, args: argparse.Namespace) -> int:
    """Skip a finished row, or evaluate it under the run's step with the engines of ``args``."""
    questions = read_questions(cfg.questions)
    config = cfg.record(len(questions))
    # the vote only counts answers: another VOTING recomputes the row from the same generations
    step = Step(
        args.run_dir,
        args.step or f"{RunLayout.pipeline_step('selftalk', 'eval')}/{cfg.method}",
        {"method": cfg.method, **{k: v for k, v in config.items() if k != "voting"}},
    )
    if step.done and cfg.row_file.is_file() and _voting(cfg.row_file) == cfg.voting:
        print(f"[{step.name}] already done, skipping; row: {cfg.row_file}", file=sys.stderr)
        return 0
    marker = Path(cfg.actor_model) / NOT_TRAINED
    with step:
        if marker.is_file():
            reason = str(read_json(marker).get("reason", "no training example"))
            write_not_trained_row(cfg, len(questions), reason)
            step.count(not_trained=1)
            print(f"row: {cfg.row_file} (model not trained: {reason})", file=sys.stderr)
            return 0

        def load_critic():
            if cfg.critic_model == PROGRAMMATIC:
                return programmatic_critique(cfg.grader)
            return shared_engine(**engine_kwargs(args, "critic"))

        _, counts = evaluate_row(cfg, questions, shared_engine(**engine_kwargs(args, "actor")), load_critic)
        step.count(**counts)
    print(f"row: {cfg.row_file}", file=sys.stderr)
    return 0


def _voting(row_path: Path) -> str:
    """The vote a written row counted with (a row that names none: equivalence)."""
    return str((read_json(row_path).get("config") or {}).get("voting") or "equivalence")
