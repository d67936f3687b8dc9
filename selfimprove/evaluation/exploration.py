"""Exploration analysis of a self-improvement run, from its training records.

For every iteration k >= 1 of ``runs/<EXP>`` this reads ``iter_k/01_samples.jsonl`` (N graded
solutions per training question), ``iter_k/03_refinements.jsonl`` when the run used the critic
(``kept`` marks a refinement that entered the SFT set) and the question records
(``data/train.jsonl``, for the ``level`` field), and computes:

* **kept training data per level** (Fig. 7 of the paper): the share of the iteration's kept
  solutions that comes from each difficulty level, vanilla (correct samples only) vs
  critique-in-the-loop (correct samples + kept refinements);
* **exploration efficiency**: per level, the share of questions with at least one correct
  solution, without critique (a correct sample) and with critique (a correct sample or a kept
  refinement);
* **solution diversity**: per question with at least one correct solution, the number of
  distinct correct answers (answer strings, whitespace removed: all are equal to the gold answer,
  so more than one means the same value written differently) and of distinct correct solution
  paths (:func:`solution_path`), without and with the kept refinements;
* **per-problem correct frequency** (Fig. F): each question's share of correct samples, and
  whether the majority vote over its samples is correct.

A question's level is its own ``level`` where the dataset has one, else the bin of the actor's
sampled accuracy pooled over all iterations of the run (one fixed level per question, so the
iterations are comparable; bins as in :func:`~selfimprove.evaluation.joins.level_from_accuracy`).

``python -m selfimprove exploration RUN_DIR --out DIR`` (:mod:`selfimprove.stages.exploration`)
writes ``exploration.json`` and the plots into DIR; the evaluation report includes the same
section when the run has training records.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from selfimprove.core.errors import DataError
from selfimprove.core.io import atomic_write_json
from selfimprove.core.layout import ITER_FILES, RunLayout
from selfimprove.core.record_io import read_questions, read_refinements, read_samples
from selfimprove.core.records import Question, Refinement, Sample
from selfimprove.evaluation.estimators import Answer, VoteFn, default_vote_fn, majority_vote_correct, memoised_vote
from selfimprove.evaluation.exploration_report import exploration_plots
from selfimprove.evaluation.joins import level_from_accuracy

EXPLORATION_VERSION = 1

PATH_DEFINITION = (
    "the numbers a solution writes, in order of first appearance, each normalised (thousands "
    "separators removed, trailing decimal zeros dropped: '1,200.50' -> '1200.5'); two correct "
    "solutions share a path when they introduce the same quantities in the same order"
)
_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")


def _normalise_number(token: str) -> str:
    token = token.replace(",", "")
    if "." in token:
        token = token.rstrip("0").rstrip(".")
    return token.lstrip("0") or "0"


def solution_path(text: str) -> tuple[str, ...]:
    """A solution's path: its normalised numbers in order of first appearance (see the docs)."""
    out: dict[str, None] = {}
    for token in _NUMBER.findall(text or ""):
        out.setdefault(_normalise_number(token), None)
    return tuple(out)


def answer_form(pred: str | None) -> str | None:
    """An answer string for counting distinct answers: whitespace removed."""
    return None if pred is None else re.sub(r"\s+", "", pred)


# ---------------------------------------------------------------------------------------
# Reading a run
# ---------------------------------------------------------------------------------------


@dataclass
class Iteration:
    """One iteration's training records, by question (samples in index order)."""

    k: int
    samples: dict[str, list[Sample]]
    refinements: dict[str, list[Refinement]] | None = None  # None: the run did not use the critic
    dataset_type: dict[str, str] = field(default_factory=dict)


def iteration_dirs(run_dir: Path) -> list[tuple[int, Path]]:
    """``(k, iter_k)`` for every iteration k >= 1 with sampled training records, in order."""
    lay = RunLayout(run_dir)
    return [(k, lay.iter_dir(k)) for k in lay.iterations() if k >= 1 and lay.samples(k).is_file()]


