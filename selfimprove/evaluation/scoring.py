"""The headline accuracies under the other grader and voting rule, beside the primary ones.

An evaluation decides correctness with one grader (knob ``GRADER``) and votes with one rule (knob
``VOTING``); every number of ``results.json`` uses them. Where either is not the project's own --
a grader other than ``default`` (the paper presets use ``mathcritique``, the released answer logic)
or ``VOTING=exact`` (identical answer strings, as the released code counts them) -- the same
generations are scored the project's way too, and ``results.json`` holds the headline accuracies
of each scoring side by side (``scoring.columns``), in this order:

* the primary scoring (``GRADER``, ``VOTING``);
* the project grader with the primary vote (``default``, ``VOTING``), when ``GRADER`` is not ``default``;
* the primary grader with equivalence voting (``GRADER``, ``equivalence``), when ``VOTING=exact``.

Regrading reads each record's own text (``response``) and its question's gold answer, so nothing is
generated again. What the primary grader decided during generation stays decided: which answers the
oracle modes refined, and which refinements training kept.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from selfimprove.core.records import ChainStep, Critique, Question, RecordT, Refinement, Sample, add_fields

#: The project's own grader and voting rule (the knobs' defaults).
PROJECT_GRADER = "default"
PROJECT_VOTING = "equivalence"
GRADER_NAMES = {"default": "project grader", "mathcritique": "released grader", "math-verify": "math-verify grader"}
VOTING_NAMES = {"equivalence": "equivalence voting", "exact": "exact-answer voting"}

#: The headline numbers of each scoring: key -> what it is.
HEADLINE = {
    "greedy": "greedy accuracy",
    "pass_at_1": "Pass@1 of the pool",
    "mv_at_n": "MV@N of the pool",
    "critique_refine": "accuracy after critique-refine (refine all)",
    "critique_refine_mv_at_n": "MV@N after critique-refine (refine all)",
    "sequential": "sequential critique-refine (its headline)",
    "sequential_released_vote": "sequential, MV over refinements 1..R (released)",
}


def settings(grader: str, voting: str) -> list[tuple[str, str]]:
    """The scorings to report: the primary one first, then the project's grader and voting beside it."""
    out = [(grader, voting)]
    if grader != PROJECT_GRADER:
        out.append((PROJECT_GRADER, voting))
    if voting != PROJECT_VOTING:
        out.append((grader, PROJECT_VOTING))
    return out


def scoring_name(grader: str, voting: str) -> str:
    """``"released grader, exact-answer voting"``: a column's name in reports."""
    return f"{GRADER_NAMES.get(grader, grader)}, {VOTING_NAMES.get(voting, voting)}"


def regrade(
    records: Sequence[RecordT] | None,
    grader: str,
    questions: Mapping[str, Question],
    workers: int | None = None,
) -> list[RecordT] | None:
    """Copies of graded ``records`` with ``pred``, ``correct`` and ``grader`` of ``grader``.

    The text graded is the record's ``response``; the gold answer and dataset type are the
    record's own, else its question's (``qid``). An unanswered record stays wrong."""
    if records is None:
        return None
    from selfimprove.grading.api import grade_batch

    out = [copy.copy(r) for r in records]
    items = []
    for r in out:
        q: Question = questions.get(str(r.get("qid")), {})
        gold, dtype = r.get("gold", q.get("gold")), r.get("dataset_type", q.get("dataset_type"))
        if r.get("response") is None or gold is None or dtype is None:
            raise ValueError(f"record {r.get('id')!r} cannot be regraded (no response, gold answer or dataset type)")
        items.append((str(r["response"]), str(gold), str(dtype)))
    for r, g in zip(out, grade_batch(items, grader=grader, workers=workers)):
        add_fields(r, g.record_fields())
        if r.get("unanswered"):
            add_fields(r, {"correct": False})  # no answer is a wrong answer, whatever the grader made of it
    return out


def _point(points: Iterable[Mapping] | None, key: str, x: int | None) -> dict | None:
    for p in points or ():
        if p.get(key) == x:
            return {"value": p["value"], "n": p["n"]}
    return None


def headline(results: Mapping) -> dict[str, dict[str, dict | None]]:
    """Per dataset, the numbers of :data:`HEADLINE` (``None`` where the evaluation has none)."""
    n, rounds = results["N"], results.get("R")
    out: dict[str, dict[str, dict | None]] = {}
    for name, ds in results["datasets"].items():
        o = ds["overall"]
        ro = o["response_only"]
        par = (o.get("parallel") or {}).get("refine_all") or {}
        seq = o.get("sequential") or {}
        head = seq.get("headline")
        greedy = ro.get("greedy")
        out[name] = {
            "greedy": {"value": greedy["value"], "n": greedy["n"]} if greedy else None,
            "pass_at_1": _point(ro["pass_at_k"], "k", 1),
            "mv_at_n": _point(ro["mv_at_k"], "k", n),
            "critique_refine": _point(par.get("pass_at_k"), "k", 1),
            "critique_refine_mv_at_n": _point(par.get("mv_at_k"), "k", n),
            "sequential": {"value": head["value"], "n": head["n"]} if head else None,
            "sequential_released_vote": _point(seq.get("mv_refinements_1_to_r"), "round", rounds),
        }
    return out


#: the records a scoring grades: greedy and pool samples, refinements, chain steps
_Graded = tuple[
    Sequence[Sample] | None, Sequence[Sample] | None, Sequence[Refinement] | None, Sequence[ChainStep] | None
]


def compare_scorings(
    questions: Sequence[Question],
    greedy: Sequence[Sample] | None,
    pool: Sequence[Sample],
    critiques: Sequence[Critique] | None,
    refinements: Sequence[Refinement] | None,
    chains: Sequence[ChainStep] | None,
    config: Mapping[str, Any],
    results: Mapping,
    workers: int | None = None,
) -> dict | None:
    """``results.json``'s ``scoring``: the headline numbers of every scoring of :func:`settings`
    (``columns``, the primary one first), or ``None`` when the primary scoring is the project's own.

    ``results`` are the primary numbers (:func:`~selfimprove.evaluation.metrics.compute_results` of
    the same records with ``config``); the records are those given to it."""
    from selfimprove.evaluation.metrics import compute_results

    grader = str(config.get("grader") or PROJECT_GRADER)
    voting = str(config.get("voting") or PROJECT_VOTING)
    wanted = settings(grader, voting)
    if len(wanted) == 1:
        return None
    qmap = {str(q["id"]): q for q in questions}
    graded: dict[str, _Graded] = {grader: (greedy, pool, refinements, chains)}
    columns = []
    for g, v in wanted:
        primary = (g, v) == (grader, voting)
        if primary:
            res = results
        else:
            if g not in graded:
                graded[g] = (
                    regrade(greedy, g, qmap, workers),
                    regrade(pool, g, qmap, workers),
                    regrade(refinements, g, qmap, workers),
                    regrade(chains, g, qmap, workers),
                )
            gr, po, re_, ch = graded[g]
            res = compute_results(questions, gr, po or [], critiques, re_, ch, {**config, "grader": g, "voting": v})
        columns.append(
            {"grader": g, "voting": v, "primary": primary, "name": scoring_name(g, v), "datasets": headline(res)}
        )
    return {"columns": columns}
