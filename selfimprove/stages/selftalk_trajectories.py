"""Stage: trajectory-level self-correction data from a run's samples, critiques and refinements.

A wrong answer whose critique says wrong and whose refinement became correct gives question ->
answer -> self-critique -> corrected answer; a right answer whose critique says correct gives
question -> answer -> self-critique. Each trajectory is cut into one example per target turn
(the critique, the correction, and the first answer only when it is right). Inputs are the
``01_samples`` / ``02_critiques`` (``--which all``) / ``03_refinements`` files of an iteration.

When no sample gives a trajectory (a small run where no answer was right and confirmed, and no
refinement fixed a wrong one), the file is an empty list and a warning says why; ``train
--if-empty skip`` then records the model as not trained, and its row of the table says so.
"""

from __future__ import annotations

import logging
from pathlib import Path

from selfimprove.core.cli import parser, run
from selfimprove.core.io import read_jsonl
from selfimprove.core.layout import RunLayout
from selfimprove.core.manifest import Step
from selfimprove.selftalk.selfcorrect import trajectory_examples, turn_examples
from selfimprove.selftalk.sft import add_sft_args, sft_eos, write_sft

log = logging.getLogger(__name__)


def main(argv=None) -> int:
    ap = parser("selftalk_trajectories", __doc__.split("\n\n")[0])
    ap.add_argument("--questions", required=True, help="question records (JSONL)")
    ap.add_argument("--samples", required=True, help="graded samples (JSONL)")
    ap.add_argument("--critiques", required=True, help="critiques of the samples, right and wrong (JSONL)")
    ap.add_argument("--refinements", default=None, help="graded refinements of the critiqued samples (JSONL)")
    ap.add_argument("--out", required=True, help="fine-tuning file (JSON)")
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
    }
    step = Step(args.run_dir, args.step or RunLayout.pipeline_step("selftalk", "selfcorrect_sft"), settings)
    if step.done and Path(args.out).is_file():
        print(f"[{step.name}] already done, skipping")
        return 0
    with step:
        questions = {q["id"]: q for q in read_jsonl(args.questions, required=("id", "question", "dataset_type"))}
        samples = read_jsonl(args.samples, required=("id", "qid", "response", "correct"))
        critiques = read_jsonl(args.critiques, required=("id", "sample_id", "critique"))
        refinements = (
            read_jsonl(args.refinements, required=("id", "critique_id", "response")) if args.refinements else []
        )
        trajectories, counts = trajectory_examples(questions, samples, critiques, refinements)
        examples = [e for t in trajectories for e in turn_examples(t)]
        if not examples:
            log.warning("%s: no usable self-correction trajectory (%s); the file is empty", args.out, counts)
        write_sft(args.out, examples, args.format, eos)
        step.count(**counts, examples=len(examples))
    print(f"{len(examples)} self-correction examples -> {args.out}")
    return 0


if __name__ == "__main__":
    run(main)
