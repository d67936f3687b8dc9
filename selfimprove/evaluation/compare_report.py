"""Plots and ``report.md`` of a cross-run comparison (:mod:`selfimprove.evaluation.compare`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from selfimprove.core.io import atomic_write_text  # noqa: E402
from selfimprove.core.layout import RunLayout  # noqa: E402
from selfimprove.evaluation.markdown import img, table  # noqa: E402
from selfimprove.evaluation.paper import points  # noqa: E402
from selfimprove.evaluation.plots import save_png  # noqa: E402

SIGNIFICANT_COLOR, PLAIN_COLOR = "tab:red", "tab:gray"


def ci_cell(num: Mapping | None) -> str:
    """``"62.5 [55.0, 70.0] (n=40)"``; without an interval ``"62.5 (n=40)"``; ``"–"`` when absent."""
    if not num or num.get("value") is None:
        return "–" if not num else f"n/a (n={num.get('n', 0)})"
    text = f"{100 * num['value']:.1f}"
    if num.get("low") is not None:
        text += f" [{100 * num['low']:.1f}, {100 * num['high']:.1f}]"
    return f"{text} (n={num['n']})"


def diff_cell(d: Mapping) -> str:
    """A difference in points with its interval, ``*`` when the interval excludes zero."""
    if d.get("value") is None:
        return "–"
    mark = " *" if d.get("significant") else ""
    return f"{100 * d['value']:+.1f} [{100 * d['low']:+.1f}, {100 * d['high']:+.1f}]{mark}"


def paper_cell(p: Mapping | None) -> str:
    """The paper's number as printed, with its table or figure and how it was read."""
    return "–" if not p else f"{points(p['value'])} ({p['figure']}, {p['provenance']})"


def paper_diff_cell(p: Mapping | None) -> str:
    """Ours minus the paper's, in points."""
    return "–" if not p or p.get("difference") is None else f"{p['difference']:+.1f}"


def paper_cells(papers: Sequence[Mapping | None]) -> tuple[str, str]:
    """Several of the paper's numbers in one cell (``"54.8 / 75.2 / 54.5 (Table 3, verbatim)"``) and
    their differences (``"+1.2 / – / -3.0"``); ``("–", "–")`` when none matched."""
    if not any(papers):
        return "–", "–"
    values = " / ".join("–" if not p else points(p["value"]) for p in papers)
    sources = ", ".join(dict.fromkeys(f"{p['figure']}, {p['provenance']}" for p in papers if p))
    return f"{values} ({sources})", " / ".join(paper_diff_cell(p) for p in papers)


def _errorbar(ax, xs: Sequence[float], nums: Sequence[Mapping | None], **kw) -> str | None:
    """Points with their intervals; returns the colour used (``None`` when nothing was drawn)."""
    pts = [(x, n) for x, n in zip(xs, nums) if n and n.get("value") is not None]
    if not pts:
        return None
    ys = [100 * n["value"] for _, n in pts]
    lo = [100 * (n["value"] - n["low"]) if n.get("low") is not None else 0.0 for _, n in pts]
    hi = [100 * (n["high"] - n["value"]) if n.get("high") is not None else 0.0 for _, n in pts]
    drawn = ax.errorbar([x for x, _ in pts], ys, yerr=[lo, hi], capsize=3, **kw)
    return drawn.lines[0].get_color() if drawn.lines[0] is not None else None


