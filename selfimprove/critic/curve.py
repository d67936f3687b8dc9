"""The critic's learning curve: the trained critic's metrics against its number of training examples.

The cells are runs of ``critic-all.sh`` that differ in ``CRITIC_EXAMPLES`` (the sweep preset
``selfimprove/presets/critic_curve.env``). From each run it reads

* ``critic/eval/results.json`` — every critic's metrics with their counts and 95 % intervals
  (:mod:`selfimprove.critic.evaluate`);
* ``critic/stats.json`` — ``examples``: how many examples the critic was actually trained on
  (fewer than asked when the kept critiques run out);
* ``manifest.json`` — the training step's seconds (``critic/05_train``; a training reused from
  another cell with the same data is marked) and the ``CRITIC_EXAMPLES`` asked for;
* ``critic/eval/responses.jsonl`` — the held-out responses' ids, to tell whether every cell was
  evaluated on the same set.

:func:`write_curve` writes into one folder ``comparison.json`` (:func:`curve`), ``report.md``
(a table of the trained critic per cell, with the untrained base, the likelihood critic and the
programmatic annotator, a reference-aware upper bound, as reference rows, and one generated
sentence per metric) and ``critic_curve.png`` (one panel per metric over the training examples on
a log scale, with the intervals as error bars and the references as dashed lines). The reference
critics are taken from the first cell that evaluated them (the preset evaluates them in the first
cell only).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from selfimprove.core.errors import DataError
from selfimprove.core.io import atomic_write_bytes, atomic_write_json, atomic_write_text, iter_jsonl, read_json
from selfimprove.core.layout import RunLayout
from selfimprove.core.manifest import read as read_manifest
from selfimprove.critic.evaluate import METRICS, WILSON, WILSON_HARMONIC
from selfimprove.critic.report import LABELS, stored_interval
from selfimprove.evaluation.estimators import CONFIDENCE

CURVE_VERSION = 1
TRAINED, BASE, LIKELIHOOD, PROGRAMMATIC = "trained", "base", "likelihood", "programmatic"
REFERENCES = {
    BASE: "untrained base",
    LIKELIHOOD: "likelihood critic (the model fine-tuned on right solutions; docs/critic.md)",
    PROGRAMMATIC: "programmatic (reference-aware upper bound)",
}
#: a metric's name in sentences (the table's labels, spelled out)
NAMES = {**LABELS, "accuracy_after_refinement": "accuracy after refinement"}


def _files(run: Path) -> tuple[dict[str, Path], dict[str, str]]:
    return RunLayout(run).pipeline("critic")


def _metric(metrics: dict, key: str) -> dict[str, Any]:
    """``{value, hits, n, ci}`` of one metric (counts and interval None for results without them)."""
    iv = stored_interval(metrics, key) or {}
    return {"value": metrics.get(key), "hits": iv.get("hits"), "n": iv.get("n"), "ci": iv.get("ci")}


def _metrics(metrics: dict) -> dict[str, dict[str, Any]]:
    return {k: _metric(metrics, k) for k in METRICS}


def _held_out_ids(run: Path) -> list[str] | None:
    path = RunLayout.critic_eval_file(_files(run)[0]["eval"], "responses")
    if not path.is_file():
        return None
    return sorted(str(rec.get("id")) for _, rec in iter_jsonl(path))


def read_cell(run: str | Path) -> dict[str, Any]:
    """One run's numbers (raises :class:`DataError` naming what is missing)."""
    run = Path(run)
    files, steps = _files(run)
    results_path = RunLayout.critic_eval_file(files["eval"], "results")
    if not results_path.is_file():
        raise DataError(f"{run}: no {results_path.relative_to(run)}; run selfimprove/critic-all.sh there first")
    results = read_json(results_path)
    critics = results.get("critics") or {}
    stats = read_json(files["stats"]) if files["stats"].is_file() else {}
    manifest = read_manifest(run)
    train = (manifest.get("steps") or {}).get(steps["model"]) or {}
    counts = train.get("counts") or {}
    seconds = None
    if train.get("status") == "done":
        seconds = round(float(train.get("seconds", 0.0)) + float(train.get("seconds_before", 0.0)), 1)
    asked = (manifest.get("critic_config") or {}).get("CRITIC_EXAMPLES")
    examples = stats.get("examples", counts.get("examples"))
    return {
        "run": str(run),
        "label": run.name,
        "requested_examples": asked or None,  # 0 = every kept example
        "examples": examples,
        "train_seconds": seconds,
        "train_reused_from": counts.get("reused_from"),
        "train_loss": counts.get("train_loss"),
        "per_verdict": stats.get("per_verdict"),
        "responses": (results.get("responses") or {}).get("n"),
        "critics": critics,
        "held_out_ids": _held_out_ids(run),
    }


