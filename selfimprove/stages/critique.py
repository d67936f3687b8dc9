"""The critique model writes step-level feedback on the actor's samples.

By default only the incorrect samples are critiqued (what training-time refinement needs);
``--which all`` critiques every sample (the released code's other mode, and what test-time
evaluation needs). Output: ``{"id": "<sample id>/c<k>", "sample_id", "qid", "critique",
"verdict": "correct"|"wrong"|null, "follows_format", "step_verdicts"}``. Critiques that ignore
the "Correctness of the final answer" format get ``verdict: null`` and are counted. With
``--run-dir`` and ``--iter k`` the files are the run's ``iter_k/01_samples.jsonl`` and
``iter_k/02_critiques.jsonl``, and the step is ``iter_k/02_critiques``.

``--critic-model programmatic`` writes the critiques without a model: the programmatic critic
(:mod:`selfimprove.critic.programmatic`) checks every step against the reference, in the same
format and record shape. It knows the gold answer (a reference-guided, oracle-like critic)
and reads GSM8K-style arithmetic; it needs the question records (``--questions``, with
``--run-dir`` the run's ``data/train.jsonl``).
"""

from __future__ import annotations

from selfimprove.core.cli import add_generation_args, add_run_args, engine_kwargs, layout_paths, parser
from selfimprove.core.errors import UsageError
from selfimprove.core.io import ResumableJsonl
from selfimprove.core.layout import RunLayout
from selfimprove.core.manifest import Step
from selfimprove.core.record_io import read_questions, read_samples
from selfimprove.critic.programmatic import NAME as PROGRAMMATIC
from selfimprove.critic.programmatic import annotate_samples
from selfimprove.generation.engines import add_engine_args, make_engine, sampling_from_args
from selfimprove.generation.shard import add_shard_args, for_shard, merge_shards
from selfimprove.generation.tasks import critique_samples, select_samples


def main(argv: list[str] | None = None) -> int:
    ap = parser("critique", __doc__)
    ap.add_argument("--samples", default=None, help="graded samples (JSONL)")
    ap.add_argument("--out", default=None, help="output critiques (JSONL, appended/resumed)")
    ap.add_argument("--which", default="incorrect", choices=("incorrect", "all"), help="which samples to critique")
    ap.add_argument(
        "--questions", default=None, help=f"question records, for --critic-model {PROGRAMMATIC} (default: the run's)"
    )
    add_engine_args(ap, "critic")
    add_generation_args(ap, temperature=0.0, n=1, knobs={"max_tokens": "critic_max_tokens"})
    add_run_args(ap, iteration=True)
    add_shard_args(ap)
    args = ap.parse_args(argv)
    layout_paths(args, samples=lambda lay, k: lay.samples(k), out=lambda lay, k: lay.critiques(k))
    samples = select_samples(read_samples(args.samples), args.which)
    programmatic = args.critic_model == PROGRAMMATIC
    if programmatic and args.questions is None:
        if args.run_dir is None:
            raise UsageError(f"--critic-model {PROGRAMMATIC} needs --questions (or --run-dir)")
        args.questions = str(RunLayout(args.run_dir).questions("train"))
    params = sampling_from_args(args)
    step = Step(
        args.run_dir,
        args.step or (RunLayout.step("critiques", args.iter) if args.iter is not None else "critique"),
        {
            "samples": args.samples,
            "model": args.critic_model,
            "which": args.which,
            **params.as_dict(),
            **({"questions": args.questions, "grader": args.grader} if programmatic else {}),
        },
        inputs=[args.samples],
        outputs=[args.out],
    )
    if args.merge_shards:
        return merge_shards(step, args.merge_shards, [args.out])
    step, samples = for_shard(args, step, samples)
    if step.skip():
        return 0
    with step:
        if samples and programmatic:
            questions = {q["id"]: q for q in read_questions(args.questions)}
            unknown = sorted({x["qid"] for x in samples} - questions.keys())
            if unknown:
                raise UsageError(f"{args.questions} lacks questions of {args.samples}: {', '.join(unknown[:5])}")
            _, counts = annotate_samples(questions, samples, args.out, args.grader)
        elif samples:
            engine = make_engine(**engine_kwargs(args, "critic"))
            _, counts = critique_samples(engine, samples, args.out, params, args.chunk_size)
            engine.close()
        else:
            ResumableJsonl(args.out)  # an empty output: nothing to critique
            counts = {"critiques": 0, "format_violations": 0}
        step.count(**counts)
    return 0
