"""The critic comparison: ``results.json`` -> a Markdown table (``report.md``) and a bar plot (PNG)."""

from __future__ import annotations

import io
from pathlib import Path

from selfimprove.core.io import atomic_write_bytes, atomic_write_text
from selfimprove.core.layout import RunLayout
from selfimprove.critic.evaluate import METRICS, interval

LABELS = {
    "format_compliance": "format compliance",
    "discrimination": "discrimination",
    "f1": "first-error F1",
    "helpfulness": "helpfulness",
    "accuracy_after_refinement": "acc. after refinement",
}
# the demo's goals for a learned critic: format >= 95 %, discrimination >= 75 %, helpfulness > 0
GOALS = {"format_compliance": (">=", 0.95), "discrimination": (">=", 0.75), "helpfulness": (">", 0.0)}


def pct(v: float | None) -> str:
    return "–" if v is None else f"{100 * v:.1f}"


def stored_interval(metrics: dict, key: str) -> dict | None:
    """The ``intervals`` entry of a metric when it has an interval of the metric's own value."""
    v, iv = metrics.get(key), interval(metrics, key)
    if v is None or not iv or iv.get("ci") is None or iv.get("value") != v:
        return None
    return iv


def pct_ci(metrics: dict, key: str) -> str:
    """``"52.0 [45.1, 58.8] (n=200)"``: a metric in % with its 95 % interval and n; the bare
    value where no interval was stored, ``"–"`` where the metric is undefined."""
    iv = stored_interval(metrics, key)
    if iv is None:
        return pct(metrics.get(key))
    low, high = iv["ci"]
    return f"{pct(metrics[key])} [{100 * low:.1f}, {100 * high:.1f}] (n={iv['n']})"


INTERVAL_NOTE = (
    "Each metric in % with its 95 % interval and n, the responses it is computed on (helpfulness: the "
    "wrong ones; first-error F1: those whose first wrong step is known). Intervals: Wilson score; "
    "first-error F1, the harmonic mean of two accuracies: the harmonic means of their 97.5 % Wilson "
    "bounds (conservative)."
)


def table(results: dict) -> str:
    head = "| critic | model | " + " | ".join(LABELS[m] for m in METRICS) + " | n |"
    rule = "|" + "---|" * (len(METRICS) + 3)
    rows = [head, rule]
    for name, m in results["critics"].items():
        model = m.get("model") or ""
        cells = " | ".join(pct_ci(m, k) for k in METRICS)
        rows.append(f"| {name} | {model} | {cells} | {m.get('n', 0)} |")
    return "\n".join(rows)


def goal_lines(results: dict, critic: str = "trained") -> list[str]:
    m = results["critics"].get(critic)
    if m is None:
        return []
    lines = []
    for key, (op, target) in GOALS.items():
        v = m.get(key)
        ok = v is not None and (v >= target if op == ">=" else v > target)
        lines.append(
            f"- {critic} {LABELS[key]}: {pct(v)} % (goal {op} {100 * target:.0f} %): {'met' if ok else 'not met'}"
        )
    return lines


def plot(results: dict, path: Path) -> str | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    critics = list(results["critics"])
    if not critics:
        return None
    fig, ax = plt.subplots(figsize=(1.6 + 1.5 * len(METRICS), 3.6))
    width = 0.8 / len(critics)
    for i, name in enumerate(critics):
        m = results["critics"][name]
        vals = [100 * (m.get(k) or 0.0) for k in METRICS]
        errs: list[list[float]] = [[], []]  # below, above: the 95 % interval (none drawn where not stored)
        for k, v in zip(METRICS, vals):
            iv = stored_interval(m, k)
            errs[0].append(max(0.0, v - 100 * iv["ci"][0]) if iv else 0.0)
            errs[1].append(max(0.0, 100 * iv["ci"][1] - v) if iv else 0.0)
        ax.bar([j + i * width for j in range(len(METRICS))], vals, width, label=name, yerr=errs, capsize=2)
    ax.set_xticks([j + width * (len(critics) - 1) / 2 for j in range(len(METRICS))])
    ax.set_xticklabels([LABELS[m] for m in METRICS], fontsize=8)
    ax.set_ylim(0, 100)
    ax.set_ylabel("%")
    ax.set_title(f"Critics on {results['responses']['n']} held-out responses (balanced; bars: 95 % intervals)")
    ax.legend(fontsize=8)
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return path.name


def write_report(results: dict, out_dir: Path) -> Path:
    out_dir = Path(out_dir)
    png = plot(results, RunLayout.critic_eval_file(out_dir, "plot"))
    r = results["responses"]
    parts = [
        "# Critic evaluation",
        "",
        f"Actor (refines): `{results.get('actor')}`. Held-out responses: {r['n']} ({r['correct']} correct, "
        f"{r['wrong']} wrong; by strategy {r['per_strategy']}; first wrong step known for "
        f"{r['labelled_first_error']}).",
        "",
        table(results),
        "",
        INTERVAL_NOTE + " `none`: no critique, the responses stand. `programmatic`: the arithmetic annotator, "
        "which is given the reference answer (an upper bound, not a learned critic). Metric definitions: "
        "`docs/critic.md`.",
    ]
    pb = results.get("processbench")
    if pb and pb.get("critics"):
        parts += [
            "",
            f"## ProcessBench ({pb['split']}, {pb['n']} rows; no refinement)",
            "",
            "| critic | format compliance | discrimination | first-error F1 | acc. erroneous | acc. correct |",
            "|---|---|---|---|---|---|",
        ]
        for name, m in pb["critics"].items():
            keys = ("format_compliance", "discrimination", "f1", "f1_accuracy_erroneous", "f1_accuracy_correct")
            parts.append(f"| {name} | " + " | ".join(pct_ci(m, k) for k in keys) + " |")
    goals = goal_lines(results) + goal_lines(results, "likelihood")
    if goals:
        parts += ["", "## Goals of the embedded demo", "", *goals]
    if png:
        parts += ["", f"![critics]({png})"]
    path = RunLayout.critic_eval_file(out_dir, "report")
    atomic_write_text(path, "\n".join(parts) + "\n")
    return path
