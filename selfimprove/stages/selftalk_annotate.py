"""Critique samples with the programmatic critic (no model).

Writes one critique per sample in the paper's step-level format, in the critique stage's record
shape (``{"id": "<sample id>/c0", "sample_id", "qid", "critique", "verdict", ...}``), so the
refine stage and the self-correction data read it like a model's critiques. The critic is
reference-guided (gold answer, and true step values for synthetic questions) and reads
GSM8K-style arithmetic; for MATH use a critique model (the critique stage).
"""

from __future__ import annotations

from pathlib import Path

from selfimprove.core.cli import parser
from selfimprove.core.knob import SELFTALK
from selfimprove.core.layout import RunLayout
from selfimprove.core.manifest import Step
from selfimprove.core.record_io import read_questions, read_samples
from selfimprove.critic.programmatic import NAME as PROGRAMMATIC
from selfimprove.critic.programmatic import annotate_samples


def main(argv=None) -> int:
    ap = parser("selftalk_annotate", __doc__.split("\n\n")[0], scope=SELFTALK)
    ap.add_argument("--questions", required=True, help="question records (JSONL)")
    ap.add_argument("--samples", required=True, help="graded samples (JSONL)")
    ap.add_argument("--out", required=True, help="critiques (JSONL, resumed)")
    ap.add_argument("--which", choices=("all", "incorrect"), default="all", help="which samples to critique")
    ap.add_knob(None, "--grader", "grader")
    ap.add_argument("--run-dir", default=None)
    ap.add_argument("--step", default=None)
    args = ap.parse_args(argv)
    step = Step(
        args.run_dir,
        args.step or RunLayout.pipeline_step("selftalk", "critiques"),
        {"samples": args.samples, "which": args.which, "grader": args.grader, "critic": PROGRAMMATIC},
    )
    if step.done and Path(args.out).is_file():
        print(f"[{step.name}] already done, skipping")
        return 0
    with step:
        questions = {q["id"]: q for q in read_questions(args.questions)}
        samples = read_samples(args.samples, ("id", "qid", "response", "correct"))
        if args.which == "incorrect":
            samples = [s for s in samples if not s["correct"]]
        _, counts = annotate_samples(questions, samples, args.out, args.grader)
        step.count(**counts)
    return 0
