"""Stage: assemble an iteration's SFT set (and the critic data) from what the iteration produced.

What goes into the SFT set of iteration k (the released code's flags):

==========================  ==============================================================
USE_ORIGINAL=1              the iteration-0 set: training questions -> reference solutions,
                            rewritten in the actor's answer format (always used at k = 0)
USE_GPT4_FEEDBACK=1         with the iteration-0 set: external critique->refinement examples
                            (LLaMA-Factory alpaca format, e.g. the paper's GPT-4 feedback file)
(always, k >= 1)            correct samples of iteration k: question -> sampled solution
USE_CRITIC=1                kept refinements: question -> refined (now correct) solution
USE_SELFIMPROVE_FEEDBACK=1  with USE_CRITIC: (question, wrong solution, critique) -> refinement,
                            teaching the actor to use feedback
USE_PREVIOUS=1              the sampled data of every iteration 1..k instead of k alone
==========================  ==============================================================

The critic data are the (question, wrong solution) -> critique pairs whose critique led to a
kept refinement, in the critic's chat format: training data for a critique model.

Examples are conversations (the last assistant turn is the target) written for LLaMA-Factory:
``sharegpt`` conversations for chat models, ``alpaca`` instruction/output for base models
(rendered in the plain ``Human:``/``Assistant:`` layout the base prompts use).
"""

from __future__ import annotations

import sys
from pathlib import Path

from selfimprove.core.cli import parser, run
from selfimprove.core.io import RecordError, atomic_write_json, read_jsonl
from selfimprove.core.manifest import Step
from selfimprove.training.export import FLAGS, _flag, assemble, export, load_feedback_file


def main(argv=None) -> int:
    ap = parser("filter", __doc__.split("\n\n")[0])
    ap.add_argument("--run-dir", required=True, help="experiment folder (runs/<EXP>)")
    ap.add_argument("--iter", type=int, required=True, help="iteration k (0 = reference solutions)")
    ap.add_argument("--questions", required=True, help="training question records (JSONL)")
    ap.add_argument(
        "--format",
        choices=("sharegpt", "alpaca"),
        default="sharegpt",
        help="sharegpt for chat models, alpaca for base models",
    )
    ap.add_argument("--eos-token", default="<|end_of_text|>", help="turn separator of the alpaca/base layout")
    ap.add_argument(
        "--feedback-file",
        default=None,
        help="critique->refinement examples in LLaMA-Factory alpaca format (USE_GPT4_FEEDBACK)",
    )
    for f in FLAGS:
        ap.add_argument(f"--{f.replace('_', '-')}", type=_flag, default=False, metavar="0|1")
    ap.add_argument("--step", default=None)
    args = ap.parse_args(argv)
    if args.iter < 0:
        ap.error("--iter must be >= 0")
    run_dir = Path(args.run_dir)
    iter_dir = run_dir / f"iter_{args.iter}"
    flags = {f: getattr(args, f) for f in FLAGS}
    out_name = "sft.json" if args.iter == 0 else "04_sft.json"
    step = Step(
        run_dir,
        args.step or f"iter_{args.iter}/{out_name.split('.')[0]}",
        {"format": args.format, "feedback_file": args.feedback_file, **flags},
    )
    if step.done and (iter_dir / out_name).exists():
        print(f"[{step.name}] already done, skipping")
        return 0
    with step:
        questions = read_jsonl(args.questions, required=("id", "question", "dataset_type", "gold"))
        feedback = None
        if flags["use_gpt4_feedback"] and args.feedback_file:
            feedback, problems = load_feedback_file(args.feedback_file)
            for p in problems:
                print(f"skipped: {p}", file=sys.stderr)
            step.count(feedback_skipped=len(problems))
        sft, critic, counts = assemble(run_dir, args.iter, questions, flags, feedback)
        if not sft:
            raise RecordError(f"{iter_dir / out_name}: the SFT set is empty (no usable example)")
        atomic_write_json(iter_dir / out_name, export(sft, args.format, args.eos_token))
        if args.iter > 0:
            atomic_write_json(iter_dir / "04_critic_data.json", export(critic, "sharegpt"))
        step.count(**counts)
    return 0


if __name__ == "__main__":
    run(main)
