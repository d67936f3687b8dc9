"""Runs as the comparison reads them: evaluated actors, their results and per-question values.

Per-question values are recomputed from the graded records of ``eval/<actor>/`` (the pool, greedy
answers, critiques, refinements and the sequential chain), so that every number of a comparison
can be bootstrapped over questions; when the records are gone only ``results.json`` is used.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selfimprove.core.errors import DataError
from selfimprove.core.layout import EVAL_FILES, ITER_FILES, RunLayout
from selfimprove.core.record_io import read_chain_steps, read_critiques, read_questions, read_refinements, read_samples
from selfimprove.core.records import RecordT
from selfimprove.evaluation.estimators import (
    VoteFn,
    memoised_vote,
    mv_at_k,
    parallel_final_answers,
    pass_at_k,
    vote_fn_for,
)
from selfimprove.evaluation.exploration import has_training_records, iteration_dirs
from selfimprove.evaluation.joins import QuestionData, by_sample, prepare
from selfimprove.evaluation.schema import SchemaError, validate_results

#: Pass@K and MV@K of the Table-3 grid use K = 5 (or N when the pool is smaller).
TABLE_K = 5
VANILLA, CRITIQUE = "vanilla", "critique-in-the-loop"
SFT, SELF_CORRECTION, SELF_TALK = "SFT", "self-correction FT", "self-talk"
SELF_IMPROVED, UNTRAINED, OTHER_MODEL = "self-improved", "untrained", "other model"
#: where a run's layout puts a model (the last two parts of its path) -> how that model was trained
_TRAINED_AT = {
    ("iter_0", "actor"): SFT,
    ("selftalk", "selfcorrect_model"): SELF_CORRECTION,
    ("selftalk", "selftalk_model"): SELF_TALK,
}


@dataclass
class Evaluated:
    """One evaluated actor of a run: its results and, where the records exist, per-question values."""

    label: str
    order: int
    results: dict
    values: dict[str, dict[str, dict[str, Any]]] | None  # dataset -> qid -> metric -> value


@dataclass
class Run:
    path: Path
    label: str
    method: str
    n: int | None
    model: str | None
    evaluated: list[Evaluated]


def _order(label: str, position: int) -> int:
    if label == "base":
        return -1
    m = re.fullmatch(r"iter_(\d+)", label)
    return int(m.group(1)) if m else 1000 + position


def _question_values(q: QuestionData, k: int, vote_fn: VoteFn) -> dict[str, Any]:
    n = len(q.pool)
    c = sum(a.correct for a in q.pool)
    out: dict[str, Any] = {
        "level": q.level,
        "greedy": None if q.greedy is None else float(q.greedy.correct),
        "pass_at_1": c / n,
        "pass_at_k": float(pass_at_k(n, c, k)),
        "mv_at_k": float(mv_at_k(q.pool, k, q.dataset_type, vote_fn)),
        "critique_acc": None,
        "critique_pass_at_k": None,
        "critique_mv_at_k": None,
    }
    if q.chains is not None and len(q.sequential_chains()[0]) > 1:
        out["critique_acc"] = float(q.chain_answer(0, 1).correct)
    if q.refined is not None:
        finals = parallel_final_answers(q.pool, q.refinements(), q.verdicts, "refine_all")
        out["critique_pass_at_k"] = float(pass_at_k(n, sum(a.correct for a in finals), k))
        out["critique_mv_at_k"] = float(mv_at_k(finals, k, q.dataset_type, vote_fn))
        wrong = [r for s, r in zip(q.pool, q.refinements()) if not s.correct]
        right = [r for s, r in zip(q.pool, q.refinements()) if s.correct]
        out["critic_counts"] = {
            "correct_before": c,
            "samples": n,
            "correct_after": sum(a.correct for a in finals),
            "fixed": sum(r.correct for r in wrong),
            "wrong": len(wrong),
            "broken": sum(not r.correct for r in right),
            "right": len(right),
        }
    if q.verdicts is not None:
        judged = [(s, v) for s, v in zip(q.pool, q.critiqued()) if v is not None]
        counts = out.setdefault("critic_counts", {})
        counts["verdict_right"] = sum((v == "wrong") != s.correct for s, v in judged)
        counts["judged"] = len(judged)
    return out


def load_values(run_dir: Path, folder: Path, results: Mapping, vote_fn: VoteFn) -> dict | None:
    """Per-question values of one evaluated actor from its graded records (``None`` when absent)."""
    questions_path, pool_path = RunLayout(run_dir).questions("test"), folder / EVAL_FILES["pool"]
    if not questions_path.is_file() or not pool_path.is_file():
        return None
    n = results["N"]
    pool = [r for r in read_samples(pool_path, ("id", "qid")) if r.get("index", 0) < n]
    ids = {r["id"] for r in pool}
    qids = {r["qid"] for r in pool}
    questions = [q for q in read_questions(questions_path, ("id",)) if q["id"] in qids]
    greedy_path = folder / EVAL_FILES["greedy"]
    greedy = read_samples(greedy_path, ()) if greedy_path.is_file() else None
    crit = [c for c in _maybe(folder / EVAL_FILES["pool_critiques"], read_critiques) if c.get("sample_id") in ids]
    refs = [r for r in _maybe(folder / EVAL_FILES["pool_refinements"], read_refinements) if r.get("sample_id") in ids]
    critiques, refinements = by_sample(crit, refs)
    cfg = results.get("config") or {}
    chains = None
    k_chains = cfg.get("sequential_chains", 1)
    mode = cfg.get("sequential_mode")
    if mode and results.get("R"):
        chain_file = RunLayout.chain_files(folder, mode, 0, multi=k_chains > 1)["chain"]
        steps = _maybe(chain_file, read_chain_steps, ("round",))
        chains = [c for c in steps if c.get("chain", 0) < k_chains and c["round"] <= results["R"]]
    qs, n_pool, _ = prepare(questions, greedy, pool, critiques or None, refinements or None, chains or None)
    k = min(TABLE_K, n_pool)
    out: dict[str, dict[str, Any]] = {}
    for q in qs:
        out.setdefault(q.dataset, {})[q.qid] = _question_values(q, k, vote_fn)
    return out


def _maybe(
    path: Path, read: Callable[[Path, tuple[str, ...]], list[RecordT]], need: tuple[str, ...] = ()
) -> list[RecordT]:
    """The records of ``path`` read by ``read`` needing the fields ``need``; none when it is absent."""
    return read(path, need) if path.is_file() else []


def training_n(run_dir: Path) -> int | None:
    """N of a self-improvement run: the samples per training question of its first iteration."""
    dirs = iteration_dirs(run_dir)
    if not dirs:
        return None
    counts: dict[str, int] = {}
    for r in read_samples(dirs[0][1] / ITER_FILES["samples"], ("qid",)):
        counts[r["qid"]] = counts.get(r["qid"], 0) + 1
    return max(counts.values()) if counts else None


def _method_of_model(actor: str, base_model: str | None) -> str:
    """The training method of a run without self-improvement iterations: where its evaluated actor
    was made (a run layout's SFT, self-correction or self-talk model, or another run's iteration),
    untrained when it is the run's base model (or nothing says otherwise), else "other model"."""
    where = tuple(Path(actor.rstrip("/")).parts[-2:])
    if where in _TRAINED_AT:
        return _TRAINED_AT[where]
    if len(where) == 2 and where[1] == "actor" and re.fullmatch(r"iter_[1-9]\d*", where[0]):
        return SELF_IMPROVED
    if base_model and actor and actor.rstrip("/") != base_model.rstrip("/"):
        return OTHER_MODEL
    return UNTRAINED