def has_training_records(run_dir: str | os.PathLike) -> bool:
    return bool(iteration_dirs(Path(run_dir)))


def load_iterations(run_dir: Path) -> list[Iteration]:
    """Every iteration's samples and (when present) refinements, grouped by question."""
    out = []
    for k, d in iteration_dirs(run_dir):
        samples: dict[str, list[Sample]] = {}
        recs = read_samples(d / ITER_FILES["samples"], ("id", "qid", "dataset_type", "correct"))
        for r in sorted(recs, key=lambda r: (r["qid"], r.get("index", 0))):
            samples.setdefault(r["qid"], []).append(r)
        it = Iteration(k=k, samples=samples, dataset_type={r["qid"]: r["dataset_type"] for r in recs})
        ref_path = d / ITER_FILES["refinements"]
        if ref_path.is_file():
            it.refinements = {}
            for ref in read_refinements(ref_path, ("id", "qid", "correct", "kept")):
                it.refinements.setdefault(ref["qid"], []).append(ref)
        out.append(it)
    return out


def question_levels(questions: Mapping[str, Mapping], iterations: Sequence[Iteration]) -> dict[str, tuple[int, str]]:
    """``qid -> (level, source)``: the dataset's level, else the pooled sampled accuracy's bin."""
    correct: Counter[str] = Counter()
    total: Counter[str] = Counter()
    given: dict[str, Any] = {}
    for it in iterations:
        for qid, recs in it.samples.items():
            correct[qid] += sum(bool(r["correct"]) for r in recs)
            total[qid] += len(recs)
            given.setdefault(qid, next((r.get("level") for r in recs if r.get("level") is not None), None))
    out = {}
    for qid in total:
        level = (questions.get(qid) or {}).get("level", given.get(qid))
        if isinstance(level, int) and not isinstance(level, bool):
            out[qid] = (level, "dataset")
        else:
            out[qid] = (level_from_accuracy(correct[qid], total[qid]), "pool_accuracy")
    return out


# ---------------------------------------------------------------------------------------
# Numbers
# ---------------------------------------------------------------------------------------


def _share(count: int, n: int) -> dict[str, Any]:
    return {"value": float(Fraction(count, n)) if n else None, "count": count, "n": n}


def _mean_count(values: Sequence[int]) -> dict[str, Any]:
    return {"mean": float(Fraction(sum(values), len(values))) if values else None, "n": len(values)}


def _kept(it: Iteration, qid: str) -> list[Refinement]:
    return [r for r in (it.refinements or {}).get(qid, []) if r["kept"]]


def _kept_data(it: Iteration, qids: Sequence[str], level: Mapping[str, int], critique: bool) -> dict:
    counts: Counter[int] = Counter()
    for qid in qids:
        n = sum(bool(r["correct"]) for r in it.samples[qid]) + (len(_kept(it, qid)) if critique else 0)
        counts[level[qid]] += n
    total = sum(counts.values())
    return {
        "total": total,
        "by_level": {str(lv): _share(counts[lv], total) for lv in sorted(set(level[q] for q in qids))},
    }


def _diversity(it: Iteration, qids: Sequence[str], critique: bool) -> dict:
    answers, paths = [], []
    for qid in qids:
        solutions = [r for r in it.samples[qid] if r["correct"]] + (_kept(it, qid) if critique else [])
        if not solutions:
            continue
        answers.append(len({answer_form(r.get("pred")) for r in solutions}))
        paths.append(len({solution_path(r.get("response", "")) for r in solutions}))
    return {"distinct_correct_answers": _mean_count(answers), "distinct_correct_paths": _mean_count(paths)}


def _efficiency(it: Iteration, qids: Sequence[str], critique: bool) -> dict[str, Any]:
    solved = 0
    for qid in qids:
        if any(r["correct"] for r in it.samples[qid]) or (critique and _kept(it, qid)):
            solved += 1
    return _share(solved, len(qids))