def curve(runs: Sequence[str | Path]) -> dict[str, Any]:
    """The learning curve of the trained critic over ``runs`` (``comparison.json``'s content)."""
    if not runs:
        raise DataError("no runs to read")
    read = [read_cell(r) for r in runs]
    cells, skipped = [], []
    for c in read:
        if TRAINED not in c["critics"]:
            skipped.append({"run": c["run"], "reason": f"no '{TRAINED}' critic in its results"})
        elif not isinstance(c["examples"], int):
            skipped.append({"run": c["run"], "reason": "its number of training examples is not recorded (stats.json)"})
        else:
            cells.append(c)
    if not cells:
        raise DataError(f"no run with a trained critic and its training examples among {len(read)} run(s)")
    cells.sort(key=lambda c: (c["examples"], c["requested_examples"] or 0))
    references: dict[str, Any] = {}
    for name in REFERENCES:
        source = next((c for c in read if name in c["critics"]), None)
        if source is not None:
            m = source["critics"][name]
            references[name] = {"run": source["run"], "model": m.get("model"), "metrics": _metrics(m)}
    ids = [c["held_out_ids"] for c in read]
    known = [i for i in ids if i is not None]
    same = None if len(known) < len(ids) else all(i == known[0] for i in known)
    out_cells = [
        {
            **{k: c[k] for k in ("run", "label", "requested_examples", "examples", "train_seconds")},
            **{k: c[k] for k in ("train_reused_from", "train_loss", "per_verdict", "responses")},
            "metrics": _metrics(c["critics"][TRAINED]),
        }
        for c in cells
    ]
    comparison = {
        "curve_version": CURVE_VERSION,
        "confidence": CONFIDENCE,
        "interval_methods": {
            **{m: WILSON for m in METRICS if m != "f1"},
            "f1": WILSON_HARMONIC,
        },
        "metrics": list(METRICS),
        "held_out": {"n": cells[0]["responses"], "same_in_every_cell": same},
        "cells": out_cells,
        "references": references,
        "skipped": skipped,
    }
    comparison["trends"] = {m: trend(comparison, m) for m in METRICS}
    return comparison


# --------------------------------------------------------------------------- text


def pct_ci(entry: dict | None, with_n: bool = True) -> str:
    """``"52.0 [45.1, 58.8] (n=200)"`` in %; the bare value without an interval, "–" when undefined."""
    if not entry or entry.get("value") is None:
        return "–"
    text = f"{100 * entry['value']:.1f}"
    if entry.get("ci"):
        low, high = entry["ci"]
        text += f" [{100 * low:.1f}, {100 * high:.1f}]"
    if with_n and entry.get("n") is not None:
        text += f" (n={entry['n']})"
    return text


def _overlap(a: dict, b: dict) -> bool | None:
    if not a.get("ci") or not b.get("ci"):
        return None
    return a["ci"][0] <= b["ci"][1] and b["ci"][0] <= a["ci"][1]


def _phrase(entry: dict) -> str:
    """``"52.0 % [45.1, 58.8]"`` (the interval only where stored)."""
    text = f"{100 * entry['value']:.1f} %"
    if entry.get("ci"):
        low, high = entry["ci"]
        text += f" [{100 * low:.1f}, {100 * high:.1f}]"
    return text


