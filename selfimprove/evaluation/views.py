"""Read-only views of a ``results.json`` dict shared by the plots and the report text."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from selfimprove.evaluation.estimators import wilson

#: How a parallel mode is named in tables: oracle numbers use the ground truth (upper bounds).
MODE_NAMES = {"oracle": "oracle (upper bound)", "refine_all": "refine all", "verifier": "verifier"}
MODE_LABELS = {
    "oracle": "critique-refine, oracle (upper bound)",
    "refine_all": "critique-refine, refine all",
    "verifier": "critique-refine, verifier",
}
MODE_STYLES = {"oracle": ":", "refine_all": "-", "verifier": "--"}
MODE_COLORS = {"oracle": "tab:blue", "refine_all": "tab:orange", "verifier": "tab:green"}
CRITIC_FILTERED_COLOR = "tab:red"
RESPONSE_ONLY_COLOR = "black"


def mode_name(mode: str) -> str:
    """A parallel mode's name in tables, ``"oracle (upper bound)"`` for the oracle."""
    return MODE_NAMES.get(mode, mode)


def sequential_vote(seq: Mapping) -> list | None:
    """The chain vote over rounds 0..r (named ``mv`` in schema version 1)."""
    return seq.get("mv_rounds_0_to_r", seq.get("mv"))


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "dataset"


# ---------------------------------------------------------------------------------------
# Accessors (every stored number is {"value": float | None, "n": int})
# ---------------------------------------------------------------------------------------


def pct(num: Mapping | None) -> float | None:
    if not num or num.get("value") is None:
        return None
    return 100.0 * num["value"]


def cell(num: Mapping | None) -> str:
    """``"66.7 (n=3)"``; ``"–"`` when the method is absent, ``"n/a (n=0)"`` when undefined."""
    if num is None:
        return "–"
    v = pct(num)
    return f"{'n/a' if v is None else f'{v:.1f}'} (n={num.get('n', 0)})"


def cell_ci(num: Mapping | None) -> str:
    """``"66.7 [20.8, 93.9] (n=3)"``: :func:`cell` with the 95 % Wilson interval over the ``n``
    questions (conservative for Pass@1 and votes, whose per-question values lie in [0, 1])."""
    if num is None or num.get("value") is None or not num.get("n"):
        return cell(num)
    n = num["n"]
    low, high = wilson(min(max(num["value"] * n, 0.0), n), n) or (0.0, 1.0)
    return f"{100 * num['value']:.1f} [{100 * low:.1f}, {100 * high:.1f}] (n={n})"


def at(points: Sequence[Mapping] | None, key: str, x: int) -> Mapping | None:
    for p in points or ():
        if p.get(key) == x:
            return p
    return None


def xy(points: Sequence[Mapping] | None, key: str = "k", scale=lambda x: x):
    xs, ys = [], []
    for p in points or ():
        y = pct(p)
        if y is not None:
            xs.append(scale(p[key]))
            ys.append(y)
    return xs, ys


def computed_modes(block: Mapping) -> dict:
    """The parallel modes that were computed: ``{mode: {...}}``."""
    return {m: v for m, v in (block.get("parallel") or {}).items() if v}


def level_rows(ds: Mapping) -> list[tuple[str, Mapping]]:
    """``(level, metrics block)`` pairs, levels in numeric order."""
    return sorted(ds["by_level"].items(), key=lambda kv: (len(kv[0]), kv[0]))


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
