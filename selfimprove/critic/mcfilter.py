"""Monte-Carlo filtering (AutoMathCritique, stage 3): keep the critiques that help.

For each (question, flawed path, critique) the actor refines the path ``n`` times guided by the
critique; the critique is kept when at least ``k`` refinements are correct (the paper's
"N_correct >= k"). A critique must also get the verdict right: a critique of a wrong path that
calls it correct is dropped without refining, and a critique of a correct path is kept exactly
when it calls the path correct (it is not refined). Critiques that are missing (the annotator
abstained) or ignore the format are dropped. ``k = 0`` keeps every critique with the right
verdict and refines nothing.

Record (one per annotation): ``{"id": <annotation id>, "path_id", "qid", "strategy",
"annotator", "path_correct", "verdict", "n_refinements", "n_correct", "kept", "reason"}``; the
refinements themselves are written next to it (``generation.tasks.refine_critiques`` records).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from selfimprove.core.io import ResumableJsonl, atomic_write_jsonl
from selfimprove.core.records import Critique, Refinement
from selfimprove.critic.evaluate import as_samples
from selfimprove.generation.engines import Engine, SamplingParams
from selfimprove.generation.tasks import refine_critiques

REASONS = (
    "no critique",
    "format",
    "verdict wrong",
    "correct path, verdict right",
    "n_correct >= k",
    "n_correct < k",
)


def decide(annotation: dict, n_correct: int | None, k: int) -> tuple[bool, str]:
    """The filter rule for one annotation, given how many of its refinements were correct."""
    if annotation.get("critique") is None:
        return False, "no critique"
    if not annotation.get("follows_format"):
        return False, "format"
    if not annotation.get("verdict_right"):
        return False, "verdict wrong"
    if annotation.get("path_correct"):
        return True, "correct path, verdict right"
    if (n_correct or 0) >= k:
        return True, "n_correct >= k"
    return False, "n_correct < k"


def needs_refinement(annotation: dict, k: int) -> bool:
    return (
        k > 0
        and annotation.get("critique") is not None
        and bool(annotation.get("follows_format"))
        and bool(annotation.get("verdict_right"))
        and not annotation.get("path_correct")
    )


def mc_filter(
    actor: Engine | None,
    paths: dict[str, dict],
    annotations: Sequence[dict],
    out_path,
    refinements_path,
    n: int,
    k: int,
    params: SamplingParams,
    grader: str = "default",
    chunk_size: int = 512,
    grade_workers: int | None = None,
) -> tuple[list[dict], dict]:
    """Refine where the rule needs it (resumable), then decide every annotation; the decisions
    are written atomically to ``out_path``."""
    if n < 1 or k < 0 or k > n:
        raise ValueError(f"the Monte-Carlo filter needs n >= 1 and 0 <= k <= n (got n={n}, k={k})")
    todo: list[Critique] = [
        {"id": a["id"], "sample_id": a["path_id"], "critique": a["critique"]}
        for a in annotations
        if needs_refinement(a, k)
    ]
    refinements: list[Refinement] = []
    counts: dict = {}
    if todo:
        if actor is None:
            raise ValueError("the Monte-Carlo filter needs an actor engine to refine with")
        p = SamplingParams(
            n=n, temperature=params.temperature, top_p=params.top_p, max_tokens=params.max_tokens, seed=params.seed
        )
        refinements, counts = refine_critiques(
            actor,
            todo,
            {pid: as_samples([p])[0] for pid, p in paths.items()},
            refinements_path,
            p,
            reserved_new_data=n,
            grader=grader,
            chunk_size=chunk_size,
            grade_workers=grade_workers,
            desc="MC refinements",
        )
    else:
        ResumableJsonl(refinements_path)  # an empty file says the step ran
    n_correct: dict[str, int] = defaultdict(int)
    n_done: dict[str, int] = defaultdict(int)
    for r in refinements:
        n_done[r["critique_id"]] += 1
        n_correct[r["critique_id"]] += bool(r["correct"])
    records = []
    for a in annotations:
        refined = a["id"] in n_done
        kept, reason = decide(a, n_correct[a["id"]] if refined else None, k)
        records.append(
            {
                "id": a["id"],
                "path_id": a["path_id"],
                "qid": a["qid"],
                "strategy": a.get("strategy"),
                "annotator": a.get("annotator"),
                "path_correct": a.get("path_correct"),
                "verdict": a.get("verdict"),
                "n_refinements": n_done[a["id"]] if refined else 0,
                "n_correct": n_correct[a["id"]] if refined else None,
                "kept": kept,
                "reason": reason,
            }
        )
    atomic_write_jsonl(out_path, records)
    candidates = sum(r["reason"] not in ("no critique",) for r in records)
    kept_n = sum(r["kept"] for r in records)
    summary = {
        "annotations": len(records),
        "refined": len(todo),
        "refinements": len(refinements),
        "refinements_correct": sum(bool(r["correct"]) for r in refinements),
        "kept": kept_n,
        "pass_rate": round(kept_n / candidates, 4) if candidates else None,
        "truncated": counts.get("truncated", 0),
    }
    for reason in REASONS:
        summary[f"reason_{reason.replace(' ', '_').replace(',', '').replace('>=', 'ge').replace('<', 'lt')}"] = sum(
            r["reason"] == reason for r in records
        )
    return records, summary
