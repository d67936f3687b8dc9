"""Cross-run comparison: the paper's tables and figures over several runs, with confidence intervals.

``python -m selfimprove compare runs/A runs/B ... --out DIR`` (:mod:`selfimprove.stages.compare`)
reads each run's evaluations (``eval/<actor>/results.json`` and the graded records beside it) and
training records, and writes ``comparison.json``, ``report.md`` and plots into DIR:

* **Pass@1 per iteration** for every run, one series per (method, N) -- vanilla vs
  critique-in-the-loop self-improvement (Fig. 6);
* the **Table-3 grid**: each run's last actor, response only and with the critique model
  (Acc, Pass@K, MV@K with K = 5, or N when the pool is smaller);
* the **critic table** (Table 2): discrimination, helpfulness, harm, format violations;
* **per-level differences** of each run from the first one (Fig. 8), and each run's share of
  kept training data per level (Fig. 7).

Every accuracy carries a 95 % percentile-bootstrap interval over questions and the number of
questions (or samples) behind it; differences are paired by question when both runs were
evaluated on the same questions and are marked when their interval excludes zero. A run whose
records are gone falls back to the numbers of its ``results.json`` (no interval). A run's
method is read from its records: critique-in-the-loop when ``iter_k/03_refinements.jsonl``
exists, vanilla otherwise; N is the number of samples per training question. The paper's own
numbers come from one file (:data:`REFERENCE_FILE`, or ``--reference``; read by
:mod:`selfimprove.evaluation.paper`) and are shown beside ours, with ours minus the paper's, where
the setting matches (model family, method, N, iteration, critic, test-time method, dataset,
metric, K).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from selfimprove.evaluation.compare_data import TABLE_K, Evaluated, Run, load_run
from selfimprove.evaluation.estimators import (
    VoteFn,
    bootstrap_difference,
    bootstrap_mean,
    bootstrap_ratio,
    default_vote_fn,
    exact_vote,
    memoised_vote,
)
from selfimprove.evaluation.exploration import analyse_run, has_training_records
from selfimprove.evaluation.paper import PaperReference, compared, critic_setting
from selfimprove.evaluation.paper import load as load_reference

COMPARISON_VERSION = 2
#: where the grid's numbers are looked for in the paper, in this order when two match alike
GRID_FIGURES = ("Table 3", "Fig. E", "Table 2")


# ---------------------------------------------------------------------------------------
# Numbers with intervals
# ---------------------------------------------------------------------------------------


def _aggregate(results: Mapping, dataset: str, metric: str) -> dict[str, Any] | None:
    """A metric from results.json when the records are gone (no interval)."""
    o = (results["datasets"].get(dataset) or {}).get("overall") or {}
    ro, par = o.get("response_only") or {}, ((o.get("parallel") or {}).get("refine_all")) or {}
    k = min(TABLE_K, results["N"])

    def at(points, x):
        return next((p for p in points or [] if p.get("k") == x), None)

    num = {
        "greedy": ro.get("greedy"),
        "pass_at_1": at(ro.get("pass_at_k"), 1),
        "pass_at_k": at(ro.get("pass_at_k"), k),
        "mv_at_k": at(ro.get("mv_at_k"), k),
        "critique_pass_at_k": at(par.get("pass_at_k"), k),
        "critique_mv_at_k": at(par.get("mv_at_k"), k),
    }.get(metric)
    return None if num is None else {"value": num["value"], "low": None, "high": None, "n": num["n"]}


def interval(ev: Evaluated, dataset: str, metric: str, seed: int) -> dict[str, Any] | None:
    if ev.values is None:
        return _aggregate(ev.results, dataset, metric)
    vals = [v[metric] for v in (ev.values.get(dataset) or {}).values() if v.get(metric) is not None]
    return bootstrap_mean(vals, seed=seed) if vals else None


def critic_row(ev: Evaluated, dataset: str, seed: int) -> dict[str, Any]:
    """Table 2 for one actor: critic shares with question-bootstrap intervals (n = samples)."""
    o = ev.results["datasets"][dataset]["overall"]["critic"]
    row: dict[str, Any] = {"critic": (ev.results.get("config") or {}).get("critic")}
    pairs = {
        "accuracy_before_refinement": ("correct_before", "samples"),
        "accuracy_after_refinement": ("correct_after", "samples"),
        "helpfulness": ("fixed", "wrong"),
        "harm": ("broken", "right"),
        "discrimination_accuracy": ("verdict_right", "judged"),
    }
    counts = [v.get("critic_counts") or {} for v in ((ev.values or {}).get(dataset) or {}).values()]
    for key, (hit, total) in pairs.items():
        if counts and all(total in c for c in counts):
            row[key] = bootstrap_ratio([c[hit] for c in counts], [c[total] for c in counts], seed=seed)
            continue
        stored = {
            "accuracy_before_refinement": o.get("accuracy_before_refinement"),
            "accuracy_after_refinement": (o.get("accuracy_after_refinement") or {}).get("refine_all"),
            "helpfulness": o.get("helpfulness"),
            "harm": o.get("harm"),
            "discrimination_accuracy": (o.get("discrimination") or {}).get("accuracy"),
        }[key]
        row[key] = None if stored is None else {"value": stored["value"], "low": None, "high": None, "n": stored["n"]}
    row["f1"] = (o.get("discrimination") or {}).get("f1")
    row["format_violations"] = o.get("format_violations")
    return row


def level_differences(base: Run, other: Run, seed: int) -> list[dict[str, Any]]:
    """Per level and dataset, ``other - base`` on the last actors' greedy accuracy and Pass@1.

    Paired by question when both were evaluated on the same questions (levels then come from the
    first run, so both sides are binned alike); otherwise each side is resampled on its own.
    """
    a, b = base.evaluated[-1], other.evaluated[-1]
    if a.values is None or b.values is None:
        return []
    rows = []
    for dataset in sorted(set(a.values) & set(b.values)):
        va, vb = a.values[dataset], b.values[dataset]
        paired = set(va) == set(vb)
        levels = sorted(
            {v["level"] for v in va.values()} | ({v["level"] for v in vb.values()} if not paired else set())
        )
        for metric in ("greedy", "pass_at_1"):
            for lv in levels:
                qa = [q for q in va if va[q]["level"] == lv]
                qb = qa if paired else [q for q in vb if vb[q]["level"] == lv]
                xa = [va[q][metric] for q in qa if va[q][metric] is not None]
                xb = [vb[q][metric] for q in qb if vb[q][metric] is not None]
                if not xa or not xb or (paired and len(xa) != len(xb)):
                    continue
                rows.append(
                    {
                        "dataset": dataset,
                        "level": str(lv),
                        "metric": metric,
                        "base": base.label,
                        "run": other.label,
                        "base_value": bootstrap_mean(xa, seed=seed),
                        "run_value": bootstrap_mean(xb, seed=seed),
                        "difference": bootstrap_difference(xa, xb, paired, seed=seed),
                    }
                )
    return rows


def _value(num: Mapping | None) -> float | None:
    return None if not num else num.get("value")


def _paper_setting(run: Run, dataset: str) -> dict[str, Any]:
    """What the comparison knows of a run's setting, for the paper's numbers."""
    return {"model": run.model, "method": run.method, "N": run.n, "dataset": dataset}


def _per_iteration(r: Run, reference: PaperReference, seed: int) -> list[dict]:
    """Pass@1 of every evaluated actor of a run on every dataset, beside the paper's (Fig. 6)."""
    points = []
    for ev in r.evaluated:
        for ds in ev.results["datasets"]:
            point = {"run": r.label, "method": r.method, "N": r.n, "actor": ev.label, "dataset": ds}
            point["pass_at_1"] = interval(ev, ds, "pass_at_1", seed)
            paper = reference.lookup(
                "Fig. 6",
                **_paper_setting(r, ds),
                iteration=ev.order,
                test_time="response only",
                metric="pass_at_k",
                k=1,
            )
            point["paper"] = compared(paper, _value(point["pass_at_1"]))
            points.append(point)
    return points


