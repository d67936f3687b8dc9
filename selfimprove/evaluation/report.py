"""Plots and a Markdown report from ``results.json`` files (see ``selfimprove.evaluation.metrics``).

The command is ``python -m selfimprove report`` (:mod:`selfimprove.stages.report`).

Several results files are read as the actors of successive self-improvement iterations,
in the order given; the report then opens with an "accuracy per iteration" plot and
table, followed by the full report of every iteration.

Per dataset the report holds: Pass@K and MV@K curves with and without critique (one curve
per parallel mode), the compute-matched comparison, parallel vs sequential
critique-refine, per-level bars, and tables of every number with its denominator ``n``. Where
the paper reports a number for the same setting, a section sets it beside ours
(:mod:`selfimprove.evaluation.paper_report`).
All files are written atomically (temp file + ``os.replace``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from selfimprove.core.errors import DataError
from selfimprove.core.io import atomic_write_bytes
from selfimprove.evaluation.estimators import VoteFn
from selfimprove.evaluation.exploration import has_training_records, write_exploration
from selfimprove.evaluation.exploration_report import exploration_markdown
from selfimprove.evaluation.markdown import config_lines, dataset_markdown, img, table
from selfimprove.evaluation.paper_report import paper_section, run_of_report
from selfimprove.evaluation.plots import (
    plot_compute_matched,
    plot_iterations,
    plot_k_curves,
    plot_levels,
    plot_parallel_vs_sequential,
)
from selfimprove.evaluation.schema import SchemaError, validate_results
from selfimprove.evaluation.views import at, cell_ci, iteration_labels, slug

__all__ = ["ResultsError", "detect_run_dir", "iteration_labels", "load_results", "render", "write_report"]


class ResultsError(DataError):
    """A results file is missing, unreadable or not a MathCritique results file."""


# ---------------------------------------------------------------------------------------
# Reading and writing
# ---------------------------------------------------------------------------------------


def load_results(path: str | os.PathLike) -> dict:
    """Read and validate one ``results.json`` (any schema version up to the current one); raise
    :class:`ResultsError` naming the file and the JSON path of the problem if unusable."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ResultsError(f"{path}: results file not found") from None
    except OSError as e:
        raise ResultsError(f"{path}: cannot read results file ({e.strerror})") from None
    try:
        results = json.loads(text)
    except json.JSONDecodeError as e:
        raise ResultsError(f"{path}:{e.lineno}: not valid JSON ({e.msg})") from None
    try:
        validate_results(results)
    except SchemaError as e:
        raise ResultsError(f"{path}: not a valid MathCritique results file: {e}") from None
    return results


def render(results: Mapping, out_dir: Path, prefix: str = "", label: str | None = None) -> list[str]:
    """Write the plots of one results dict into ``out_dir``; return its Markdown lines."""
    lines = config_lines(results, label)
    suffix = f" (iteration {label})" if label is not None else ""
    for name, ds in results["datasets"].items():
        stem = prefix + slug(name)
        o = ds["overall"]
        plots = {
            "mv": plot_k_curves(
                o, "mv_at_k", f"{name}: MV@K with and without critique{suffix}", out_dir / f"{stem}_mv_at_k.png"
            ),
            "pass": plot_k_curves(
                o, "pass_at_k", f"{name}: Pass@K with and without critique{suffix}", out_dir / f"{stem}_pass_at_k.png"
            ),
            "compute": plot_compute_matched(
                o, f"{name}: compute-matched MV{suffix}", out_dir / f"{stem}_compute_matched.png"
            ),
            "par_seq": plot_parallel_vs_sequential(
                o, f"{name}: parallel vs sequential{suffix}", out_dir / f"{stem}_parallel_vs_sequential.png"
            ),
            "levels": plot_levels(
                ds, results["N"], f"{name}: accuracy by difficulty level{suffix}", out_dir / f"{stem}_levels.png"
            ),
        }
        lines += dataset_markdown(name, ds, results, plots)
    return lines


