"""The text of ``report.md``: configuration header and tables of every number with its ``n``."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from selfimprove.evaluation.scoring import HEADLINE
from selfimprove.evaluation.views import at, cell, computed_modes, level_rows, mode_name, sequential_vote


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return out + [""]


def img(name: str | None, alt: str) -> list[str]:
    return [f"![{alt}]({name})", ""] if name else []


def config_lines(results: Mapping, label: str | None = None) -> list[str]:
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
    if "unanswered" in results:  # items whose prompt is longer than the context window
        shown["unanswered (prompt longer than the context window, graded wrong)"] = unanswered_cell(
            results["unanswered"]
        )

    def fmt(v: Any) -> str:
        if isinstance(v, list):
            return ", ".join(map(str, v))
        if v is None:
            return "–"
        return json.dumps(v) if isinstance(v, dict) else str(v)

    title = "## Configuration" + (f" (iteration {label})" if label is not None else "")
    return [title, ""] + table(["setting", "value"], [(k, fmt(v)) for k, v in shown.items()])


def unanswered_cell(unanswered: Mapping) -> str:
    """``0``, or how many unanswered items per stage and which (the first ids of each stage)."""
    if not unanswered["count"]:
        return "0"
    parts = [
        f"{stage} {len(ids)} ({', '.join(ids[:5])}{', ...' if len(ids) > 5 else ''})"
        for stage, ids in unanswered["by_stage"].items()
        if ids
    ]
    return f"{unanswered['count']}: " + "; ".join(parts)


#: section title -> its "how to read" line, in the order of the report
HOW_TO_READ = {
    "Response only": "greedy = one greedy answer per question; Pass@K = chance that at least one of K "
    "samples is correct; MV@K = accuracy of the majority answer of K samples (all from one pool).",
    "Parallel critique-refine": "every sample is critiqued and refined once; oracle refines only truly wrong "
    "samples (it uses the ground truth, so its numbers are upper bounds), "
    "refine all replaces every sample, verifier replaces only samples the critic judges wrong. "
    "Compare each row with the response-only row of the same metric.",
    "Critic-filtered majority voting": "samples the critic judges wrong are dropped before voting (a block with "
    "none left votes among all of its samples).",
    "Sequential critique-refine": "round r = answer after r critique-refine rounds (round 0 is the first "
    "answer; K chains per question). Final = share of chains whose round-r answer is correct; Pass@k = chance "
    "that one of k chains is right at round r; MV over rounds 0..r = majority vote over every answer of rounds "
    "0..r (this project); MV over refinements 1..r = the released code's vote over the refinements only "
    "(a chain never refined keeps its first answer).",
    "Compute-matched baselines": "critiquing and refining costs about two extra generations per sample, so MV@K "
    "with critique is matched in generations by MV@3K without it (MV@2K shown in between); where the "
    "records carry token counts, a second table matches on completion tokens.",
    "Critic metrics": "sample-level, on the actor's pool samples. Discrimination = how often the critic's "
    "final verdict is right (parseable verdicts only), F1 = harmonic mean of its accuracy on wrong and on "
    "correct samples; helpfulness = wrong samples fixed by refinement; harm = correct samples broken by "
    "refinement; format violations = critiques without a parseable verdict.",
}


def block_markdown(
    block: Mapping, ks: Sequence[int], h: str, plots: Mapping[str, str | None], explain: bool = True
) -> list[str]:
    """Tables of every number in one metrics block; ``h`` is the heading prefix.

    ``explain`` adds the "how to read" line under each section heading.
    """
    bodies = {
        "Response only": response_only_section(block, ks, plots),
        "Parallel critique-refine": parallel_section(block, ks, plots),
        "Critic-filtered majority voting": critic_filtered_section(block, ks),
        "Sequential critique-refine": sequential_section(block.get("sequential"))
        + img(plots.get("par_seq"), "Parallel vs sequential critique-refine"),
        "Compute-matched baselines": compute_matched_section(block)
        + (img(plots.get("compute"), "Compute-matched comparison") if block.get("compute_matched") else []),
        "Critic metrics": critic_metrics_section(block["critic"]),
    }
    out: list[str] = []
    for title, body in bodies.items():
        out += [f"{h} {title}", ""] + ([f"_How to read: {HOW_TO_READ[title]}_", ""] if explain else [])
        out += body
    return out


def _k_row(name: str, curve: Sequence[Mapping], ks: Sequence[int]) -> list[str]:
    """One table row: a curve's value at every K."""
    return [name] + [cell(at(curve, "k", k)) for k in ks]


def response_only_section(block: Mapping, ks: Sequence[int], plots: Mapping[str, str | None]) -> list[str]:
    """Greedy accuracy, Pass@K and MV@K of the pool (the plots here when no critique was run)."""
    ro = block["response_only"]
    out = [f"Greedy accuracy: {cell(ro.get('greedy'))}", ""]
    out += table(
        ["metric"] + [f"K={k}" for k in ks],
        [_k_row("Pass@K", ro["pass_at_k"], ks), _k_row("MV@K", ro["mv_at_k"], ks)],
    )
    if not computed_modes(block):
        out += img(plots.get("mv"), "MV@K") + img(plots.get("pass"), "Pass@K")
    return out


