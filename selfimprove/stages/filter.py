"""Assemble an iteration's SFT set (and the critic data) from what the iteration produced.

What goes into the SFT set of iteration k (the released code's flags):

==========================  ==============================================================
USE_ORIGINAL=1              the iteration-0 set: training questions -> reference solutions,
                            rewritten in the actor's answer format (always used at k = 0)
USE_GPT4_FEEDBACK=1         with the iteration-0 set: external critique->refinement examples
                            (LLaMA-Factory alpaca format, e.g. the paper's GPT-4 feedback files:
                            one ``--feedback-file`` per training dataset type; none given is
                            an error, not a silent no-op)
(always, k >= 1)            correct samples of iteration k: question -> sampled solution
USE_CRITIC=1                kept refinements: question -> refined (now correct) solution
USE_SELFIMPROVE_FEEDBACK=1  with USE_CRITIC: (question, wrong solution, critique) -> refinement,
                            teaching the actor to use feedback
USE_PREVIOUS=1              the sampled data of every iteration 1..k instead of k alone
==========================  ==============================================================

The critic data are the (question, wrong solution) -> critique pairs whose critique led to a
kept refinement, in the critic's chat format: training data for a critique model.

Iteration-0 references keep GSM8K's calculator annotations ``<<48/2=24>>`` as the released data
does (``--strip-calculator 1`` removes them).

Examples are conversations (the last assistant turn is the target) written for LLaMA-Factory:
``sharegpt`` conversations for chat models, ``alpaca`` instruction/output for base models, rendered
in the sampler's own ``Human:``/``Assistant:`` layout with the model's EOS (``--eos-token``, or read
from ``--base-model``'s tokenizer), to be trained with LLaMA-Factory's ``empty`` template.
"""

from __future__ import annotations

import logging

from selfimprove.core.cli import parser
from selfimprove.core.errors import DataError, UsageError
from selfimprove.core.io import atomic_write_json
from selfimprove.core.layout import RunLayout
from selfimprove.core.manifest import Step
from selfimprove.core.record_io import read_questions
from selfimprove.training.export import (
    FLAGS,
    _flag,
    assemble,
    export,
    input_files,
    load_feedback_files,
    model_eos_token,
    uses_feedback,
)

DEFAULT_EOS = "<|end_of_text|>"
log = logging.getLogger(__name__)


def main(argv=None) -> int:
    ap = parser("filter", __doc__)
    ap.add_argument("--run-dir", required=True, help="experiment folder (runs/<EXP>)")
    ap.add_argument("--iter", type=int, required=True, help="iteration k (0 = reference solutions)")
    ap.add_argument("--questions", default=None, help="training question records (default: the run's data/train.jsonl)")
    ap.add_argument(
        "--format",
        choices=("sharegpt", "alpaca"),
        default="sharegpt",
        help="sharegpt for chat models, alpaca for base models",
    )
    ap.add_argument(
        "--eos-token",
        default=None,
        help=f"EOS of the alpaca/base layout (default: --base-model's, else {DEFAULT_EOS})",
    )
    ap.add_argument("--base-model", default=None, help="model that will be trained (its tokenizer gives the EOS)")
    ap.add_argument(
        "--feedback-file",
        action="append",
        default=[],
        help="critique->refinement examples in LLaMA-Factory alpaca format (USE_GPT4_FEEDBACK); repeatable, "
        "one per training dataset type (e.g. the GSM8K and the MATH file)",
    )
    ap.add_argument(
        "--strip-calculator",
        type=_flag,
        default="0",
        metavar="0|1",
        help="remove GSM8K calculator annotations <<...>> from the reference solutions",
    )
    for f in FLAGS:
        ap.add_argument(f"--{f.replace('_', '-')}", type=_flag, default=False, metavar="0|1")
    ap.add_argument("--step", default=None)
    args = ap.parse_args(argv)
    lay = RunLayout(args.run_dir)
    out, critic_out = lay.sft(args.iter), lay.critic_data(args.iter)  # checks iter >= 0
    questions_file = args.questions or str(lay.questions("train"))
    flags = {f: getattr(args, f) for f in FLAGS}
    feedback_files = args.feedback_file if uses_feedback(args.iter, flags) else []
    if uses_feedback(args.iter, flags) and not feedback_files:
        raise UsageError(
            "USE_GPT4_FEEDBACK=1 but no --feedback-file was given: pass the critique->refinement files of the "
            "training datasets (e.g. gsm8k-critique-refine-100.json, math-critique-refine-100.json) or set "
            "USE_GPT4_FEEDBACK=0"
        )
    eos = args.eos_token or (args.base_model and model_eos_token(args.base_model)) or DEFAULT_EOS
    settings = {"format": args.format, "feedback_file": feedback_files, **flags}
    if args.strip_calculator:
        settings["strip_calculator"] = True
    if args.format == "alpaca":
        settings["eos_token"] = eos
    step = Step(
        args.run_dir,
        args.step or lay.step("sft", args.iter),
        settings,
        inputs=[questions_file, *feedback_files, *input_files(lay.root, args.iter, flags)],
        outputs=[out, critic_out] if args.iter > 0 else [out],
    )
    if step.skip():
        return 0
    feedback, problems, per_file = load_feedback_files(feedback_files) if feedback_files else (None, [], {})
    for p in problems:
        log.warning("skipped: %s", p)
    with step:
        if feedback_files:
            step.count(feedback_skipped=len(problems), feedback_per_file=per_file)
        questions = read_questions(questions_file)
        sft, critic, counts = assemble(lay.root, args.iter, questions, flags, feedback, args.strip_calculator)
        if not sft:
            raise DataError(f"{out}: the SFT set is empty (no usable example)")
        atomic_write_json(out, export(sft, args.format, eos))
        if args.iter > 0:
            atomic_write_json(critic_out, export(critic, "sharegpt"))
        step.count(**counts)
    return 0