def trend(comparison: dict, metric: str) -> str:
    """One sentence: where ``metric`` goes from the fewest to the most training examples."""
    name = NAMES[metric]
    points = [(c["examples"], c["metrics"][metric]) for c in comparison["cells"]]
    points = [(x, e) for x, e in points if e.get("value") is not None]
    if not points:
        return f"{name}: undefined in every cell."
    (x0, first), (x1, last) = points[0], points[-1]
    text = f"{name} {_phrase(first)} at {x0:,} examples"
    if len(points) == 1:
        text += " (one cell: no trend)"
    else:
        text += f" -> {_phrase(last)} at {x1:,}"
        diff = 100 * (last["value"] - first["value"])
        overlap = _overlap(first, last)
        if abs(diff) < 0.05:
            text += ": unchanged"
        else:
            text += f": {'up' if diff > 0 else 'down'} {abs(diff):.1f} points"
            if overlap is True:
                text += ", but the 95 % intervals overlap (not resolved at this n)"
            elif overlap is False:
                text += "; the 95 % intervals do not overlap"
        best = max(points, key=lambda p: p[1]["value"])
        if best[1]["value"] > max(first["value"], last["value"]):
            text += f"; highest at {best[0]:,} examples ({_phrase(best[1])})"
    refs = [
        f"{REFERENCES[ref].split(' (')[0]} {100 * r['metrics'][metric]['value']:.1f} %"
        for ref, r in comparison["references"].items()
        if r["metrics"][metric]["value"] is not None
    ]
    if refs:
        text += f"; {', '.join(refs)}"
    if metric == "discrimination":
        # the held-out set is balanced: one verdict for everything (or a coin) scores 50 %
        lo, hi = last.get("ci") or (None, None)
        text += "; chance is 50 % (the held-out set is balanced)"
        if lo is not None and hi is not None and lo <= 0.5 <= hi:
            text += f", inside the interval at {x1:,} examples"
    return text + "."


def _examples_cell(c: dict) -> str:
    text = f"{c['examples']:,}"
    asked = c.get("requested_examples")
    if asked and asked != c["examples"]:
        text += f" (of {asked:,} asked)"
    return text


def _seconds_cell(c: dict) -> str:
    if c.get("train_seconds") is None:
        return "–"
    return f"{c['train_seconds']:,.0f}" + (" (reused)" if c.get("train_reused_from") else "")


def markdown(comparison: dict, plot_name: str | None) -> str:
    cells, refs = comparison["cells"], comparison["references"]
    held = comparison["held_out"]
    head = ["examples", "training (s)"] + [LABELS[m] for m in METRICS] + ["run"]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for c in cells:
        vals = [pct_ci(c["metrics"][m]) for m in METRICS]
        rows.append("| " + " | ".join([_examples_cell(c), _seconds_cell(c), *vals, f"`{c['label']}`"]) + " |")
    for name, r in refs.items():
        vals = [pct_ci(r["metrics"][m]) for m in METRICS]
        rows.append("| " + " | ".join([REFERENCES[name], "–", *vals, f"`{Path(r['run']).name}`"]) + " |")
    same = {
        True: "the same responses in every cell",
        False: "**not the same responses in every cell**: the cells are not comparable point for point",
        None: "whether every cell used the same responses is not known (a run has no responses.jsonl)",
    }[held["same_in_every_cell"]]
    parts = [
        "# The critic's learning curve",
        "",
        f"The trained critic of {len(cells)} run(s) of `selfimprove/critic-all.sh` that differ in the number of "
        f"training examples (`CRITIC_EXAMPLES`; the column gives the number actually trained on, from "
        f"`critic/stats.json`). Held-out: {held['n']} responses, {same}.",
        "",
        *rows,
        "",
        "_How to read: each metric in % with its 95 % interval and n, the responses it is computed on "
        "(helpfulness: the wrong ones; first-error F1: those whose first wrong step is known). Intervals: "
        "Wilson score; first-error F1, the harmonic mean of two accuracies: the harmonic means of their "
        "97.5 % Wilson bounds (conservative). Training: the seconds of the critic's training step "
        "(`critic/05_train` in the run's manifest; reused: the same data was trained in another cell). The "
        "untrained base, the likelihood critic (where the sweep builds it) and the programmatic annotator, "
        "which is given the reference answer, are evaluated once, on the same held-out set._",
        "",
        "## Where each metric goes with data",
        "",
        *[f"- {comparison['trends'][m]}" for m in METRICS],
    ]
    if comparison.get("skipped"):
        parts += ["", "Not on the curve: " + "; ".join(f"`{s['run']}` ({s['reason']})" for s in comparison["skipped"])]
    if plot_name:
        parts += ["", f"![critic learning curve]({plot_name})"]
    return "\n".join(parts) + "\n"


