"""Plots and report text of the exploration analysis (:mod:`selfimprove.evaluation.exploration`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from selfimprove.core.layout import RunLayout  # noqa: E402
from selfimprove.evaluation.markdown import img, table  # noqa: E402
from selfimprove.evaluation.plots import save_png  # noqa: E402

VANILLA_COLOR, CRITIQUE_COLOR = "tab:gray", "tab:orange"
MV_RIGHT_COLOR, MV_WRONG_COLOR = "tab:green", "tab:red"


def _iterations(analysis: Mapping) -> list[tuple[str, Mapping]]:
    return sorted(analysis["per_iteration"].items(), key=lambda kv: int(kv[0]))


def _panels(n: int, width: float = 4.6):
    fig, axes = plt.subplots(1, n, figsize=(width * n, 4.2), squeeze=False, sharey=True)
    return fig, axes[0]


def _pct(num: Mapping | None) -> float:
    return 0.0 if not num or num.get("value") is None else 100.0 * num["value"]


def _grouped(ax, labels: Sequence[str], series: Sequence[tuple[str, str, Sequence[float]]]) -> None:
    width = 0.8 / max(len(series), 1)
    for i, (name, color, heights) in enumerate(series):
        xs = [j + (i - (len(series) - 1) / 2) * width for j in range(len(labels))]
        ax.bar(xs, heights, width, color=color, label=name)
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels)
    ax.grid(True, axis="y", alpha=0.3)


def _legend(fig, ax) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize="small", frameon=False)
    fig.tight_layout(rect=(0, 0.08, 1, 1))


def plot_kept_by_level(analysis: Mapping, path: Path) -> str | None:
    """Fig. 7: share of each iteration's kept training data per level, vanilla vs critique."""
    its = _iterations(analysis)
    if not its:
        return None
    fig, axes = _panels(len(its))
    for ax, (k, it) in zip(axes, its):
        kept = it["kept_data"]
        levels = list(kept["vanilla"]["by_level"])
        series = [
            ("vanilla (correct samples)", VANILLA_COLOR, [_pct(kept["vanilla"]["by_level"][lv]) for lv in levels])
        ]
        if kept["critique"]:
            series.append(
                (
                    "critique-in-the-loop (+ kept refinements)",
                    CRITIQUE_COLOR,
                    [_pct(kept["critique"]["by_level"][lv]) for lv in levels],
                )
            )
        _grouped(ax, [f"level {lv}" for lv in levels], series)
        ax.set_title(f"iteration {k}")
        ax.set_ylim(0, 105)
    axes[0].set_ylabel("share of kept training data (%)")
    fig.suptitle("Kept training data per difficulty level")
    _legend(fig, axes[0])
    return save_png(fig, path, layout=False)


def plot_efficiency(analysis: Mapping, path: Path) -> str | None:
    """Share of questions with at least one correct solution, per level, without/with critique."""
    its = _iterations(analysis)
    if not its:
        return None
    fig, axes = _panels(len(its))
    for ax, (k, it) in zip(axes, its):
        by_level = it["exploration"]["by_level"]
        levels = list(by_level)
        series = [("without critique", VANILLA_COLOR, [_pct(by_level[lv]["without_critique"]) for lv in levels])]
        if it["critique"]:
            series.append(("with critique", CRITIQUE_COLOR, [_pct(by_level[lv]["with_critique"]) for lv in levels]))
        labels = [f"level {lv}\n(n={by_level[lv]['without_critique']['n']})" for lv in levels]
        _grouped(ax, labels, series)
        ax.set_title(f"iteration {k}")
        ax.set_ylim(0, 105)
    axes[0].set_ylabel("questions with ≥ 1 correct solution (%)")
    fig.suptitle("Exploration efficiency")
    _legend(fig, axes[0])
    return save_png(fig, path, layout=False)


def plot_diversity(analysis: Mapping, path: Path) -> str | None:
    """Mean distinct correct answers and paths per solved question, per iteration."""
    its = _iterations(analysis)
    if not its:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(9.2, 4.2), squeeze=False)
    labels = [f"iteration {k}" for k, _ in its]
    for ax, key, title in zip(
        axes[0],
        ("distinct_correct_answers", "distinct_correct_paths"),
        ("distinct correct answers", "distinct correct solution paths"),
    ):
        series = [
            (
                "without critique",
                VANILLA_COLOR,
                [it["diversity"]["overall"]["without_critique"][key]["mean"] or 0.0 for _, it in its],
            )
        ]
        if any(it["critique"] for _, it in its):
            series.append(
                (
                    "with critique",
                    CRITIQUE_COLOR,
                    [
                        ((it["diversity"]["overall"]["with_critique"] or {}).get(key) or {}).get("mean") or 0.0
                        for _, it in its
                    ],
                )
            )
        _grouped(ax, labels, series)
        ax.set_title(title)
        ax.set_ylabel("mean per question with a correct solution")
    fig.suptitle("Solution diversity")
    _legend(fig, axes[0][0])
    return save_png(fig, path, layout=False)