def parallel_section(block: Mapping, ks: Sequence[int], plots: Mapping[str, str | None]) -> list[str]:
    """Pass@K and MV@K of every parallel mode beside the response-only ones."""
    par = computed_modes(block)
    if not par:
        return ["Not run (no refinements).", ""]
    ro = block["response_only"]
    rows = []
    for metric, name in (("pass_at_k", "Pass@K"), ("mv_at_k", "MV@K")):
        rows.append(_k_row(f"{name}, response only", ro[metric], ks))
        rows += [_k_row(f"{name}, {mode_name(mode)}", p[metric], ks) for mode, p in par.items()]
    out = table(["metric, mode"] + [f"K={k}" for k in ks], rows)
    out += img(plots.get("mv"), "MV@K with and without critique")
    return out + img(plots.get("pass"), "Pass@K with and without critique")


def critic_filtered_section(block: Mapping, ks: Sequence[int]) -> list[str]:
    """MV@K with and without dropping the samples the critic judges wrong."""
    cf = block.get("critic_filtered")
    if not cf:
        return ["Not run (no critiques).", ""]
    return table(
        ["metric"] + [f"K={k}" for k in ks],
        [
            _k_row("MV@K, no critic", block["response_only"]["mv_at_k"], ks),
            _k_row("MV@K, critic-filtered", cf["mv_at_k"], ks),
        ],
    )


def critic_metrics_section(c: Mapping) -> list[str]:
    """Accuracy before and after refinement, helpfulness, harm, discrimination, format violations."""
    rows = [["accuracy before refinement", cell(c["accuracy_before_refinement"])]]
    for mode, num in (c.get("accuracy_after_refinement") or {}).items():
        rows.append([f"accuracy after refinement, {mode_name(mode)}", cell(num)])
    rows += [
        ["helpfulness (wrong → correct)", cell(c.get("helpfulness"))],
        ["harm (correct → wrong)", cell(c.get("harm"))],
    ]
    d = c.get("discrimination") or {}
    rows += [
        ["discrimination accuracy", cell(d.get("accuracy"))],
        ["accuracy on wrong samples", cell(d.get("accuracy_on_wrong"))],
        ["accuracy on correct samples", cell(d.get("accuracy_on_correct"))],
        ["discrimination F1", cell(d.get("f1"))],
    ]
    fv = c.get("format_violations")
    rows.append(
        [
            "format violations",
            "–" if fv is None else f"{fv['count']} critiques, {cell({'value': fv['share'], 'n': fv['n']})}",
        ]
    )
    return table(["metric", "value (%)"], rows)


def sequential_section(seq: Mapping | None) -> list[str]:
    """The sequential table: every round's numbers, the headline first."""
    if not seq:
        return ["Not run (no sequential chains).", ""]
    rounds = [p["round"] for p in seq["final"]]
    chains = seq.get("chains") or 1
    out = []
    if seq.get("upper_bound"):
        out += ["**Oracle mode: an upper bound** (the ground truth chose which chains to refine).", ""]
    head = seq.get("headline")
    if head:
        names = {
            "final": "the final round's answer",
            "mv_final_across_chains": "the majority of the chains' final answers",
            "mv_rounds_0_to_r": "the majority vote over rounds 0..R",
        }
        out += [f"Headline: {names.get(head['metric'], head['metric'])} at round {head['round']}: {cell(head)}.", ""]
    if seq.get("mv_rounds_0_to_r") is None and seq.get("mv_refinements_1_to_r") is None and "mv" not in seq:
        out += ["Only the final answer is reported (only-final-sequential): no vote over rounds.", ""]

    def row(name: str, points: Sequence[Mapping] | None) -> list[str]:
        return [name] + [cell(at(points, "round", r)) if at(points, "round", r) else "–" for r in rounds]

    rows = [row("Final" + (f" (share of {chains} chains)" if chains > 1 else ""), seq["final"])]
    if seq.get("mv_final_across_chains"):
        rows.append(row(f"MV of the {chains} chains' round-r answers", seq["mv_final_across_chains"]))
    if chains > 1:
        for k in sorted({p["k"] for r in seq.get("pass_at_k") or [] for p in r["pass_at_k"]}):
            points = [{"round": r["round"], **(at(r["pass_at_k"], "k", k) or {})} for r in seq["pass_at_k"]]
            rows.append(row(f"Pass@{k} over chains", points))
    if sequential_vote(seq):
        rows.append(row("MV over rounds 0..r (this project)", sequential_vote(seq)))
    if seq.get("mv_refinements_1_to_r"):
        rows.append(row("MV over refinements 1..r (released code)", seq["mv_refinements_1_to_r"]))
    if seq.get("pass_refinements_1_to_r"):
        rows.append(row("Pass over refinements 1..r (released code)", seq["pass_refinements_1_to_r"]))
    return out + table(["metric"] + [f"r={r}" for r in rounds], rows)


