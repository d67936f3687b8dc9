"""Trajectory-level self-correction data from a run's samples, critiques and refinements.

A wrong answer whose critique says wrong and whose refinement became correct gives question ->
answer -> self-critique -> corrected answer; a right answer whose critique says correct gives
question -> answer -> self-critique. Each trajectory is cut into one example per target turn
(the critique, the correction, and the first answer only when it is right). Inputs are the
``01_samples`` / ``02_critiques`` (``--which all``) / ``03_refinements`` files of an iteration.
With ``--sft-data 1`` (knob ``SELFCORRECT_SFT_DATA``, the default) the file also holds the SFT
model's data, question -> reference solution for every question with a reference, first: the
paper's self-correction model learns to reason as well as to correct itself, which is why its
response-only accuracy sits at the SFT model's.

When no sample gives a trajectory (a small run where no answer was right and confirmed, and no
refinement fixed a wrong one), the file holds the reference solutions only, or, with
``--sft-data 0``, is an empty list; a warning says why. An empty file makes ``train --if-empty
skip`` record the model as not trained, and its row of the table says so.
"""

from __future__ import annotations

import logging
from pathlib import Path

from selfimprove.core.cli import parser
from selfimprove.core.layout import RunLayout
from selfimprove.core.manifest import Step
from selfimprove.core.record_io import read_critiques, read_questions, read_refinements, read_samples
from selfimprove.selftalk.selfcorrect import trajectory_examples, turn_examples
from selfimprove.selftalk.sft import add_sft_args, sft_eos, write_sft
from selfimprove.training.export import reference_examples

log = logging.getLogger(__name__)


def main(argv=None) -> int:
    ap = parser("selftalk_trajectories", __doc__.split("\n\n")[0])
    ap.add_argument("--questions", required=True, help="question records (JSONL)")
    ap.add_argument("--samples", required=True, help="graded samples (JSONL)")
    ap.add_argument("--critiques", required=True, help="critiques of the samples, right and wrong (JSONL)")
    ap.add_argument("--refinements", default=None, help="graded refinements of the critiqued samples (JSONL)")
    ap.add_argument("--out", required=True, help="fine-tuning file (JSON)")
    ap.add_knob(None, "--sft-data", "selfcorrect_sft_data", metavar="0|1")
    add_sft_args(ap)
    ap.add_argument("--run-dir", default=None)
    ap.add_argument("--step", default=None)
    args = ap.parse_args(argv)
    eos = sft_eos(args)
    settings = {
        "samples": args.samples,
        "critiques": args.critiques,
        "refinements": args.refinements,
        "format": args.format,
        **({"eos_token": eos} if args.format == "alpaca" else {}),
        **({"sft_data": True} if args.sft_data else {}),  # absent when off: earlier runs stay done
    }
    step = Step(args.run_dir, args.step or RunLayout.pipeline_step("selftalk", "selfcorrect_sft"), settings)
    if step.done and Path(args.out).is_file():
        print(f"[{step.name}] already done, skipping")
        return 0
    with step:
        questions = {q["id"]: q for q in read_questions(args.questions, ("id", "question", "dataset_type"))}
        samples = read_samples(args.samples, ("id", "qid", "response", "correct"))
        critiques = read_critiques(args.critiques)
        refinements = read_refinements(args.refinements, ("id", "critique_id", "response")) if args.refinements else []
        trajectories, counts = trajectory_examples(questions, samples, critiques, refinements)
        examples = [e for t in trajectories for e in turn_examples(t)]
        reasoning = reference_examples(list(questions.values())) if args.sft_data else []
        if not examples:
            log.warning(
                "%s: no usable self-correction trajectory (%s); the file holds %s",
                args.out,
                counts,
                f"the {len(reasoning)} reference solutions only" if reasoning else "no example",
            )
        write_sft(args.out, reasoning + examples, args.format, eos)
        step.count(**counts, sft_examples=len(reasoning), examples=len(reasoning) + len(examples))
    print(f"{len(examples)} self-correction examples + {len(reasoning)} SFT examples -> {args.out}")
    return 0
