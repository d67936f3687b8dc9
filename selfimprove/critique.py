"""Stage: the critique model writes step-level feedback on the actor's samples.

By default only the incorrect samples are critiqued (what training-time refinement needs);
``--which all`` critiques every sample (the released code's other mode, and what test-time
evaluation needs). Output: ``{"id": "<sample id>/c<k>", "sample_id", "qid", "critique",
"verdict": "correct"|"wrong"|null, "follows_format", "step_verdicts"}``. Critiques that ignore
the "Correctness of the final answer" format get ``verdict: null`` and are counted.
"""

from __future__ import annotations

from .cli import add_generation_args, add_run_args, parser, positive, run, sampling_from_args
from .engines import Engine, SamplingParams, add_engine_args, engine_kwargs, make_engine
from .generation import generate_into
from .io import ResumableJsonl, read_jsonl
from .manifest import Step
from .prompts import critique_prompt, parse_critique

SAMPLE_FIELDS = ("id", "qid", "question", "response", "correct")


def critique_ids(sample_id: str, n: int) -> list[str]:
    return [f"{sample_id}/c{k}" for k in range(n)]


def select_samples(samples: list[dict], which: str) -> list[dict]:
    if which == "incorrect":
        return [s for s in samples if not s["correct"]]
    if which == "all":
        return list(samples)
    raise ValueError(f"--which must be 'incorrect' or 'all', not {which!r}")


def critique_samples(engine: Engine, samples: list[dict], out_path, params: SamplingParams,
                     chunk_size: int = 1024, desc: str = "critiquing") -> tuple[list[dict], dict]:
    """Critique every given sample ``params.n`` times into ``out_path`` (resumable)."""
    out = ResumableJsonl(out_path)
    settings = params.as_dict()

    def make_records(s: dict, completions: list[str]) -> list[dict]:
        recs = []
        for cid, text in zip(critique_ids(s["id"], params.n), completions):
            parsed = parse_critique(text)
            recs.append({"id": cid, "sample_id": s["id"], "qid": s["qid"], "critic_model": engine.name,
                         "sampling": settings, "critique": text, "verdict": parsed.verdict,
                         "follows_format": parsed.follows_format, "step_verdicts": list(parsed.steps),
                         "empty": not text.strip()})
        return recs

    counts = generate_into(
        out, samples, engine, params,
        build_prompt=lambda s: critique_prompt(s["question"], s["response"]),
        make_records=make_records,
        expected_ids=lambda s: critique_ids(s["id"], params.n),
        chunk_size=chunk_size, desc=desc)
    records = out.records
    counts.update(critiques=len(records),
                  format_violations=sum(not r["follows_format"] for r in records),
                  verdict_wrong=sum(r["verdict"] == "wrong" for r in records),
                  verdict_correct=sum(r["verdict"] == "correct" for r in records))
    return records, counts


def main(argv=None) -> int:
    ap = parser("critique", __doc__)
    ap.add_argument("--samples", required=True, help="graded samples (JSONL)")
    ap.add_argument("--out", required=True, help="output critiques (JSONL, appended/resumed)")
    ap.add_argument("--which", default="incorrect", choices=("incorrect", "all"),
                    help="which samples to critique")
    add_engine_args(ap, "critic")
    add_generation_args(ap, temperature=0.0, max_tokens=1536, n=1)
    add_run_args(ap)
    args = ap.parse_args(argv)
    positive(ap, args, "n", "max_tokens", "chunk_size")
    samples = select_samples(read_jsonl(args.samples, required=SAMPLE_FIELDS), args.which)
    params = sampling_from_args(args)
    step = Step(args.run_dir, args.step or "critique",
                {"samples": args.samples, "model": args.critic_model, "which": args.which, **params.as_dict()})
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
