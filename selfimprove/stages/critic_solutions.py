"""The likelihood critic's fine-tuning data: right solutions of training questions, in the actor's prompt.

Splits the training questions of the flawed paths (seeded) into ``--solutions`` questions whose
right path (the reference where there is one) the scoring model is fine-tuned on, and, disjoint
from them, ``--calibration`` questions with a right and a wrong path on which ``critic_calibrate``
fits the threshold. Writes ``--out`` (LLaMA-Factory data: sharegpt for chat models, alpaca for base
ones) and, beside it, ``<out stem>.split.json`` (``{"solutions": [qid...], "calibration": [...]}``).
See :mod:`selfimprove.critic.likelihood`.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

from selfimprove.core.cli import add_run_args, parser
from selfimprove.core.errors import UsageError
from selfimprove.core.io import atomic_write_json, read_jsonl
from selfimprove.core.knob import CRITIC
from selfimprove.core.manifest import Step
from selfimprove.core.records import Sample
from selfimprove.critic.likelihood import solution_paths, split_questions
from selfimprove.training.export import export, model_eos_token, solution_example


def split_file(out: str | Path) -> Path:
    out = Path(out)
    return out.with_name(out.stem + ".split.json")


def main(argv: list[str] | None = None) -> int:
    ap = parser("critic_solutions", __doc__, scope=CRITIC)
    ap.add_argument("--paths", required=True, help="flawed paths of the training questions (JSONL)")
    ap.add_argument("--out", required=True, help="LLaMA-Factory data of the right solutions (JSON)")
    ap.add_knob(None, "--solutions", "likelihood_solutions", help="questions whose right solution is trained on")
    ap.add_knob(None, "--calibration", "likelihood_calibration", help="other questions, for the threshold")
    ap.add_argument("--format", default="sharegpt", choices=("sharegpt", "alpaca"), help="sharegpt: chat model")
    ap.add_argument("--base-model", default=None, help="alpaca: the base model, whose EOS ends each output")
    add_run_args(ap)
    args = ap.parse_args(argv)
    if args.solutions < 1 or args.calibration < 1:
        raise UsageError(f"--solutions and --calibration must be at least 1 (got {args.solutions}, {args.calibration})")
    eos = ""
    if args.format == "alpaca":
        eos = (model_eos_token(args.base_model) if args.base_model else None) or ""
        if not eos:
            raise UsageError("--format alpaca needs --base-model (a folder whose tokenizer has an EOS token)")
    paths = read_jsonl(args.paths, required=("id", "qid", "question", "response", "dataset_type", "correct"))
    split = split_file(args.out)
    step = Step(
        args.run_dir,
        args.step or "critic_solutions",
        {"solutions": args.solutions, "calibration": args.calibration, "format": args.format, "seed": args.seed},
        inputs=[args.paths],
        outputs=[args.out, split],
    )
    if step.skip():
        return 0
    with step:
        fine_tune, calibration = split_questions(paths, args.solutions, args.calibration, args.seed)
        if not calibration:
            raise UsageError(f"{args.paths}: no training question has both a right and a wrong path to calibrate on")
        chosen = solution_paths(paths, fine_tune)
        convs = [solution_example(cast("Sample", p), p["question"], p["response"]) for p in chosen]
        rows = export(convs, args.format, eos)
        atomic_write_json(args.out, rows)
        atomic_write_json(split, {"solutions": fine_tune, "calibration": calibration})
        step.count(solutions=len(rows), calibration_questions=len(calibration))
    return 0