def scoring_section(name: str, results: Mapping) -> list[str]:
    """The headline numbers of one dataset under each grader and vote (``results["scoring"]``):
    the primary scoring first, the project's grader and vote beside it; nothing without one."""
    columns = (results.get("scoring") or {}).get("columns") or []
    if not columns:
        return []
    n_pool = results["N"]
    rows = []
    for key, what in HEADLINE.items():
        cells = [(c["datasets"].get(name) or {}).get(key) for c in columns]
        if any(x is not None for x in cells):
            rows.append([what.replace("MV@N", f"MV@{n_pool}")] + [cell(x) for x in cells])
    if not rows:
        return []
    header = ["metric"] + [f"accuracy ({c['name']}{', primary' if c['primary'] else ''})" for c in columns]
    return [
        "### Accuracy by grader and voting rule",
        "",
        "_How to read: the same generations scored with each answer grader and majority-vote rule; the "
        "primary column is the scoring of every other number of this report (knobs GRADER and VOTING). "
        "Released grader: the released answer extraction and comparison (`GRADER=mathcritique`); project "
        "grader: this project's equivalence grader (`default`); exact-answer voting counts identical answer "
        "strings, as the released code does; equivalence voting groups answers the grader finds equal._",
        "",
    ] + table(header, rows)


def compute_matched_section(block: Mapping) -> list[str]:
    """Compute-matched tables: on generation counts, and on completion tokens where known."""
    cm = block.get("compute_matched")
    if cm is None:
        return ["Not run (no refinements).", ""]
    out = ["Matched on generation counts:", ""]
    if cm:
        out += table(
            ["K", "MV@K", "MV@2K", "MV@3K", "MV@K + critique (refine all)", "MV@K + critique (verifier)"],
            [
                [
                    r["k"],
                    cell(r["mv_k"]),
                    cell(r["mv_2k"]),
                    cell(r["mv_3k"]),
                    cell(r["with_critique"].get("refine_all")),
                    cell(r["with_critique"].get("verifier")),
                ]
                for r in cm
            ],
        )
    else:
        out += ["No budget K with 3K ≤ N.", ""]
    tok = block.get("compute_matched_tokens")
    if not tok:
        return out + ["Matched on tokens: not available (the records carry no token counts).", ""]
    t = tok["mean_completion_tokens"]
    out += [
        f"Matched on completion tokens (mean per generation: sample {t['sample']:.1f}, critique "
        f"{t['critique']:.1f}, refinement {t['refinement']:.1f}):",
        "",
    ]
    rows = []
    for mode, m in tok["modes"].items():
        for r in m["rows"]:
            rows.append(
                [
                    mode_name(mode),
                    r["k"],
                    f"{r['tokens_with_critique']:.0f}",
                    cell(r["mv_with_critique"]),
                    r["plain_samples"],
                    f"{r['tokens_plain']:.0f}",
                    cell(r["mv_plain"]),
                ]
            )
    if not rows:
        return out + ["No budget whose token-matched plain budget fits in the pool.", ""]
    header = ["mode", "K", "tokens/question", "MV@K + critique", "plain M", "tokens/question", "MV@M, no critique"]
    return out + table(header, rows)


def dataset_markdown(name: str, ds: Mapping, results: Mapping, plots: Mapping[str, str | None]) -> list[str]:
    ks, n_pool = results["ks"], results["N"]
    out = [
        f"## Dataset: {name}",
        "",
        f"{ds.get('n_questions', '?')} questions, dataset type {ds.get('dataset_type', '?')}. "
        "Accuracies in %, each with its denominator n (questions, or samples for critic metrics).",
        "",
    ]
    out += scoring_section(name, results)
    out += block_markdown(ds["overall"], ks, "###", plots)

    out += [
        "### Difficulty levels",
        "",
        "_How to read: level = the question's own level where the dataset has one, else from the actor's "
        "sampled accuracy on the pool (1: ≥ 0.8, 2: [0.6, 0.8), 3: [0.4, 0.6), 4: [0.2, 0.4), 5: < 0.2). "
        f"Level sources: {json.dumps(ds.get('level_source', {}))}._",
        "",
    ]
    levels = level_rows(ds)
    modes = list(computed_modes(ds["overall"]))
    header = ["level", "questions", "greedy", "Pass@1", f"MV@{n_pool}"]
    header += [f"MV@{n_pool}, {mode_name(m)}" for m in modes]
    rows = []
    for lv, b in levels:
        ro = b["response_only"]
        row = [
            lv,
            b["n_questions"],
            cell(ro.get("greedy")),
            cell(at(ro["pass_at_k"], "k", 1)),
            cell(at(ro["mv_at_k"], "k", n_pool)),
        ]
        row += [cell(at(((b.get("parallel") or {}).get(m) or {}).get("mv_at_k"), "k", n_pool)) for m in modes]
        rows.append(row)
    out += table(header, rows)
    out += img(plots.get("levels"), "Accuracy by difficulty level")
    for lv, b in levels:
        out += ["<details>", f"<summary>All numbers for level {lv} (n={b['n_questions']} questions)</summary>", ""]
        out += block_markdown(b, ks, "####", {}, explain=False)
        out += ["</details>", ""]
    return out
