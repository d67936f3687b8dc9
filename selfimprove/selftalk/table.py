"""The one-player comparison (Table 5 of the paper): self-talk, trajectory-level self-correction,
and SFT + test-time critique, on the same test questions.

Every row is reduced to the same shape: one *final* answer per greedy answer and per pool sample
(the self-talk model's own answer; the self-corrected answer; the answer after the critic and a
refinement where the critic judged it wrong). The numbers — greedy accuracy, Pass@K and MV@K for
K = 1, 2, 4, ..., N — come from :func:`selfimprove.evaluation.metrics.compute_results` on those
final answers, so they are computed exactly like every other evaluation of the project. Rows that
revise a first answer also keep the numbers of the first answers (``first``). A row whose model
could not be trained (no training example) keeps its place with the reason and no numbers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from selfimprove.core.records import Question, Sample
from selfimprove.critic.programmatic import NAME as PROGRAMMATIC
from selfimprove.evaluation.metrics import compute_results
from selfimprove.evaluation.scoring import compare_scorings

METHODS = ("selftalk", "selfcorrect", "sft_critic")
LABELS = {
    "selftalk": "Self-talk (one player)",
    "selfcorrect": "Self-correction FT (trajectory level, one player)",
    "sft_critic": "SFT + test-time critique (two players)",
}
SCHEMA_VERSION = 1


def row_results(
    method: str,
    questions: Sequence[Question],
    greedy: Sequence[Sample],
    pool: Sequence[Sample],
    config: Mapping[str, Any],
    greedy_first: Sequence[Sample] | None = None,
    pool_first: Sequence[Sample] | None = None,
) -> dict:
    """The numbers of one row: ``final`` answers, and ``first`` answers when the method revises them."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    cfg = {"method": method, **config}
    first = None
    if pool_first is not None:
        first = compute_results(questions, greedy_first, pool_first, None, None, None, cfg)
    final = compute_results(questions, greedy, pool, None, None, None, cfg)
    return {
        "schema_version": SCHEMA_VERSION,
        "method": method,
        "label": LABELS[method],
        "config": cfg,
        "final": final,
        "first": first,
        # a grader or vote other than the project's: the final answers scored the project's way too
        "scoring": compare_scorings(questions, greedy, pool, None, None, None, cfg, final),
    }


def not_trained_row(method: str, config: Mapping[str, Any], reason: str) -> dict:
    """The row of a method whose model was not trained: the reason instead of numbers."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    cfg = {"method": method, **config}
    return {
        "schema_version": SCHEMA_VERSION,
        "method": method,
        "label": LABELS[method],
        "config": cfg,
        "final": None,
        "first": None,
        "not_trained": reason,
    }


def _summary(results: Mapping | None, dataset: str) -> dict | None:
    if results is None or dataset not in results["datasets"]:
        return None
    ro = results["datasets"][dataset]["overall"]["response_only"]
    return {"greedy": ro["greedy"], "pass_at_k": ro["pass_at_k"], "mv_at_k": ro["mv_at_k"]}


def comparison(rows: Sequence[Mapping]) -> dict:
    """The table: per dataset, per method, greedy / Pass@K / MV@K of final (and first) answers."""
    if not rows:
        raise ValueError("no rows to compare")
    methods = [r["method"] for r in rows]
    if len(set(methods)) != len(methods):
        raise ValueError(f"a method appears twice: {methods}")
    scored = [r for r in rows if r["final"] is not None]
    if not scored:
        raise ValueError("no row has results: " + "; ".join(f"{r['method']}: {r.get('not_trained')}" for r in rows))
    qsets = {r["method"]: r["final"]["datasets"] and _question_counts(r["final"]) for r in scored}
    if len({tuple(sorted(v.items())) for v in qsets.values()}) > 1:
        raise ValueError(f"the rows were evaluated on different test sets: {qsets}")
    datasets = sorted({d for r in scored for d in r["final"]["datasets"]})
    return {
        "schema_version": SCHEMA_VERSION,
        "methods": methods,
        "labels": {r["method"]: r["label"] for r in rows},
        "N": {r["method"]: r["final"]["N"] if r["final"] else None for r in rows},
        "configs": {r["method"]: r["config"] for r in rows},
        "not_trained": {r["method"]: r["not_trained"] for r in rows if r.get("not_trained")},
        "datasets": {
            d: {
                "n_questions": scored[0]["final"]["datasets"][d]["n_questions"],
                "rows": {
                    r["method"]: {"final": _summary(r["final"], d), "first": _summary(r["first"], d)}
                    | ({"scoring": _scoring(r, d)} if r.get("scoring") else {})
                    for r in rows
                },
            }
            for d in datasets
        },
    }


def _scoring(row: Mapping, dataset: str) -> list[dict] | None:
    """The row's greedy accuracy, Pass@1 and MV@N under each grader and vote (``None`` without)."""
    columns = (row.get("scoring") or {}).get("columns")
    if not columns:
        return None
    keep = ("greedy", "pass_at_1", "mv_at_n")
    return [
        {"name": c["name"], "primary": c["primary"]} | {k: (c["datasets"].get(dataset) or {}).get(k) for k in keep}
        for c in columns
    ]