def plot_correct_frequency(analysis: Mapping, path: Path) -> str | None:
    """Fig. F: per-problem share of correct samples, sorted, coloured by majority-vote correctness."""
    its = _iterations(analysis)
    if not its or not any(it["correct_frequency"] for _, it in its):
        return None
    fig, axes = _panels(len(its), width=5.2)
    for ax, (k, it) in zip(axes, its):
        rows = sorted(it["correct_frequency"], key=lambda r: (-r["frequency"], r["qid"]))
        colors = [MV_RIGHT_COLOR if r["mv_correct"] else MV_WRONG_COLOR for r in rows]
        heights = [100.0 * r["frequency"] for r in rows]
        ax.bar(range(len(rows)), heights, 0.9, color=colors)
        ax.scatter(range(len(rows)), heights, s=12, color=colors, zorder=3, clip_on=False)  # zeros stay visible
        ax.set_title(f"iteration {k} ({len(rows)} problems)")
        ax.set_xlabel("problems, sorted by correct frequency")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylim(0, 105)
        ax.grid(True, axis="y", alpha=0.3)
    axes[0].set_ylabel("correct samples (%)")
    handles = [
        Patch(color=MV_RIGHT_COLOR, label="majority vote correct"),
        Patch(color=MV_WRONG_COLOR, label="majority vote wrong"),
    ]
    fig.legend(handles=handles, loc="lower center", ncol=2, fontsize="small", frameon=False)
    fig.suptitle("Per-problem correct frequency")
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return save_png(fig, path, layout=False)


def exploration_plots(analysis: Mapping, out_dir: Path, prefix: str = "exploration_") -> dict[str, str | None]:
    """Write every exploration plot into ``out_dir``; ``{key: file name or None}``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    return {
        "kept": plot_kept_by_level(analysis, RunLayout.exploration_file(out_dir, "kept", prefix)),
        "efficiency": plot_efficiency(analysis, RunLayout.exploration_file(out_dir, "efficiency", prefix)),
        "diversity": plot_diversity(analysis, RunLayout.exploration_file(out_dir, "diversity", prefix)),
        "frequency": plot_correct_frequency(analysis, RunLayout.exploration_file(out_dir, "frequency", prefix)),
    }


def _cell(num: Mapping | None) -> str:
    if num is None:
        return "–"
    if "mean" in num:
        return "n/a (n=0)" if num["mean"] is None else f"{num['mean']:.2f} (n={num['n']})"
    v = num.get("value")
    count = f"{num['count']}/{num['n']}" if "count" in num else f"n={num['n']}"
    return f"{'n/a' if v is None else f'{100 * v:.1f}'} ({count})"


def exploration_markdown(analysis: Mapping, plots: Mapping[str, str | None], h: str = "##") -> list[str]:
    """The exploration section of a report."""
    out = [
        f"{h} Exploration during self-improvement (training records)",
        "",
        f"_How to read: from `{analysis['run']}`, iterations {', '.join(map(str, analysis['iterations']))}. "
        "Level = the question's own level, else the bin of the actor's sampled accuracy pooled over all "
        f"iterations (level sources: {analysis['level_source']}). Vanilla = correct samples only; "
        "critique = correct samples + kept refinements. Percentages with count/n._",
        "",
    ]
    its = _iterations(analysis)
    rows = []
    for k, it in its:
        for lv, v in it["kept_data"]["vanilla"]["by_level"].items():
            c = (it["kept_data"]["critique"] or {}).get("by_level", {}).get(lv)
            rows.append([k, lv, _cell(v), _cell(c)])
    out += [f"{h}# Kept training data per level (Fig. 7)", ""]
    out += table(["iteration", "level", "vanilla share", "critique-in-the-loop share"], rows)
    out += img(plots.get("kept"), "Kept training data per level")
    rows = []
    for k, it in its:
        for lv, e in [("all", it["exploration"]["overall"]), *it["exploration"]["by_level"].items()]:
            rows.append([k, lv, _cell(e["without_critique"]), _cell(e["with_critique"])])
    out += [f"{h}# Exploration efficiency", "", "Questions with at least one correct solution.", ""]
    out += table(["iteration", "level", "without critique", "with critique"], rows)
    out += img(plots.get("efficiency"), "Exploration efficiency")
    rows = []
    for k, it in its:
        d = it["diversity"]["overall"]
        w = d["with_critique"] or {}
        rows.append(
            [
                k,
                _cell(d["without_critique"]["distinct_correct_answers"]),
                _cell(w.get("distinct_correct_answers")),
                _cell(d["without_critique"]["distinct_correct_paths"]),
                _cell(w.get("distinct_correct_paths")),
            ]
        )
    out += [
        f"{h}# Solution diversity",
        "",
        "Mean per question with a correct solution. A solution path is "
        + analysis["definitions"]["solution_path"]
        + ".",
        "",
    ]
    header = ["iteration", "answers, without critique", "answers, with critique", "paths, without critique"]
    out += table(header + ["paths, with critique"], rows)
    out += img(plots.get("diversity"), "Solution diversity")
    out += [f"{h}# Per-problem correct frequency (Fig. F)", ""]
    out += img(plots.get("frequency"), "Per-problem correct frequency")
    return out
