"""Stage: sample N solutions per question from the actor and grade them.

Input: question records (``prepare`` writes them). Output: one record per sample,
``{"id": "<qid>/s<j>", "qid", "index": j, ..., "response", "pred", "correct", "grader"}``.
"""

from __future__ import annotations

from .cli import add_generation_args, add_run_args, parser, positive, run, sampling_from_args
from .engines import Engine, SamplingParams, add_engine_args, engine_kwargs, make_engine
from .generation import generate_into, grade_records
from .io import ResumableJsonl, read_jsonl
from .manifest import Step
from .prompts import SOLUTION_PREFIX, solve_prompt

QUESTION_FIELDS = ("id", "dataset_type", "question", "gold")


def sample_ids(qid: str, n: int) -> list[str]:
    return [f"{qid}/s{j}" for j in range(n)]


def sample_questions(engine: Engine, questions: list[dict], out_path, params: SamplingParams,
                     grader: str = "default", chunk_size: int = 1024, grade_workers: int | None = None,
                     desc: str = "sampling") -> tuple[list[dict], dict]:
    """Sample ``params.n`` graded solutions per question into ``out_path`` (resumable)."""
    out = ResumableJsonl(out_path)
    settings = params.as_dict()

    def make_records(q: dict, completions: list[str]) -> list[dict]:
        return [{
            "id": sid, "qid": q["id"], "index": j, "dataset": q.get("dataset"),
            "dataset_type": q["dataset_type"], "level": q.get("level"), "question": q["question"],
            "gold": q["gold"], "model": engine.name, "sampling": settings,
            "response": SOLUTION_PREFIX + text, "empty": not text.strip(),
        } for j, (sid, text) in enumerate(zip(sample_ids(q["id"], params.n), completions))]

    counts = generate_into(
        out, questions, engine, params,
        build_prompt=lambda q: solve_prompt(q["question"], q["dataset_type"]),
        make_records=make_records,
        expected_ids=lambda q: sample_ids(q["id"], params.n),
        postprocess=lambda recs: grade_records(recs, grader, grade_workers),
        chunk_size=chunk_size, desc=desc)
    records = out.records
    counts.update(samples=len(records), correct=sum(r["correct"] for r in records),
                  questions_with_correct=len({r["qid"] for r in records if r["correct"]}))
    return records, counts


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
    step = Step(args.run_dir, args.step or "sample",
                {"questions": args.questions, "model": args.actor_model, "grader": args.grader, **params.as_dict()})
    if step.skip():
        return 0
    with step:
        engine = make_engine(**engine_kwargs(args, "actor"))
        _, counts = sample_questions(engine, questions, args.out, params, args.grader,
                                     args.chunk_size, args.grade_workers)
        step.count(**counts, accuracy=round(counts["correct"] / max(1, counts["samples"]), 4))
        engine.close()
    return 0


if __name__ == "__main__":
    run(main)