def _grid_side(
    last: Evaluated,
    ds: str,
    prefix: str,
    setting: Mapping[str, Any],
    critic: Mapping[str, Any],
    oracle: bool,
    k: int,
    reference: PaperReference,
    seed: int,
) -> dict:
    """One side of a Table 3 row: Acc, Pass@K and MV@K without (``prefix`` "") or with the critique
    model (``prefix`` "critique_"), each with its interval, and the paper's numbers."""
    metrics = {"acc": "greedy" if not prefix else "critique_acc"}
    metrics |= {"pass_at_k": f"{prefix}pass_at_k", "mv_at_k": f"{prefix}mv_at_k"}
    side: dict[str, Any] = {name: interval(last, ds, m, seed) for name, m in metrics.items()}
    side["paper"] = {}
    for name in metrics:
        how: dict[str, Any] = {"test_time": "response only"}
        if prefix:
            how = {"test_time": "critique, oracle" if oracle and name == "acc" else "critique", **critic}
        paper = None
        if critic or not prefix:  # no paper number for a critique that was not run
            paper = reference.lookup(GRID_FIGURES, **setting, **how, metric=name, k=None if name == "acc" else k)
        side["paper"][name] = compared(paper, _value(side[name]))
    return side


def compare_runs(
    run_dirs: Sequence[str | os.PathLike],
    vote_fn: VoteFn | None = None,
    reference: PaperReference | None = None,
    seed: int = 0,
) -> dict:
    """Everything ``comparison.json`` holds (see the module docstring and ``docs/evaluation.md``)."""
    # each evaluation's votes are recomputed by its own rule (its results' config "voting"), unless
    # vote_fn is given for all of them
    rules: dict[str, VoteFn] = {"equivalence": default_vote_fn(), "exact": exact_vote}
    votes = {rule: memoised_vote(vote_fn if vote_fn is not None else fn) for rule, fn in rules.items()}
    vote = votes["equivalence"]
    runs = [load_run(p, votes) for p in run_dirs]
    reference = reference if reference is not None else load_reference()
    out: dict[str, Any] = {
        "comparison_version": COMPARISON_VERSION,
        "confidence": 0.95,
        "seed": seed,
        "runs": [
            {"run": str(r.path), "label": r.label, "method": r.method, "N": r.n, "model": r.model}
            | {"evaluated": [e.label for e in r.evaluated], "records": [e.values is not None for e in r.evaluated]}
            for r in runs
        ],
        "reference_source": reference.paper or None,
        "per_iteration": [],
        "grid": [],
        "critics": [],
        "level_differences": [],
        "exploration": [],
    }
    for r in runs:
        out["per_iteration"] += _per_iteration(r, reference, seed)
        last = r.evaluated[-1]
        k = min(TABLE_K, last.results["N"])
        config = last.results.get("config") or {}
        critic = critic_setting(config.get("critic"))
        # Acc with the critique model is the first sequential round, which the oracle mode grows from
        # the answers known to be wrong only
        oracle = config.get("sequential_mode") == "oracle"
        for ds in last.results["datasets"]:
            row: dict[str, Any] = {"run": r.label, "method": r.method, "actor": last.label, "dataset": ds, "k": k}
            setting = _paper_setting(r, ds)
            if last.order == 0:  # iteration 0 of self-improvement is the SFT actor
                setting["method"] = "SFT"
            for side, prefix in (("response_only", ""), ("with_critique", "critique_")):
                row[side] = _grid_side(last, ds, prefix, setting, critic, oracle, k, reference, seed)
            out["grid"].append(row)
            crow = {"run": r.label, "actor": last.label, "dataset": ds, **critic_row(last, ds, seed)}
            crow["paper"] = {
                key: compared(
                    reference.lookup("Table 2", **setting, test_time="critique", **critic, metric=metric)
                    if critic
                    else None,
                    _value(crow.get(key)),
                )
                for key, metric in (("discrimination_accuracy", "discrimination"), ("helpfulness", "helpfulness"))
            }
            out["critics"].append(crow)
        if has_training_records(r.path):
            analysis = analyse_run(r.path, vote)
            last_it = analysis["per_iteration"][str(analysis["iterations"][-1])]
            kept = last_it["kept_data"]["critique"] or last_it["kept_data"]["vanilla"]
            out["exploration"].append(
                {"run": r.label, "method": r.method, "iteration": analysis["iterations"][-1], "kept_by_level": kept}
            )
    for other in runs[1:]:
        out["level_differences"] += level_differences(runs[0], other, seed)
    return out