def plot_iterations(comparison: Mapping, path: Path) -> str | None:
    """Fig. 6: Pass@1 per iteration, one line per (method, N), one panel per dataset."""
    points = comparison["per_iteration"]
    datasets = list(dict.fromkeys(p["dataset"] for p in points))
    if not datasets:
        return None
    fig, axes = plt.subplots(1, len(datasets), figsize=(5.4 * len(datasets), 4.4), squeeze=False)
    for ax, ds in zip(axes[0], datasets):
        series: dict[tuple, list[Mapping]] = {}
        for p in points:
            if p["dataset"] == ds:
                series.setdefault((p["method"], p["N"], p["run"]), []).append(p)
        actors = list(dict.fromkeys(p["actor"] for p in points if p["dataset"] == ds))
        for (method, n, run), pts in series.items():
            xs = [actors.index(p["actor"]) for p in pts]
            style = "--" if method == "vanilla" else "-"
            color = _errorbar(ax, xs, [p["pass_at_1"] for p in pts], fmt="o" + style, label=f"{run}: {method}, N={n}")
            paper = [(x, p["paper"]["value"]) for x, p in zip(xs, pts) if p.get("paper")]
            if paper:  # the paper's numbers for the same setting, already in points
                ax.plot(
                    [x for x, _ in paper],
                    [v for _, v in paper],
                    "x" + style,
                    color=color,
                    alpha=0.6,
                    label=f"paper ({pts[0]['paper']['figure']}): {method}, N={n}",
                )
        ax.set_xticks(range(len(actors)))
        ax.set_xticklabels(actors)
        ax.set_xlabel("actor (self-improvement iteration)")
        ax.set_ylabel("Pass@1 (%), 95% interval")
        ax.set_ylim(0, 105)
        ax.set_title(ds)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=1, frameon=False)
    fig.suptitle("Pass@1 per iteration: vanilla vs critique-in-the-loop self-improvement")
    return save_png(fig, path)


def plot_grid(comparison: Mapping, path: Path) -> str | None:
    """Table 3 as bars: each run's Acc, Pass@K, MV@K, response only and with the critique model."""
    rows = comparison["grid"]
    if not rows:
        return None
    metrics = [(side, m) for side in ("response_only", "with_critique") for m in ("acc", "pass_at_k", "mv_at_k")]
    names = {"acc": "Acc", "pass_at_k": "Pass@K", "mv_at_k": "MV@K"}
    fig, ax = plt.subplots(figsize=(max(6.4, 1.6 * len(rows) + 3), 4.6))
    width = 0.8 / len(metrics)
    for i, (side, m) in enumerate(metrics):
        xs = [j + (i - (len(metrics) - 1) / 2) * width for j in range(len(rows))]
        label = f"{names[m]}, {'with critique' if side == 'with_critique' else 'response only'}"
        hatch = "//" if side == "with_critique" else None
        vals = [r[side].get(m) for r in rows]
        ax.bar(xs, [100 * (v["value"] or 0) if v else 0 for v in vals], width, label=label, hatch=hatch, alpha=0.85)
        _errorbar(ax, xs, vals, fmt="none", ecolor="black")
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels([f"{r['run']}\n{r['dataset']} (K={r['k']})" for r in rows], fontsize="small")
    ax.set_ylim(0, 105)
    ax.set_ylabel("accuracy (%)")
    ax.set_title("Training method x test-time method (Table 3)")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize="x-small", loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3, frameon=False)
    return save_png(fig, path)


def plot_critics(comparison: Mapping, path: Path) -> str | None:
    """Table 2 as bars: the critic's discrimination, helpfulness and harm per run."""
    rows = [r for r in comparison["critics"] if r.get("helpfulness") or r.get("discrimination_accuracy")]
    if not rows:
        return None
    keys = [("discrimination_accuracy", "discrimination"), ("helpfulness", "helpfulness"), ("harm", "harm")]
    fig, ax = plt.subplots(figsize=(max(6.4, 1.4 * len(rows) + 3), 4.4))
    width = 0.8 / len(keys)
    for i, (key, label) in enumerate(keys):
        xs = [j + (i - (len(keys) - 1) / 2) * width for j in range(len(rows))]
        vals = [r.get(key) for r in rows]
        ax.bar(xs, [100 * (v["value"] or 0) if v else 0 for v in vals], width, label=label)
        _errorbar(ax, xs, vals, fmt="none", ecolor="black")
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels([f"{r['run']}\n{r['dataset']}" for r in rows], fontsize="small")
    ax.set_ylim(0, 105)
    ax.set_ylabel("share (%), 95% interval")
    ax.set_title("Critic quality (Table 2)")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize="small")
    return save_png(fig, path)


