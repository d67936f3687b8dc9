"""The three rows of the one-player comparison, generated on one test set.

Every row samples a greedy answer and a pool of N answers per question with its own model
(``greedy.jsonl``, ``pool.jsonl`` in the row's folder, resumable), then:

* ``selftalk`` — the self-talk model's own final answers, nothing else;
* ``selfcorrect`` — the self-correction model checks each of its answers and corrects those it
  judges wrong (:func:`~selfimprove.selftalk.selfcorrect.self_correct`);
* ``sft_critic`` — a separate critic (a model, or a ``critique(question_record, response) -> text``
  function such as the programmatic critic) critiques each answer; the actor refines the ones
  judged wrong (the verifier mode of the two-player evaluation).

Each returns the row of :func:`~selfimprove.selftalk.table.row_results`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from selfimprove.core.layout import RunLayout
from selfimprove.core.records import Question, Sample
from selfimprove.critic.programmatic import annotate_samples
from selfimprove.generation.engines import Engine, SamplingParams
from selfimprove.generation.tasks import critique_samples, refine_critiques, sample_questions
from selfimprove.selftalk.selfcorrect import FinalAnswer, self_correct
from selfimprove.selftalk.table import row_results

CritiqueFn = Callable[[Question, str], str]


def sample_row(
    actor: Engine,
    questions: Sequence[Question],
    out_dir: Path,
    pool_size: int,
    greedy_p: SamplingParams,
    pool_p: SamplingParams,
    grader: str,
    chunk_size: int,
) -> tuple[list[Sample], list[Sample]]:
    greedy, _ = sample_questions(
        actor, list(questions), RunLayout.onep_file(out_dir, "greedy"), greedy_p, grader, chunk_size, desc="greedy"
    )
    pool, _ = sample_questions(
        actor,
        list(questions),
        RunLayout.onep_file(out_dir, "pool"),
        pool_p,
        grader,
        chunk_size,
        desc=f"pool of {pool_size}",
    )
    return greedy, [p for p in pool if p["index"] < pool_size]


def selfcorrect_row(
    actor: Engine,
    questions: Sequence[Question],
    greedy: list[Sample],
    pool: list[Sample],
    out_dir: Path,
    config: dict,
    check_p: SamplingParams,
    refine_p: SamplingParams,
    grader: str,
    chunk_size: int,
) -> tuple[dict, dict]:
    qmap = {q["id"]: q for q in questions}
    g, gc = self_correct(actor, qmap, greedy, out_dir, "greedy", check_p, refine_p, grader, chunk_size)
    p, pc = self_correct(actor, qmap, pool, out_dir, "pool", check_p, refine_p, grader, chunk_size)
    counts = {f"greedy_{k}": v for k, v in gc.items()} | {f"pool_{k}": v for k, v in pc.items()}
    return row_results("selfcorrect", questions, g, p, config, greedy, pool), counts


def _verified(
    actor: Engine,
    critic: Engine | CritiqueFn,
    qmap: dict[str, Question],
    answers: list[Sample],
    out_dir: Path,
    tag: str,
    critic_p: SamplingParams,
    refine_p: SamplingParams,
    grader: str,
    chunk_size: int,
) -> tuple[list[FinalAnswer], dict]:
    samples: list[Sample] = [{**a, "question": qmap[a["qid"]]["question"]} for a in answers]
    by_id = {s["id"]: s for s in samples}
    if isinstance(critic, Engine):
        crits, _ = critique_samples(
            critic, samples, RunLayout.onep_file(out_dir, "critiques", tag), critic_p, chunk_size
        )
    else:
        crits, _ = annotate_samples(qmap, samples, RunLayout.onep_file(out_dir, "critiques", tag), grader, critic)
    crits = [c for c in crits if c["sample_id"] in by_id]
    flagged = [c for c in crits if c["verdict"] == "wrong"]
    refs, _ = refine_critiques(
        actor, flagged, by_id, RunLayout.onep_file(out_dir, "refinements", tag), refine_p, 10**9, grader, chunk_size
    )
    refined = {r["sample_id"]: r for r in refs}
    verdict = {c["sample_id"]: c["verdict"] for c in crits}
    finals: list[FinalAnswer] = []
    for a in answers:
        src = refined.get(a["id"]) if verdict.get(a["id"]) == "wrong" else None
        final = src or a
        finals.append(
            {
                "id": a["id"],
                "qid": a["qid"],
                "index": a["index"],
                "response": final["response"],
                "pred": final["pred"],
                "correct": final["correct"],
                "verdict": verdict.get(a["id"]),
                "revised": src is not None,
                "first_correct": a["correct"],
            }
        )
    counts = {
        "judged_wrong": len(flagged),
        "format_violations": sum(c["verdict"] is None for c in crits),
        "correct_before": sum(a["correct"] for a in answers),
        "correct_after": sum(f["correct"] for f in finals),
    }
    return finals, counts


def sft_critic_row(
    actor: Engine,
    critic: Engine | CritiqueFn,
    questions: Sequence[Question],
    greedy: list[Sample],
    pool: list[Sample],
    out_dir: Path,
    config: dict,
    critic_p: SamplingParams,
    refine_p: SamplingParams,
    grader: str,
    chunk_size: int,
) -> tuple[dict, dict]:
    qmap = {q["id"]: q for q in questions}
    g, gc = _verified(actor, critic, qmap, greedy, out_dir, "greedy", critic_p, refine_p, grader, chunk_size)
    p, pc = _verified(actor, critic, qmap, pool, out_dir, "pool", critic_p, refine_p, grader, chunk_size)
    counts = {f"greedy_{k}": v for k, v in gc.items()} | {f"pool_{k}": v for k, v in pc.items()}
    return row_results("sft_critic", questions, g, p, config, greedy, pool), counts
