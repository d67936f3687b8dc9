"""Sample N solutions per question from the actor and grade them.

Input: question records (``prepare`` writes them). Output: one record per sample,
``{"id": "<qid>/s<j>", "qid", "index": j, ..., "response", "pred", "correct", "grader"}``.
With ``--run-dir`` and ``--iter k`` the files are the run's ``data/train.jsonl`` and
``iter_k/01_samples.jsonl``, and the step is ``iter_k/01_samples``.
"""

from __future__ import annotations

from selfimprove.core.cli import add_generation_args, add_run_args, engine_kwargs, layout_paths, parser
from selfimprove.core.layout import RunLayout
from selfimprove.core.manifest import Step
from selfimprove.core.record_io import read_questions
from selfimprove.generation.engines import add_engine_args, make_engine, sampling_from_args
from selfimprove.generation.shard import add_shard_args, for_shard, merge_shards
from selfimprove.generation.tasks import sample_questions


def main(argv: list[str] | None = None) -> int:
    ap = parser("sample", __doc__)
    ap.add_argument("--questions", default=None, help="question records (JSONL)")
    ap.add_argument("--out", default=None, help="output samples (JSONL, appended/resumed)")
    add_engine_args(ap, "actor")
    add_generation_args(ap, knobs={"n": "sample_num"})
    add_run_args(ap, iteration=True)
    add_shard_args(ap)
    args = ap.parse_args(argv)
    layout_paths(args, questions=lambda lay, k: lay.questions("train"), out=lambda lay, k: lay.samples(k))
    questions = read_questions(args.questions)
    params = sampling_from_args(args)
    step = Step(
        args.run_dir,
        args.step or (RunLayout.step("samples", args.iter) if args.iter is not None else "sample"),
        {"questions": args.questions, "model": args.actor_model, "grader": args.grader, **params.as_dict()},
        inputs=[args.questions],
        outputs=[args.out],
    )
    if args.merge_shards:
        return merge_shards(step, args.merge_shards, [args.out])
    step, questions = for_shard(args, step, questions)
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