def _scoring_columns(all_results: Sequence[Mapping]) -> list[tuple[tuple[str, str], str, str]]:
    """The extra columns of the per-iteration table: greedy under another grader, MV@N under the
    other vote, as ``((grader, voting), metric, header)``, in the order of the first results."""
    out: list[tuple[tuple[str, str], str, str]] = []
    for r in all_results:
        columns = (r.get("scoring") or {}).get("columns") or []
        first = next((c for c in columns if c["primary"]), None)
        for c in columns:
            if first is None or c["primary"]:
                continue
            key = (c["grader"], c["voting"])
            wanted = [("greedy", f"greedy ({c['name']})")] if c["grader"] != first["grader"] else []
            wanted += [("mv_at_n", f"MV@N ({c['name']})")] if c["voting"] != first["voting"] else []
            out += [(key, metric, title) for metric, title in wanted if (key, metric, title) not in out]
    return out


def _scored(results: Mapping, dataset: str, scoring: tuple[str, str], key: str) -> Mapping | None:
    for c in (results.get("scoring") or {}).get("columns") or []:
        if (c["grader"], c["voting"]) == scoring:
            return (c["datasets"].get(dataset) or {}).get(key)
    return None


def detect_run_dir(out_dir: str | os.PathLike) -> Path | None:
    """The run a report folder belongs to (``runs/<EXP>/eval`` -> ``runs/<EXP>``), when that run
    has training records for the exploration analysis."""
    parent = Path(out_dir).resolve().parent
    return parent if has_training_records(parent) else None


def write_report(
    all_results: Sequence[Mapping],
    out_dir: str | os.PathLike,
    sources: Sequence[str] | None = None,
    run_dir: str | os.PathLike | None = None,
    vote_fn: VoteFn | None = None,
) -> Path:
    """Write the plots and ``report.md`` for one or more results dicts; return the report path.

    With several results dicts (self-improvement iterations, in order), an accuracy per
    iteration plot and table come first, then each iteration's full report with its plots
    prefixed ``iter<i>_``. With ``run_dir`` the exploration analysis of that run's training
    records (``exploration.json`` and its plots) closes the report.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    lines = ["# MathCritique evaluation report", ""]
    if sources:
        lines += ["Results: " + ", ".join(f"`{s}`" for s in sources), ""]
    if any(r.get("upper_bounds") for r in all_results):
        lines += [
            "_Numbers marked **upper bound** (oracle) use the ground truth to decide which answers to "
            "refine: they bound what critique-refine can reach and are not achievable at test time._",
            "",
        ]
    lines += paper_section(all_results, Path(run_dir) if run_dir is not None else run_of_report(out_dir))
    if len(all_results) == 1:
        lines += render(all_results[0], out_dir)
    else:
        labels = iteration_labels(all_results)
        lines += [
            "## Accuracy per self-improvement iteration",
            "",
            "_How to read: one actor per iteration (in the order the results were given); N is each "
            "iteration's pool size; accuracies in % with a 95 % Wilson interval over the n questions._",
            "",
        ]
        extra = _scoring_columns(all_results)
        rows = []
        for label, r in zip(labels, all_results):
            for name, ds in r["datasets"].items():
                ro = ds["overall"]["response_only"]
                par = (ds["overall"].get("parallel") or {}).get("refine_all") or {}
                rows.append(
                    [
                        label,
                        name,
                        cell_ci(ro.get("greedy")),
                        cell_ci(at(ro["pass_at_k"], "k", 1)),
                        cell_ci(at(ro["mv_at_k"], "k", r["N"])),
                        cell_ci(at(par.get("mv_at_k"), "k", r["N"])),
                    ]
                    + [cell_ci(_scored(r, name, scoring, key)) for scoring, key, _ in extra]
                )
        header = ["iteration", "dataset", "greedy", "Pass@1", "MV@N", "MV@N, critique-refine (refine all)"]
        if extra:
            scored = next(r for r in all_results if (r.get("scoring") or {}).get("columns"))
            primary = next(c["name"] for c in scored["scoring"]["columns"] if c["primary"])
            lines += [f"_The first four accuracies: {primary} (the primary scoring); the last ones as named._", ""]
        lines += table(header + [title for _, _, title in extra], rows)
        lines += img(plot_iterations(all_results, out_dir / "iterations.png"), "Accuracy per iteration")
        for i, (label, r) in enumerate(zip(labels, all_results)):
            lines += [f"# Iteration {label}", ""]
            lines += render(r, out_dir, prefix=f"iter{i}_", label=label)
    if run_dir is not None:
        analysis, plots = write_exploration(run_dir, out_dir, vote_fn)
        lines += exploration_markdown(analysis, plots)
    report = out_dir / "report.md"
    atomic_write_bytes(report, "\n".join(lines).rstrip("\n").encode("utf-8") + b"\n")
    return report