def plot_level_differences(comparison: Mapping, path: Path) -> str | None:
    """Fig. 8: per-level Pass@1 difference from the first run, red where the interval excludes 0."""
    rows = [r for r in comparison["level_differences"] if r["metric"] == "pass_at_1"]
    if not rows:
        return None
    panels = list(dict.fromkeys((r["run"], r["dataset"]) for r in rows))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.8 * len(panels), 4.2), squeeze=False)
    for ax, (run, ds) in zip(axes[0], panels):
        sel = [r for r in rows if r["run"] == run and r["dataset"] == ds]
        diffs = [r["difference"] for r in sel]
        colors = [SIGNIFICANT_COLOR if d["significant"] else PLAIN_COLOR for d in diffs]
        xs = list(range(len(sel)))
        ax.bar(xs, [100 * d["value"] for d in diffs], 0.6, color=colors)
        lo = [100 * (d["value"] - d["low"]) for d in diffs]
        hi = [100 * (d["high"] - d["value"]) for d in diffs]
        ax.errorbar(xs, [100 * d["value"] for d in diffs], yerr=[lo, hi], fmt="none", ecolor="black", capsize=3)
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_xticks(xs)
        ax.set_xticklabels([f"level {r['level']}\n(n={r['difference']['n']})" for r in sel])
        ax.set_title(f"{run} - {sel[0]['base']} ({ds})")
        ax.set_ylabel("Pass@1 difference (points)")
        ax.grid(True, axis="y", alpha=0.3)
    fig.suptitle("Per-level difference from the first run (red: 95% interval excludes 0)")
    return save_png(fig, path)


def comparison_markdown(c: Mapping, plots: Mapping[str, str | None]) -> list[str]:
    """The text of the comparison's ``report.md``: the runs, then one section per figure or table."""
    return (
        _runs_section(c)
        + _iterations_section(c, plots)
        + _grid_section(c, plots)
        + _critics_section(c, plots)
        + _levels_section(c, plots)
        + _exploration_section(c)
    )


def _runs_section(c: Mapping) -> list[str]:
    """The title, the runs compared and how to read the numbers."""
    out = ["# MathCritique comparison across runs", ""]
    out += table(
        ["run", "method", "N (training samples)", "base model", "evaluated actors"],
        [[r["label"], r["method"], r["N"] or "–", r["model"] or "–", ", ".join(r["evaluated"])] for r in c["runs"]],
    )
    out += [
        f"_How to read: accuracies in % with a {int(100 * c['confidence'])}% percentile-bootstrap interval over "
        "questions [low, high] and the n behind each number; differences in points, `*` where the interval "
        "excludes zero. A number without an interval comes from results.json (the records were not found). "
        "paper = the paper's number for the same setting (model family, method, N, iteration, critic, test-time "
        "method, dataset, metric, K), with its table or figure and how it was read (verbatim, printed label, or "
        "plot reading: about ±1 point); ours − paper in points. "
        f"Paper numbers: {c.get('reference_source') or 'none'}._",
        "",
    ]
    return out


def _iterations_section(c: Mapping, plots: Mapping[str, str | None]) -> list[str]:
    """Pass@1 per iteration (Fig. 6)."""
    out = ["## Pass@1 per iteration (Fig. 6)", ""]
    out += table(
        ["run", "method", "N", "actor", "dataset", "Pass@1", "paper", "ours − paper"],
        [
            [
                p["run"],
                p["method"],
                p["N"] or "–",
                p["actor"],
                p["dataset"],
                ci_cell(p["pass_at_1"]),
                paper_cell(p["paper"]),
                paper_diff_cell(p["paper"]),
            ]
            for p in c["per_iteration"]
        ],
    )
    out += img(plots.get("iterations"), "Pass@1 per iteration")
    return out


