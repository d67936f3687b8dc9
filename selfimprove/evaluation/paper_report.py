"""The paper's numbers beside an evaluation report's own (a section of ``report.md``).

For each evaluated actor and dataset, the numbers of its ``results.json`` that the paper also
reports are looked up (:mod:`selfimprove.evaluation.paper`) with the actor's setting: the model
family and training method of its run (read as :mod:`selfimprove.evaluation.compare_data` reads
them), N and iteration for self-improvement, the critic and the test-time method. The section
lists only the numbers that match; at other settings (the tiny scale) it is absent.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from selfimprove.evaluation.compare_data import manifest_model, run_method, training_n
from selfimprove.evaluation.markdown import table
from selfimprove.evaluation.paper import PaperReference, compared, critic_setting, describe, points
from selfimprove.evaluation.paper import load as load_reference
from selfimprove.evaluation.views import at, cell

#: where an evaluation's numbers are looked for, in this order when two match alike
REPORT_FIGURES = ("Fig. 6", "Table 3", "Table 2", "Fig. E", "Fig. B", "Fig. C", "Fig. D")


def run_of_report(out_dir: str | Path) -> Path | None:
    """The run a report folder belongs to (``runs/<EXP>/eval`` -> ``runs/<EXP>``), when it has a manifest."""
    run = Path(out_dir).resolve().parent
    return run if (run / "manifest.json").is_file() else None


def actor_setting(results: Mapping, run_dir: Path | None) -> dict[str, Any]:
    """What is known of one evaluated actor's setting (``None`` where unknown)."""
    config = results.get("config") or {}
    actor_model = str(config.get("actor_model") or "")
    model = manifest_model(run_dir) if run_dir else None
    m = re.fullmatch(r"iter_(\d+)", str(config.get("actor") or ""))
    return {
        "model": model or actor_model or None,
        "method": run_method(run_dir, actor_model, model) if run_dir else None,
        "N": training_n(run_dir) if run_dir else None,
        "iteration": int(m.group(1)) if m else None,
    }


def quantities(results: Mapping, dataset: str) -> Iterator[tuple[str, dict[str, Any], Mapping | None]]:
    """``(name, setting fields, our number)`` for every number of one dataset the paper could report."""
    o = results["datasets"][dataset]["overall"]
    ro = o["response_only"]
    config = results.get("config") or {}
    only = {"test_time": "response only"}
    yield "Acc (greedy), response only", only | {"metric": "acc"}, ro.get("greedy")
    for metric, name in (("pass_at_k", "Pass"), ("mv_at_k", "MV")):
        for p in ro.get(metric) or []:
            yield f"{name}@{p['k']}, response only", only | {"metric": metric, "k": p["k"]}, p
    for r in o.get("compute_matched") or []:
        yield (
            f"MV@{3 * r['k']}, response only (budget K={r['k']})",
            only | {"metric": "mv_at_3k", "k": r["k"]},
            r["mv_3k"],
        )
    critic = critic_setting(config.get("critic"))
    if not critic:
        return
    refine_all = (o.get("parallel") or {}).get("refine_all") or {}
    for metric, name in (("pass_at_k", "Pass"), ("mv_at_k", "MV")):
        for p in refine_all.get(metric) or []:
            fields = {"test_time": "critique", **critic, "metric": metric, "k": p["k"]}
            yield f"{name}@{p['k']}, critique-refine (refine all)", fields, p
    seq = o.get("sequential") or {}
    if (seq.get("chains") or 1) == 1:
        oracle = config.get("sequential_mode") == "oracle"
        how = "critique, oracle" if oracle else "critique"
        name = "Acc after one critique-refine round" + (", oracle (upper bound)" if oracle else "")
        yield name, {"test_time": how, **critic, "metric": "acc"}, at(seq.get("final"), "round", 1)
    c = o.get("critic") or {}
    yield (
        "critic discrimination",
        {"test_time": "critique", **critic, "metric": "discrimination"},
        (c.get("discrimination") or {}).get("accuracy"),
    )
    yield "critic helpfulness", {"test_time": "critique", **critic, "metric": "helpfulness"}, c.get("helpfulness")


def paper_rows(all_results: Sequence[Mapping], run_dir: Path | None, reference: PaperReference) -> list[list[str]]:
    """One row per number of ours that the paper reports for the same setting."""
    rows = []
    for i, results in enumerate(all_results):
        label = str((results.get("config") or {}).get("actor") or f"results {i + 1}")
        setting = actor_setting(results, run_dir)
        # Fig. 6 holds every iteration of self-improvement, by the run's method; the other tables and
        # figures hold final actors: iteration 0 is the SFT actor, an intermediate iteration is in none
        final = dict(setting)
        figures = [f for f in REPORT_FIGURES if f != "Fig. 6"]
        if setting["iteration"] == 0:
            final["method"] = "SFT"
        elif setting["iteration"] is not None and i < len(all_results) - 1:
            figures = []
        for dataset in results["datasets"]:
            for name, fields, ours in quantities(results, dataset):
                number = reference.lookup("Fig. 6", **setting, dataset=dataset, **fields)
                if number is None and figures:
                    number = reference.lookup(figures, **final, dataset=dataset, **fields)
                if number is None:
                    continue
                p = compared(number, None if not ours else ours.get("value"))
                assert p is not None
                diff = "–" if p["difference"] is None else f"{p['difference']:+.1f}"
                where = f"{points(number.value)} ({number.figure}, {number.provenance})"
                rows.append([label, dataset, name, cell(ours), where, diff, describe(number.setting, ("dataset",))])
    return rows


def paper_section(
    all_results: Sequence[Mapping], run_dir: Path | None, reference: PaperReference | None = None
) -> list[str]:
    """The report's section of the paper's numbers (no lines when none matches)."""
    rows = paper_rows(all_results, run_dir, reference if reference is not None else load_reference())
    if not rows:
        return []
    return [
        "## The paper's numbers beside ours",
        "",
        "_How to read: every number of this report for which the paper reports one in the same setting (model "
        "family and training method of the actor, N and iteration of self-improvement, critic, test-time method, "
        "dataset, metric, K), from selfimprove/evaluation/paper_reference.json. paper = its value as printed, its "
        "table or figure and how it was read (verbatim; printed label; plot reading: about ±1 point); ours − paper "
        "in points; the paper's setting as it states it._",
        "",
    ] + table(["actor", "dataset", "number", "ours", "paper", "ours − paper", "the paper's setting"], rows)
