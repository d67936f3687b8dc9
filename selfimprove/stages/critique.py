"""Stage: the critique model writes step-level feedback on the actor's samples.

By default only the incorrect samples are critiqued (what training-time refinement needs);
``--which all`` critiques every sample (the released code's other mode, and what test-time
evaluation needs). Output: ``{"id": "<sample id>/c<k>", "sample_id", "qid", "critique",
"verdict": "correct"|"wrong"|null, "follows_format", "step_verdicts"}``. Critiques that ignore
the "Correctness of the final answer" format get ``verdict: null`` and are counted.
"""

from __future__ import annotations

from selfimprove.core.cli import add_generation_args, add_run_args, parser, positive, run, sampling_from_args
from selfimprove.core.io import ResumableJsonl, read_jsonl
from selfimprove.core.manifest import Step
from selfimprove.generation.engines import add_engine_args, engine_kwargs, make_engine
from selfimprove.generation.tasks import SAMPLE_FIELDS, critique_samples, select_samples


def main(argv=None) -> int:
    ap = parser("critique", __doc__)
    ap.add_argument("--samples", required=True, help="graded samples (JSONL)")
    ap.add_argument("--out", required=True, help="output critiques (JSONL, appended/resumed)")
    ap.add_argument("--which", default="incorrect", choices=("incorrect", "all"), help="which samples to critique")
    add_engine_args(ap, "critic")
    add_generation_args(ap, temperature=0.0, max_tokens=1536, n=1)
    add_run_args(ap)
    args = ap.parse_args(argv)
    positive(ap, args, "n", "max_tokens", "chunk_size")
    samples = select_samples(read_jsonl(args.samples, required=SAMPLE_FIELDS), args.which)
    params = sampling_from_args(args)
    step = Step(
        args.run_dir,
        args.step or "critique",
        {"samples": args.samples, "model": args.critic_model, "which": args.which, **params.as_dict()},
    )
    if step.skip():
        return 0
    with step:
        if samples:
            engine = make_engine(**engine_kwargs(args, "critic"))
            _, counts = critique_samples(engine, samples, args.out, params, args.chunk_size)
            engine.close()
        else:
            ResumableJsonl(args.out)  # an empty output: nothing to critique
            counts = {"critiques": 0, "format_violations": 0}
        step.count(**counts)
    return 0


if __name__ == "__main__":
    run(main)