def _grid_section(c: Mapping, plots: Mapping[str, str | None]) -> list[str]:
    """Training method x test-time method (Table 3)."""
    out = ["## Training method x test-time method (Table 3)", ""]
    rows = []
    for r in c["grid"]:
        for side, name in (("response_only", "response only"), ("with_critique", "with critique model")):
            vals = r[side]
            paper = vals.get("paper") or {}
            rows.append(
                [r["run"], r["method"], r["dataset"], name]
                + [ci_cell(vals.get(m)) for m in ("acc", "pass_at_k", "mv_at_k")]
                + list(paper_cells([paper.get(m) for m in ("acc", "pass_at_k", "mv_at_k")]))
            )
    k = c["grid"][0]["k"] if c["grid"] else "K"
    out += table(
        ["run", "method", "dataset", "test time", "Acc", f"Pass@{k}", f"MV@{k}", "paper (Acc / Pass / MV)"]
        + ["ours − paper"],
        rows,
    )
    out += [
        "Acc with the critique model = the greedy answer after one critique-refine round; Pass@K and MV@K with it "
        "= every pool sample critiqued and refined (refine all).",
        "",
    ]
    out += img(plots.get("grid"), "Table 3 grid")
    return out


def _critics_section(c: Mapping, plots: Mapping[str, str | None]) -> list[str]:
    """The critic's quality (Table 2)."""
    out = ["## Critic (Table 2)", ""]
    out += table(
        [
            "run",
            "dataset",
            "critic",
            "discrimination",
            "F1",
            "helpfulness",
            "harm",
            "acc. after refinement",
            "format violations",
            "paper (discrimination / helpfulness)",
            "ours − paper",
        ],
        [
            [
                r["run"],
                r["dataset"],
                r.get("critic") or "–",
                ci_cell(r.get("discrimination_accuracy")),
                ci_cell(r.get("f1")),
                ci_cell(r.get("helpfulness")),
                ci_cell(r.get("harm")),
                ci_cell(r.get("accuracy_after_refinement")),
                "–"
                if not r.get("format_violations")
                else f"{r['format_violations']['count']} of {r['format_violations']['n']}",
                *paper_cells([(r.get("paper") or {}).get(m) for m in ("discrimination_accuracy", "helpfulness")]),
            ]
            for r in c["critics"]
        ],
    )
    out += img(plots.get("critics"), "Critic quality")
    return out


def _levels_section(c: Mapping, plots: Mapping[str, str | None]) -> list[str]:
    """Per-level difference from the first run (Fig. 8)."""
    out = ["## Per-level difference from the first run (Fig. 8)", ""]
    if c["level_differences"]:
        out += table(
            ["run", "dataset", "metric", "level", "first run", "this run", "difference", "paired"],
            [
                [
                    r["run"],
                    r["dataset"],
                    r["metric"],
                    r["level"],
                    ci_cell(r["base_value"]),
                    ci_cell(r["run_value"]),
                    diff_cell(r["difference"]),
                    "yes" if r["difference"]["paired"] else "no",
                ]
                for r in c["level_differences"]
            ],
        )
    else:
        out += ["Needs two runs or more with their evaluation records.", ""]
    out += img(plots.get("levels"), "Per-level differences")
    return out


def _exploration_section(c: Mapping) -> list[str]:
    """Kept training data per level, last iteration (Fig. 7)."""
    out = ["## Kept training data per level, last iteration (Fig. 7)", ""]
    rows = [
        [e["run"], e["method"], e["iteration"], lv, f"{100 * (v['value'] or 0):.1f} ({v['count']}/{v['n']})"]
        for e in c["exploration"]
        for lv, v in e["kept_by_level"]["by_level"].items()
    ]
    out += (
        table(["run", "method", "iteration", "level", "share of kept data"], rows)
        if rows
        else ["No training records.", ""]
    )
    return out


def write_comparison(comparison: Mapping, out_dir: str | Path) -> Path:
    """Write the plots and ``report.md`` of a comparison into ``out_dir``; return the report path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    plots = {
        key: plot(comparison, RunLayout.comparison_file(out, key))
        for key, plot in (
            ("iterations", plot_iterations),
            ("grid", plot_grid),
            ("critics", plot_critics),
            ("levels", plot_level_differences),
        )
    }
    report = RunLayout.comparison_file(out, "report")
    atomic_write_text(report, "\n".join(comparison_markdown(comparison, plots)).rstrip("\n") + "\n")
    return report
