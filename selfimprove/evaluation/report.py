"""Plots and a Markdown report from ``results.json`` files (see ``selfimprove.metrics``).

Usage::

    python -m selfimprove.report --results results.json --out DIR
    python -m selfimprove.report --results iter0.json --results iter1.json --out DIR

Several results files are read as the actors of successive self-improvement iterations,
in the order given; the report then opens with an "accuracy per iteration" plot and
table, followed by the full report of every iteration.

Per dataset the report holds: Pass@K and MV@K curves with and without critique (one curve
per parallel mode), the compute-matched comparison, parallel vs sequential
critique-refine, per-level bars, and tables of every number with its denominator ``n``.
All files are written atomically (temp file + ``os.replace``).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FixedLocator, NullLocator, ScalarFormatter  # noqa: E402

from selfimprove.core.io import atomic_write_bytes  # noqa: E402

MODE_LABELS = {
    "oracle": "critique-refine, oracle",
    "refine_all": "critique-refine, refine all",
    "verifier": "critique-refine, verifier",
}
MODE_STYLES = {"oracle": ":", "refine_all": "-", "verifier": "--"}
MODE_COLORS = {"oracle": "tab:blue", "refine_all": "tab:orange", "verifier": "tab:green"}
CRITIC_FILTERED_COLOR = "tab:red"
RESPONSE_ONLY_COLOR = "black"


class ResultsError(Exception):
    """A results file is missing, unreadable or not a MathCritique results file."""


# ---------------------------------------------------------------------------------------
# Reading and writing
# ---------------------------------------------------------------------------------------


def load_results(path: str | os.PathLike) -> dict:
    """Read and sanity-check one ``results.json``; raise :class:`ResultsError` if unusable."""
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
    if not isinstance(results, dict):
        raise ResultsError(f"{path}: expected a JSON object, got {type(results).__name__}")
    for key, kind in (("datasets", dict), ("ks", list), ("N", int), ("config", dict)):
        if not isinstance(results.get(key), kind):
            raise ResultsError(f"{path}: not a MathCritique results file (missing or invalid {key!r})")
    for name, ds in results["datasets"].items():
        if not (isinstance(ds, dict) and isinstance(ds.get("overall"), dict) and isinstance(ds.get("by_level"), dict)):
            raise ResultsError(f"{path}: dataset {name!r} lacks 'overall' / 'by_level' metrics")
    return results


def _atomic_write(path: Path, data: bytes) -> None:
    atomic_write_bytes(path, data)


def _save(fig, path: Path, layout: bool = True) -> str:
    """Render ``fig`` as PNG, write it atomically to ``path`` and return the file name."""
    buf = io.BytesIO()
    if layout:
        fig.tight_layout()
    fig.savefig(buf, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    _atomic_write(path, buf.getvalue())
    return path.name


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "dataset"


# ---------------------------------------------------------------------------------------
# Accessors (every stored number is {"value": float | None, "n": int})
# ---------------------------------------------------------------------------------------


def _pct(num: Mapping | None) -> float | None:
    if not num or num.get("value") is None:
        return None
    return 100.0 * num["value"]


def _cell(num: Mapping | None) -> str:
    """``"66.7 (n=3)"``; ``"–"`` when the method is absent, ``"n/a (n=0)"`` when undefined."""
    if num is None:
        return "–"
    v = _pct(num)
    return f"{'n/a' if v is None else f'{v:.1f}'} (n={num.get('n', 0)})"


def _at(points: Sequence[Mapping] | None, key: str, x: int) -> Mapping | None:
    for p in points or ():
        if p.get(key) == x:
            return p
    return None


def _xy(points: Sequence[Mapping] | None, key: str = "k", scale=lambda x: x):
    xs, ys = [], []
    for p in points or ():
        y = _pct(p)
        if y is not None:
            xs.append(scale(p[key]))
            ys.append(y)
    return xs, ys


def _parallel(block: Mapping) -> dict:
    """The parallel modes that were computed: ``{mode: {...}}``."""
    return {m: v for m, v in (block.get("parallel") or {}).items() if v}


def _log2_axis(ax, ticks: Sequence[int], label: str) -> None:
    ax.set_xscale("log", base=2)
    ticks = sorted(set(ticks))
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(ScalarFormatter())
    if len(ticks) == 1:
        ax.set_xlim(ticks[0] / 1.5, ticks[0] * 1.5)
    ax.set_xlabel(label)


def _finish(ax, title: str, ylabel: str = "accuracy (%)") -> None:
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
    xs, ys = _xy(block["response_only"].get(metric))
    ax.plot(xs, ys, "o-", color=RESPONSE_ONLY_COLOR, label="response only")
    ks += xs
    for mode, par in _parallel(block).items():
        xs, ys = _xy(par.get(metric))
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
        xs, ys = _xy(block["critic_filtered"].get("mv_at_k"))
        ax.plot(xs, ys, "s-.", color=CRITIC_FILTERED_COLOR, label="critic-filtered MV")
        ks += xs
    if not ks:
        plt.close(fig)
        return None
    _log2_axis(ax, ks, "K (samples per question, log2 scale)")
    _finish(ax, title)
    return _save(fig, path)


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
                    lambda r, m=mode: (r.get("with_critique") or {}).get(m),
                )
            )
    fig, ax = plt.subplots(figsize=(7.2, 5.2))
    width = 0.8 / len(series)
    for i, (label, color, get) in enumerate(series):
        xs = [j + (i - (len(series) - 1) / 2) * width for j in range(len(rows))]
        ax.bar(xs, [_pct(get(r)) or 0.0 for r in rows], width, color=color, label=label)
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels([f"K={r['k']}" for r in rows])
    ax.set_xlabel("K critiqued+refined samples ≈ 3K plain samples (K on log2 spacing)")
    ax.set_ylim(0, 105)
    ax.set_title(title)
    ax.set_ylabel("accuracy (%)")
    ax.grid(True, axis="y", alpha=0.3)
    fig.legend(*ax.get_legend_handles_labels(), loc="lower center", ncol=2, fontsize="small")
    fig.tight_layout(rect=(0, 0.13, 1, 1))
    return _save(fig, path, layout=False)


def plot_parallel_vs_sequential(block: Mapping, title: str, path: Path) -> str | None:
    """Accuracy against generations spent per question (actor samples + critiques +
    refinements): plain MV@K costs K, parallel critique-refine MV@K about 3K, sequential
    round r costs 1 + 2r."""
    par, seq = _parallel(block), block.get("sequential")
    if not par and not seq:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    xs, ys = _xy(block["response_only"].get("mv_at_k"))
    ax.plot(xs, ys, "o-", color=RESPONSE_ONLY_COLOR, label="MV@K, no critique")
    ticks = list(xs)
    for mode, p in par.items():
        xs, ys = _xy(p.get("mv_at_k"), scale=lambda k: 3 * k)
        ax.plot(
            xs,
            ys,
            "o" + MODE_STYLES.get(mode, "-"),
            color=MODE_COLORS.get(mode),
            label=f"parallel MV@K, {MODE_LABELS.get(mode, mode)}",
        )
        ticks += xs
    if seq:
        for key, label, style, color in (
            ("final", "sequential final", "D-", "tab:purple"),
            ("mv", "sequential MV", "D--", "tab:brown"),
        ):
            xs, ys = _xy(seq.get(key), key="round", scale=lambda r: 1 + 2 * r)
            ax.plot(xs, ys, style, color=color, label=label)
            ticks += xs
    _log2_axis(ax, ticks, "generations per question (log2 scale)")
    _finish(ax, title)
    return _save(fig, path)


def _level_rows(ds: Mapping) -> list[tuple[str, Mapping]]:
    """``(level, metrics block)`` pairs, levels in numeric order."""
    return sorted(ds["by_level"].items(), key=lambda kv: (len(kv[0]), kv[0]))


def plot_levels(ds: Mapping, n_pool: int, title: str, path: Path) -> str | None:
    """Per-level bars of Pass@1 and MV@N: response only vs each parallel mode."""
    levels = _level_rows(ds)
    if not levels:
        return None
    series = [("response only", None)] + [(MODE_LABELS.get(m, m), m) for m in _parallel(ds["overall"])]
    colors = {None: "tab:gray", **MODE_COLORS}
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.4), sharey=True)
    width = 0.8 / len(series)
    for ax, (metric, k, name) in zip(axes, (("pass_at_k", 1, "Pass@1"), ("mv_at_k", n_pool, f"MV@{n_pool}"))):
        for i, (label, mode) in enumerate(series):
            heights = []
            for _, block in levels:
                src = block["response_only"] if mode is None else (block.get("parallel") or {}).get(mode)
                v = _pct(_at((src or {}).get(metric), "k", k))
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
    return _save(fig, path, layout=False)


def iteration_labels(all_results: Sequence[Mapping]) -> list[str]:
    """One label per results dict, in order: ``config["iteration"]`` if set, else the actor's
    name (last path component), else the position; positions are used if labels repeat."""
    labels = []
    for i, r in enumerate(all_results):
        cfg = r.get("config") or {}
        if cfg.get("iteration") is not None:
            labels.append(str(cfg["iteration"]))
        elif cfg.get("actor"):
            labels.append(Path(str(cfg["actor"]).rstrip("/")).name or str(i))
        else:
            labels.append(str(i))
    if len(set(labels)) < len(labels):
        labels = [str(i) for i in range(len(all_results))]
    return labels


def plot_iterations(all_results: Sequence[Mapping], path: Path) -> str | None:
    """Accuracy per self-improvement iteration, one panel per dataset."""
    names = list(dict.fromkeys(name for r in all_results for name in r["datasets"]))
    if not names:
        return None
    fig, axes = plt.subplots(1, len(names), figsize=(5.2 * len(names), 4.4), squeeze=False)
    labels = iteration_labels(all_results)
    for ax, name in zip(axes[0], names):
        lines = {"greedy": [], "Pass@1": [], "MV@N": [], "MV@N, critique-refine (refine all)": []}
        for r in all_results:
            o = r["datasets"].get(name, {}).get("overall")
            ro = (o or {}).get("response_only") or {}
            par = ((o or {}).get("parallel") or {}).get("refine_all") or {}
            lines["greedy"].append(_pct(ro.get("greedy")))
            lines["Pass@1"].append(_pct(_at(ro.get("pass_at_k"), "k", 1)))
            lines["MV@N"].append(_pct(_at(ro.get("mv_at_k"), "k", r["N"])))
            lines["MV@N, critique-refine (refine all)"].append(_pct(_at(par.get("mv_at_k"), "k", r["N"])))
        for label, ys in lines.items():
            pts = [(i, y) for i, y in enumerate(ys) if y is not None]
            if pts:
                ax.plot(*zip(*pts), "o-", label=label)
        ax.set_xticks(range(len(labels)))
        ax.set_xticklabels(labels)
        ax.set_xlabel("self-improvement iteration")
        _finish(ax, name)
    fig.suptitle("Accuracy per self-improvement iteration")
    return _save(fig, path)


# ---------------------------------------------------------------------------------------
# Markdown
# ---------------------------------------------------------------------------------------


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return out + [""]


def _img(name: str | None, alt: str) -> list[str]:
    return [f"![{alt}]({name})", ""] if name else []


def _config_lines(results: Mapping, label: str | None = None) -> list[str]:
    cfg = dict(results.get("config") or {})
    rounds = results.get("R")
    shown = {
        "actor": cfg.pop("actor", "–"),
        "critic": cfg.pop("critic", "–"),
        "datasets": cfg.pop("datasets", list(results["datasets"])),
        "N (samples per question)": results["N"],
        "R (sequential rounds)": rounds if rounds is not None else cfg.get("R", "–"),
        "temperature": cfg.pop("temperature", "–"),
        "modes": cfg.pop("modes", results.get("parallel_modes", "–")),
    }
    cfg.pop("N", None)
    cfg.pop("R", None)
    shown.update(cfg)
    avail = results.get("available") or {}
    shown["inputs present"] = ", ".join(k for k, v in avail.items() if v) or "pool only"

    def fmt(v: Any) -> str:
        if isinstance(v, list):
            return ", ".join(map(str, v))
        if v is None:
            return "–"
        return json.dumps(v) if isinstance(v, dict) else str(v)

    title = "## Configuration" + (f" (iteration {label})" if label is not None else "")
    return [title, ""] + _table(["setting", "value"], [(k, fmt(v)) for k, v in shown.items()])


def _block_markdown(
    block: Mapping, ks: Sequence[int], h: str, plots: Mapping[str, str | None], explain: bool = True
) -> list[str]:
    """Tables of every number in one metrics block; ``h`` is the heading prefix.

    ``explain`` adds the "how to read" line under each section heading.
    """
    out: list[str] = []

    def section(title: str, how: str) -> None:
        out.extend([f"{h} {title}", ""] + ([f"_How to read: {how}_", ""] if explain else []))

    kh = [f"K={k}" for k in ks]
    ro = block["response_only"]
    par = _parallel(block)

    section(
        "Response only",
        "greedy = one greedy answer per question; Pass@K = chance that at least one of K "
        "samples is correct; MV@K = accuracy of the majority answer of K samples (all from one pool).",
    )
    out += [f"Greedy accuracy: {_cell(ro.get('greedy'))}", ""]
    out += _table(
        ["metric"] + kh,
        [
            ["Pass@K"] + [_cell(_at(ro["pass_at_k"], "k", k)) for k in ks],
            ["MV@K"] + [_cell(_at(ro["mv_at_k"], "k", k)) for k in ks],
        ],
    )
    if not par:
        out += _img(plots.get("mv"), "MV@K") + _img(plots.get("pass"), "Pass@K")

    section(
        "Parallel critique-refine",
        "every sample is critiqued and refined once; oracle refines only truly wrong samples, "
        "refine all replaces every sample, verifier replaces only samples the critic judges wrong. "
        "Compare each row with the response-only row of the same metric.",
    )
    if par:
        rows = []
        for metric, name in (("pass_at_k", "Pass@K"), ("mv_at_k", "MV@K")):
            rows.append([f"{name}, response only"] + [_cell(_at(ro[metric], "k", k)) for k in ks])
            rows += [[f"{name}, {mode}"] + [_cell(_at(p[metric], "k", k)) for k in ks] for mode, p in par.items()]
        out += _table(["metric, mode"] + kh, rows)
        out += _img(plots.get("mv"), "MV@K with and without critique")
        out += _img(plots.get("pass"), "Pass@K with and without critique")
    else:
        out += ["Not run (no refinements).", ""]

    section(
        "Critic-filtered majority voting",
        "samples the critic judges wrong are dropped before voting (a block with none left "
        "votes among all of its samples).",
    )
    cf = block.get("critic_filtered")
    if cf:
        out += _table(
            ["metric"] + kh,
            [
                ["MV@K, no critic"] + [_cell(_at(ro["mv_at_k"], "k", k)) for k in ks],
                ["MV@K, critic-filtered"] + [_cell(_at(cf["mv_at_k"], "k", k)) for k in ks],
            ],
        )
    else:
        out += ["Not run (no critiques).", ""]

    section(
        "Sequential critique-refine",
        "round r = answer after r critique-refine rounds (round 0 is the first answer). "
        "Final = accuracy of the round-r answer; MV = majority vote over the answers of rounds 0..r.",
    )
    seq = block.get("sequential")
    if seq:
        rounds = [p["round"] for p in seq["final"]]
        out += _table(
            ["metric"] + [f"r={r}" for r in rounds],
            [
                ["Sequential Final"] + [_cell(_at(seq["final"], "round", r)) for r in rounds],
                ["Sequential MV"] + [_cell(_at(seq["mv"], "round", r)) for r in rounds],
            ],
        )
    else:
        out += ["Not run (no sequential chains).", ""]
    out += _img(plots.get("par_seq"), "Parallel vs sequential critique-refine")

    section(
        "Compute-matched baselines",
        "critiquing and refining costs about two extra generations per sample, so MV@K with "
        "critique is matched in compute by MV@3K without it (MV@2K shown in between).",
    )
    cm = block.get("compute_matched")
    if cm:
        out += _table(
            ["K", "MV@K", "MV@2K", "MV@3K", "MV@K + critique (refine all)", "MV@K + critique (verifier)"],
            [
                [
                    r["k"],
                    _cell(r["mv_k"]),
                    _cell(r["mv_2k"]),
                    _cell(r["mv_3k"]),
                    _cell(r["with_critique"].get("refine_all")),
                    _cell(r["with_critique"].get("verifier")),
                ]
                for r in cm
            ],
        )
        out += _img(plots.get("compute"), "Compute-matched comparison")
    elif cm is None:
        out += ["Not run (no refinements).", ""]
    else:
        out += ["No budget K with 3K ≤ N.", ""]

    section(
        "Critic metrics",
        "sample-level, on the actor's pool samples. Discrimination = how often the critic's "
        "final verdict is right (parseable verdicts only), F1 = harmonic mean of its accuracy on wrong and on "
        "correct samples; helpfulness = wrong samples fixed by refinement; harm = correct samples broken by "
        "refinement; format violations = critiques without a parseable verdict.",
    )
    c = block["critic"]
    rows = [["accuracy before refinement", _cell(c["accuracy_before_refinement"])]]
    for mode, num in (c.get("accuracy_after_refinement") or {}).items():
        rows.append([f"accuracy after refinement ({mode})", _cell(num)])
    rows += [
        ["helpfulness (wrong → correct)", _cell(c.get("helpfulness"))],
        ["harm (correct → wrong)", _cell(c.get("harm"))],
    ]
    d = c.get("discrimination") or {}
    rows += [
        ["discrimination accuracy", _cell(d.get("accuracy"))],
        ["accuracy on wrong samples", _cell(d.get("accuracy_on_wrong"))],
        ["accuracy on correct samples", _cell(d.get("accuracy_on_correct"))],
        ["discrimination F1", _cell(d.get("f1"))],
    ]
    fv = c.get("format_violations")
    rows.append(
        [
            "format violations",
            "–" if fv is None else f"{fv['count']} critiques, {_cell({'value': fv['share'], 'n': fv['n']})}",
        ]
    )
    out += _table(["metric", "value (%)"], rows)
    return out


def _dataset_markdown(name: str, ds: Mapping, results: Mapping, plots: Mapping[str, str | None]) -> list[str]:
    ks, n_pool = results["ks"], results["N"]
    out = [
        f"## Dataset: {name}",
        "",
        f"{ds.get('n_questions', '?')} questions, dataset type {ds.get('dataset_type', '?')}. "
        "Accuracies in %, each with its denominator n (questions, or samples for critic metrics).",
        "",
    ]
    out += _block_markdown(ds["overall"], ks, "###", plots)

    out += [
        "### Difficulty levels",
        "",
        "_How to read: level = the question's own level where the dataset has one, else from the actor's "
        "sampled accuracy on the pool (1: ≥ 0.8, 2: [0.6, 0.8), 3: [0.4, 0.6), 4: [0.2, 0.4), 5: < 0.2). "
        f"Level sources: {json.dumps(ds.get('level_source', {}))}._",
        "",
    ]
    levels = _level_rows(ds)
    modes = list(_parallel(ds["overall"]))
    header = ["level", "questions", "greedy", "Pass@1", f"MV@{n_pool}"]
    header += [f"MV@{n_pool}, {m}" for m in modes]
    rows = []
    for lv, b in levels:
        ro = b["response_only"]
        row = [
            lv,
            b["n_questions"],
            _cell(ro.get("greedy")),
            _cell(_at(ro["pass_at_k"], "k", 1)),
            _cell(_at(ro["mv_at_k"], "k", n_pool)),
        ]
        row += [_cell(_at(((b.get("parallel") or {}).get(m) or {}).get("mv_at_k"), "k", n_pool)) for m in modes]
        rows.append(row)
    out += _table(header, rows)
    out += _img(plots.get("levels"), "Accuracy by difficulty level")
    for lv, b in levels:
        out += ["<details>", f"<summary>All numbers for level {lv} (n={b['n_questions']} questions)</summary>", ""]
        out += _block_markdown(b, ks, "####", {}, explain=False)
        out += ["</details>", ""]
    return out


def render(results: Mapping, out_dir: Path, prefix: str = "", label: str | None = None) -> list[str]:
    """Write the plots of one results dict into ``out_dir``; return its Markdown lines."""
    lines = _config_lines(results, label)
    suffix = f" (iteration {label})" if label is not None else ""
    for name, ds in results["datasets"].items():
        stem = prefix + _slug(name)
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
        lines += _dataset_markdown(name, ds, results, plots)
    return lines


def write_report(
    all_results: Sequence[Mapping], out_dir: str | os.PathLike, sources: Sequence[str] | None = None
) -> Path:
    """Write the plots and ``report.md`` for one or more results dicts; return the report path.

    With several results dicts (self-improvement iterations, in order), an accuracy per
    iteration plot and table come first, then each iteration's full report with its plots
    prefixed ``iter<i>_``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    lines = ["# MathCritique evaluation report", ""]
    if sources:
        lines += ["Results: " + ", ".join(f"`{s}`" for s in sources), ""]
    if len(all_results) == 1:
        lines += render(all_results[0], out_dir)
    else:
        labels = iteration_labels(all_results)
        lines += [
            "## Accuracy per self-improvement iteration",
            "",
            "_How to read: one actor per iteration (in the order the results were given); N is each "
            "iteration's pool size._",
            "",
        ]
        rows = []
        for label, r in zip(labels, all_results):
            for name, ds in r["datasets"].items():
                ro = ds["overall"]["response_only"]
                par = (ds["overall"].get("parallel") or {}).get("refine_all") or {}
                rows.append(
                    [
                        label,
                        name,
                        _cell(ro.get("greedy")),
                        _cell(_at(ro["pass_at_k"], "k", 1)),
                        _cell(_at(ro["mv_at_k"], "k", r["N"])),
                        _cell(_at(par.get("mv_at_k"), "k", r["N"])),
                    ]
                )
        header = ["iteration", "dataset", "greedy", "Pass@1", "MV@N", "MV@N, critique-refine (refine all)"]
        lines += _table(header, rows)
        lines += _img(plot_iterations(all_results, out_dir / "iterations.png"), "Accuracy per iteration")
        for i, (label, r) in enumerate(zip(labels, all_results)):
            lines += [f"# Iteration {label}", ""]
            lines += render(r, out_dir, prefix=f"iter{i}_", label=label)
    report = out_dir / "report.md"
    _atomic_write(report, "\n".join(lines).rstrip("\n").encode("utf-8") + b"\n")
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m selfimprove.report",
        description="Plots and report.md from results.json (several files = successive self-improvement iterations).",
    )
    parser.add_argument(
        "--results",
        action="append",
        required=True,
        metavar="JSON",
        help="a results.json; repeat for successive self-improvement iterations",
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    args = parser.parse_args(argv)
    try:
        all_results = [load_results(p) for p in args.results]
    except ResultsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        report = write_report(all_results, args.out, sources=args.results)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        print(f"error: malformed results file ({type(e).__name__}: {e})", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"error: cannot write to {args.out}: {e}", file=sys.stderr)
        return 2
    print(f"wrote {report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
