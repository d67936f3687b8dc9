"""Plots of one ``results.json`` (or of several, one per self-improvement iteration).

Each ``plot_*`` function renders one PNG, writes it atomically and returns its file name, or
``None`` when there is nothing to draw.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FixedLocator, NullLocator, ScalarFormatter  # noqa: E402

from selfimprove.core.io import atomic_write_bytes  # noqa: E402
from selfimprove.evaluation.views import (  # noqa: E402
    CRITIC_FILTERED_COLOR,
    MODE_COLORS,
    MODE_LABELS,
    MODE_STYLES,
    RESPONSE_ONLY_COLOR,
    at,
    computed_modes,
    iteration_labels,
    level_rows,
    pct,
    sequential_vote,
    xy,
)


def save_png(fig, path: Path, layout: bool = True) -> str:
    """Render ``fig`` as PNG, write it atomically to ``path`` and return the file name."""
    buf = io.BytesIO()
    if layout:
        fig.tight_layout()
    fig.savefig(buf, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return path.name


def log2_axis(ax, ticks: Sequence[int], label: str) -> None:
    ax.set_xscale("log", base=2)
    ticks = sorted(set(ticks))
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(ScalarFormatter())
    if len(ticks) == 1:
        ax.set_xlim(ticks[0] / 1.5, ticks[0] * 1.5)
    ax.set_xlabel(label)


def finish_axes(ax, title: str, ylabel: str = "accuracy (%)") -> None:
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    if ylabel.endswith("(%)"):
        lo, hi = ax.get_ylim()
        ax.set_ylim(max(0.0, min(lo, 0.0)), min(105.0, max(hi, 10.0)))  # no zoom into noise
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:  # below the plot, so it never hides a curve
        ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)


# ---------------------------------------------------------------------------------------
# Plots (each returns the file name written, or None when there is nothing to draw)
# ---------------------------------------------------------------------------------------


def plot_k_curves(block: Mapping, metric: str, title: str, path: Path) -> str | None:
    """``metric`` ("pass_at_k" or "mv_at_k") vs K: response only, each parallel mode, and
    (for MV) critic-filtered voting."""
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    ks: list[int] = []
    xs, ys = xy(block["response_only"].get(metric))
    ax.plot(xs, ys, "o-", color=RESPONSE_ONLY_COLOR, label="response only")
    ks += xs
    for mode, par in computed_modes(block).items():
        xs, ys = xy(par.get(metric))
        ax.plot(
            xs,
            ys,
            "o",
            linestyle=MODE_STYLES.get(mode, "-"),
            color=MODE_COLORS.get(mode),
            label=MODE_LABELS.get(mode, mode),
        )
        ks += xs
    if metric == "mv_at_k" and block.get("critic_filtered"):
        xs, ys = xy(block["critic_filtered"].get("mv_at_k"))
        ax.plot(xs, ys, "s-.", color=CRITIC_FILTERED_COLOR, label="critic-filtered MV")
        ks += xs
    if not ks:
        plt.close(fig)
        return None
    log2_axis(ax, ks, "K (samples per question, log2 scale)")
    finish_axes(ax, title)
    return save_png(fig, path)


def _with_critique(row: Mapping, mode: str) -> Mapping | None:
    return (row.get("with_critique") or {}).get(mode)


def plot_compute_matched(block: Mapping, title: str, path: Path) -> str | None:
    """Grouped bars per K: MV@K, MV@2K, MV@3K without critique next to MV@K with critique.

    K groups are powers of two, equally spaced (a log2 axis).
    """
    rows = block.get("compute_matched") or []
    if not rows:
        return None
    series = [
        ("MV@K, no critique", "#222222", lambda r: r["mv_k"]),
        ("MV@2K, no critique", "#777777", lambda r: r["mv_2k"]),
        ("MV@3K, no critique (same compute)", "#bbbbbb", lambda r: r["mv_3k"]),
    ]
    for mode in ("refine_all", "verifier"):
        if any((r.get("with_critique") or {}).get(mode) for r in rows):
            series.append(
                (
                    f"MV@K, {MODE_LABELS[mode]}",
                    MODE_COLORS[mode],
                    partial(_with_critique, mode=mode),
                )
            )
    fig, ax = plt.subplots(figsize=(7.2, 5.2))
    width = 0.8 / len(series)
    for i, (label, color, get) in enumerate(series):
        xs = [j + (i - (len(series) - 1) / 2) * width for j in range(len(rows))]
        ax.bar(xs, [pct(get(r)) or 0.0 for r in rows], width, color=color, label=label)
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels([f"K={r['k']}" for r in rows])
    ax.set_xlabel("K critiqued+refined samples ≈ 3K plain samples (K on log2 spacing)")
    ax.set_ylim(0, 105)
    ax.set_title(title)
    ax.set_ylabel("accuracy (%)")
    ax.grid(True, axis="y", alpha=0.3)
    fig.legend(*ax.get_legend_handles_labels(), loc="lower center", ncol=2, fontsize="small")
    fig.tight_layout(rect=(0, 0.13, 1, 1))
    return save_png(fig, path, layout=False)


def plot_parallel_vs_sequential(block: Mapping, title: str, path: Path) -> str | None:
    """Accuracy against generations spent per question (actor samples + critiques +
    refinements): plain MV@K costs K, parallel critique-refine MV@K about 3K, sequential
    round r of K chains costs K (1 + 2r)."""
    par, seq = computed_modes(block), block.get("sequential")
    if not par and not seq:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    xs, ys = xy(block["response_only"].get("mv_at_k"))
    ax.plot(xs, ys, "o-", color=RESPONSE_ONLY_COLOR, label="MV@K, no critique")
    ticks = list(xs)
    for mode, p in par.items():
        xs, ys = xy(p.get("mv_at_k"), scale=lambda k: 3 * k)
        ax.plot(
            xs,
            ys,
            "o" + MODE_STYLES.get(mode, "-"),
            color=MODE_COLORS.get(mode),
            label=f"parallel MV@K, {MODE_LABELS.get(mode, mode)}",
        )
        ticks += xs
    if seq:
        chains = seq.get("chains") or 1
        bound = ", oracle (upper bound)" if seq.get("upper_bound") else ""
        for points, label, style, color in (
            (seq.get("final"), "sequential final", "D-", "tab:purple"),
            (sequential_vote(seq), "sequential MV, rounds 0..r", "D--", "tab:brown"),
            (seq.get("mv_refinements_1_to_r"), "sequential MV, refinements 1..r (released)", "v:", "tab:pink"),
        ):
            if not points:
                continue
            xs, ys = xy(points, key="round", scale=lambda r: chains * (1 + 2 * r))
            ax.plot(xs, ys, style, color=color, label=label + bound)
            ticks += xs
    log2_axis(ax, ticks, "generations per question (log2 scale)")
    finish_axes(ax, title)
    return save_png(fig, path)


def plot_levels(ds: Mapping, n_pool: int, title: str, path: Path) -> str | None:
    """Per-level bars of Pass@1 and MV@N: response only vs each parallel mode."""
    levels = level_rows(ds)
    if not levels:
        return None
    series: list[tuple[str, str | None]] = [("response only", None)]
    series += [(MODE_LABELS.get(m, m), m) for m in computed_modes(ds["overall"])]
    colors: dict[str | None, str] = {None: "tab:gray"}
    colors.update(MODE_COLORS)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.4), sharey=True)
    width = 0.8 / len(series)
    for ax, (metric, k, name) in zip(axes, (("pass_at_k", 1, "Pass@1"), ("mv_at_k", n_pool, f"MV@{n_pool}"))):
        for i, (label, mode) in enumerate(series):
            heights = []
            for _, block in levels:
                src = block["response_only"] if mode is None else (block.get("parallel") or {}).get(mode)
                v = pct(at((src or {}).get(metric), "k", k))
                heights.append(0.0 if v is None else v)
            xs = [j + (i - (len(series) - 1) / 2) * width for j in range(len(levels))]
            ax.bar(xs, heights, width, color=colors.get(mode), label=label)
        ax.set_xticks(range(len(levels)))
        ax.set_xticklabels([f"level {lv}\n(n={b['n_questions']})" for lv, b in levels])
        ax.set_ylim(0, 105)
        ax.set_title(name)
        ax.grid(True, axis="y", alpha=0.3)
    axes[0].set_ylabel("accuracy (%)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(series), fontsize="small")
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return save_png(fig, path, layout=False)


def plot_iterations(all_results: Sequence[Mapping], path: Path) -> str | None:
    """Accuracy per self-improvement iteration, one panel per dataset."""
    names = list(dict.fromkeys(name for r in all_results for name in r["datasets"]))
    if not names:
        return None
    fig, axes = plt.subplots(1, len(names), figsize=(5.2 * len(names), 4.4), squeeze=False)
    labels = iteration_labels(all_results)
    for ax, name in zip(axes[0], names):
        lines: dict[str, list[float | None]] = {
            "greedy": [],
            "Pass@1": [],
            "MV@N": [],
            "MV@N, critique-refine (refine all)": [],
        }
        for r in all_results:
            o = r["datasets"].get(name, {}).get("overall")
            ro = (o or {}).get("response_only") or {}
            par = ((o or {}).get("parallel") or {}).get("refine_all") or {}
            lines["greedy"].append(pct(ro.get("greedy")))
            lines["Pass@1"].append(pct(at(ro.get("pass_at_k"), "k", 1)))
            lines["MV@N"].append(pct(at(ro.get("mv_at_k"), "k", r["N"])))
            lines["MV@N, critique-refine (refine all)"].append(pct(at(par.get("mv_at_k"), "k", r["N"])))
        for label, ys in lines.items():
            pts = [(i, y) for i, y in enumerate(ys) if y is not None]
            if pts:
                ax.plot(*zip(*pts), "o-", label=label)
        ax.set_xticks(range(len(labels)))
        ax.set_xticklabels(labels)
        ax.set_xlabel("self-improvement iteration")
        finish_axes(ax, name)
    fig.suptitle("Accuracy per self-improvement iteration")
    return save_png(fig, path)
