"""Stage: sample N solutions per question from the actor and grade them.

Input: question records (``prepare`` writes them). Output: one record per sample,
``{"id": "<qid>/s<j>", "qid", "index": j, ..., "response", "pred", "correct", "grader"}``.
"""

from __future__ import annotations

from selfimprove.core.cli import add_generation_args, add_run_args, parser, positive, run, sampling_from_args
from selfimprove.core.io import read_jsonl
from selfimprove.core.manifest import Step
from selfimprove.generation.engines import add_engine_args, engine_kwargs, make_engine
from selfimprove.generation.tasks import QUESTION_FIELDS, sample_questions


def main(argv=None) -> int:
    ap = parser("sample", __doc__)
    ap.add_argument("--questions", required=True, help="question records (JSONL)")
    ap.add_argument("--out", required=True, help="output samples (JSONL, appended/resumed)")
    add_engine_args(ap, "actor")
    add_generation_args(ap, temperature=0.7, max_tokens=1024, n=1)
    add_run_args(ap)
    args = ap.parse_args(argv)
    positive(ap, args, "n", "max_tokens", "chunk_size")
    questions = read_jsonl(args.questions, required=QUESTION_FIELDS)
    params = sampling_from_args(args)
    step = Step(
        args.run_dir,
        args.step or "sample",
        {"questions": args.questions, "model": args.actor_model, "grader": args.grader, **params.as_dict()},
    )
    if step.skip():
        return 0
    with step:
        engine = make_engine(**engine_kwargs(args, "actor"))
        _, counts = sample_questions(
            engine, questions, args.out, params, args.grader, args.chunk_size, args.grade_workers
        )
        step.count(**counts, accuracy=round(counts["correct"] / max(1, counts["samples"]), 4))
        engine.close()
    return 0


if __name__ == "__main__":
    run(main)