def _question_counts(results: Mapping) -> dict[str, int]:
    return {d: v["n_questions"] for d, v in results["datasets"].items()}


def _pct(num: Mapping | None) -> str:
    if not num or num.get("value") is None:
        return "–"
    return f"{100 * num['value']:.1f}"


def _at(curve: Sequence[Mapping], k: int) -> Mapping | None:
    return next((p for p in curve if p["k"] == k), None)


def _scoring_markdown(table: Mapping, block: Mapping) -> list[str]:
    """Greedy and MV@N of every row under each grader and vote, where the primary one is not the
    project's own (``GRADER``, ``VOTING``)."""
    scored = {m: r["scoring"] for m, r in block["rows"].items() if r.get("scoring")}
    if not scored:
        return []
    names = [c["name"] + (", primary" if c["primary"] else "") for c in next(iter(scored.values()))]
    header = ["method"] + [f"{what} ({name})" for name in names for what in ("greedy", "MV@N")]
    out = ["", "Accuracy by grader and voting rule (the same answers scored each way; MV@N over the pool):", ""]
    out += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for m, columns in scored.items():
        cells = [table["labels"][m]] + [_pct(c[k]) for c in columns for k in ("greedy", "mv_at_n")]
        out.append("| " + " | ".join(cells) + " |")
    return out


def markdown(table: Mapping) -> str:
    """The report: one table per dataset, rows in the order given, numbers in percent."""
    out = ["# One player: self-talk vs. self-correction vs. SFT + critique", ""]
    out.append(
        "Each row is evaluated on the same test questions. *Greedy*: the final answer of the greedy "
        "chain; *Pass@K* / *MV@K*: over the final answers of the sampled pool (N per question); "
        "*first*: greedy accuracy before the row's own revision (self-check, or the critic)."
    )
    for d, block in table["datasets"].items():
        ks = sorted({p["k"] for r in block["rows"].values() if r["final"] for p in r["final"]["pass_at_k"]})
        out += ["", f"## {d} ({block['n_questions']} questions)", ""]
        header = ["method", "greedy", "first"] + [f"Pass@{k}" for k in ks] + [f"MV@{k}" for k in ks]
        out.append("| " + " | ".join(header) + " |")
        out.append("|" + "---|" * len(header))
        for m, r in block["rows"].items():
            f, first = r["final"], r["first"]
            if f is None:
                cells = [table["labels"][m], "not trained"] + ["–"] * (len(header) - 2)
                out.append("| " + " | ".join(cells) + " |")
                continue
            cells = [table["labels"][m], _pct(f["greedy"]), _pct(first["greedy"]) if first else "–"]
            cells += [_pct(_at(f["pass_at_k"], k)) for k in ks] + [_pct(_at(f["mv_at_k"], k)) for k in ks]
            out.append("| " + " | ".join(cells) + " |")
        out += _scoring_markdown(table, block)
    out += ["", "Models and settings:", ""]
    for m in table["methods"]:
        cfg = table["configs"][m]
        shown = ", ".join(
            f"{k}={cfg[k]}" for k in ("actor", "critic", "pool_size", "temperature") if cfg.get(k) is not None
        )
        out.append(f"* {table['labels'][m]}: {shown}")
        if table.get("not_trained", {}).get(m):
            out.append(f"  (not trained: {table['not_trained'][m]})")
        if cfg.get("critic") == PROGRAMMATIC:
            out.append(
                "  (the programmatic critic knows the gold answer and the true step values: this critic is "
                "reference-guided, so the row is an upper bound for SFT + critique)"
            )
    return "\n".join(out) + "\n"