def voting_of(results: Mapping) -> str:
    """The vote an evaluation used: the rule its configuration names (``voting``; default equivalence)."""
    return str((results.get("config") or {}).get("voting") or "equivalence")


def load_run(path: str | os.PathLike, vote_fn: VoteFn | Mapping[str, VoteFn] | None = None) -> Run:
    """A run's evaluations with their per-question values. Each evaluation's votes are counted by
    its own rule (:func:`voting_of`): ``vote_fn`` is one vote for every rule, or a vote per rule
    (``{"equivalence": ..., "exact": ...}``), or ``None`` for :func:`vote_fn_for` of the rule."""
    votes: dict[str, VoteFn] = {}
    if isinstance(vote_fn, Mapping):
        votes.update(vote_fn)
    run_dir = Path(path)
    found = sorted(RunLayout(run_dir).eval_root.glob(f"*/{EVAL_FILES['results']}"))
    if not found:
        raise DataError(f"{run_dir}: no evaluations (eval/<actor>/results.json); run evaluate-all.sh first")
    evaluated = []
    for i, res_path in enumerate(found):
        results = json.loads(res_path.read_text(encoding="utf-8"))
        try:
            validate_results(results)
        except SchemaError as e:
            raise DataError(f"{res_path}: not a valid MathCritique results file: {e}") from None
        label = res_path.parent.name
        rule = voting_of(results)
        if rule not in votes:
            votes[rule] = vote_fn if callable(vote_fn) else memoised_vote(vote_fn_for(rule))
        values = load_values(run_dir, res_path.parent, results, votes[rule])
        evaluated.append(Evaluated(label, _order(label, i), results, values))
    evaluated.sort(key=lambda e: e.order)
    model = manifest_model(run_dir)
    method = run_method(run_dir, str(evaluated[-1].results["config"].get("actor_model") or ""), model)
    return Run(run_dir, run_dir.name, method, training_n(run_dir), model, evaluated)


def manifest_model(run_dir: Path) -> str | None:
    """The run's base model (``model_name``) as its manifest records it, ``None`` without one."""
    manifest = RunLayout(run_dir).manifest
    if not manifest.is_file():
        return None
    # each driver records its configuration: inference as "config", others as "<driver>_config"
    data = json.loads(manifest.read_text(encoding="utf-8"))
    configs = [data.get("config")] + [v for k, v in data.items() if k.endswith("_config")]
    return next((c["model_name"] for c in configs if isinstance(c, dict) and c.get("model_name")), None)


def run_method(run_dir: Path, actor_model: str, base_model: str | None) -> str:
    """A run's training method: critique-in-the-loop or vanilla for a run with self-improvement
    iterations (refinements kept or not), else where its evaluated actor was made."""
    if has_training_records(run_dir):
        refined = any((d / ITER_FILES["refinements"]).is_file() for _, d in iteration_dirs(run_dir))
        return CRITIQUE if refined else VANILLA
    return _method_of_model(actor_model, base_model)