def _frequency(it: Iteration, qids: Sequence[str], level: Mapping[str, int], vote_fn: VoteFn) -> list[dict]:
    out = []
    for qid in qids:
        recs = it.samples[qid]
        answers = [Answer(pred=r.get("pred"), correct=bool(r["correct"])) for r in recs]
        c = sum(a.correct for a in answers)
        out.append(
            {
                "qid": qid,
                "level": level[qid],
                "n": len(recs),
                "correct": c,
                "frequency": float(Fraction(c, len(recs))),
                "mv_correct": majority_vote_correct(answers, it.dataset_type.get(qid, ""), vote_fn),
            }
        )
    return out


def iteration_analysis(it: Iteration, level: Mapping[str, int], vote_fn: VoteFn) -> dict:
    """Every exploration number of one iteration (``with_critique`` parts are ``None`` for a
    run without the critic)."""
    qids = sorted(it.samples)
    critique = it.refinements is not None
    levels = sorted(set(level[q] for q in qids))
    by_level = {lv: [q for q in qids if level[q] == lv] for lv in levels}

    def both(fn, subset: Sequence[str]) -> dict:
        return {"without_critique": fn(it, subset, False), "with_critique": fn(it, subset, True) if critique else None}

    sizes = Counter(len(recs) for recs in it.samples.values())
    return {
        "n_questions": len(qids),
        "samples_per_question": max(sizes, key=lambda n: (sizes[n], n)) if sizes else 0,
        "critique": critique,
        "kept_refinements": sum(len(_kept(it, q)) for q in qids),
        "kept_data": {
            "vanilla": _kept_data(it, qids, level, False),
            "critique": _kept_data(it, qids, level, True) if critique else None,
        },
        "exploration": {
            "overall": both(_efficiency, qids),
            "by_level": {str(lv): both(_efficiency, by_level[lv]) for lv in levels},
        },
        "diversity": {
            "overall": both(_diversity, qids),
            "by_level": {str(lv): both(_diversity, by_level[lv]) for lv in levels},
        },
        "correct_frequency": _frequency(it, qids, level, vote_fn),
    }


def analyse_run(run_dir: str | os.PathLike, vote_fn: VoteFn | None = None) -> dict:
    """The exploration analysis of a run (see the module docstring); raises ``ValueError`` when
    the run has no sampled training records."""
    run_dir = Path(run_dir)
    iterations = load_iterations(run_dir)
    if not iterations:
        raise DataError(f"{run_dir}: no training records (iter_<k>/01_samples.jsonl for k >= 1)")
    questions: dict[str, Question] = {}
    train = RunLayout(run_dir).questions("train")
    if train.is_file():
        questions = {q["id"]: q for q in read_questions(train, ("id",))}
    levels = question_levels(questions, iterations)
    level = {qid: lv for qid, (lv, _) in levels.items()}
    vote = memoised_vote(vote_fn if vote_fn is not None else default_vote_fn())
    return {
        "exploration_version": EXPLORATION_VERSION,
        "run": str(run_dir),
        "iterations": [it.k for it in iterations],
        "level_source": dict(sorted(Counter(src for _, src in levels.values()).items())),
        "level_counts": {str(lv): n for lv, n in sorted(Counter(level.values()).items())},
        "definitions": {"solution_path": PATH_DEFINITION},
        "per_iteration": {str(it.k): iteration_analysis(it, level, vote) for it in iterations},
    }


def write_exploration(
    run_dir: str | os.PathLike, out_dir: str | os.PathLike, vote_fn: VoteFn | None = None
) -> tuple[dict, dict]:
    """Analyse ``run_dir`` and write ``exploration.json`` and the plots into ``out_dir``.

    Returns the analysis and ``{plot key: file name or None}``.
    """
    analysis = analyse_run(run_dir, vote_fn)
    out = Path(out_dir)
    atomic_write_json(RunLayout.exploration_file(out, "analysis"), analysis)
    return analysis, exploration_plots(analysis, out)