# --------------------------------------------------------------------------- plot


def plot(comparison: dict, path: Path) -> str | None:
    """One panel per metric: the trained critic over its training examples (log scale), error bars
    the 95 % intervals, dashed lines the references."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells = [c for c in comparison["cells"] if c["examples"] > 0]  # a log axis has no 0
    if not cells:
        return None
    styles = {BASE: ("tab:gray", "--"), LIKELIHOOD: ("tab:orange", "-."), PROGRAMMATIC: ("tab:green", "--")}
    fig, axes = plt.subplots(1, len(METRICS), figsize=(3.3 * len(METRICS), 3.4), sharey=True)
    xs_all = [c["examples"] for c in cells]
    for ax, metric in zip(axes, METRICS):
        pts = [(c["examples"], c["metrics"][metric]) for c in cells if c["metrics"][metric]["value"] is not None]
        if pts:
            xs = [x for x, _ in pts]
            ys = [100 * e["value"] for _, e in pts]
            below = [y - 100 * e["ci"][0] if e.get("ci") else 0.0 for y, (_, e) in zip(ys, pts)]
            above = [100 * e["ci"][1] - y if e.get("ci") else 0.0 for y, (_, e) in zip(ys, pts)]
            ax.errorbar(
                xs,
                ys,
                yerr=[[max(0.0, b) for b in below], [max(0.0, a) for a in above]],
                marker="o",
                capsize=3,
                color="tab:blue",
                label="trained",
            )
        for name, ref in comparison["references"].items():
            v = ref["metrics"][metric]["value"]
            if v is not None:
                color, style = styles[name]
                ax.axhline(100 * v, color=color, linestyle=style, linewidth=1, label=REFERENCES[name])
        ax.set_xscale("log")
        ax.set_xticks(xs_all)
        ax.set_xticklabels([f"{x:,}" for x in xs_all], fontsize=7)
        ax.minorticks_off()
        ax.set_ylim(-3, 103)
        ax.set_title(LABELS[metric], fontsize=9)
        ax.set_xlabel("training examples", fontsize=8)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("% (95 % intervals)")
    handles, labels = axes[0].get_legend_handles_labels()
    for ax in axes[1:]:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    fig.legend(handles, labels, loc="lower center", ncol=max(1, len(labels)), fontsize=8, frameon=False)
    fig.suptitle(f"The critic's learning curve ({comparison['held_out']['n']} held-out responses)", fontsize=10)
    fig.tight_layout(rect=(0, 0.08, 1, 0.95))
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return path.name


def write_curve(runs: Sequence[str | Path], out_dir: str | Path) -> Path:
    """``comparison.json``, ``critic_curve.png`` and ``report.md`` in ``out_dir``; returns the report."""
    out_dir = Path(out_dir)
    comparison = curve(runs)
    atomic_write_json(RunLayout.critic_curve_file(out_dir, "comparison"), comparison)
    png = plot(comparison, RunLayout.critic_curve_file(out_dir, "plot"))
    report = RunLayout.critic_curve_file(out_dir, "report")
    atomic_write_text(report, markdown(comparison, png))
    return report
