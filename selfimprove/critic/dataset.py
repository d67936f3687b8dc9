"""The critique dataset (AutoMathCritique's output): kept critiques as LLaMA-Factory SFT data.

Each example is one turn: the critic's instruction with the question and the flawed path
(:func:`~selfimprove.generation.prompts.critique_message`, exactly what the critique stage sends)
-> the critique. ``sharegpt`` for chat critics, ``alpaca`` for base ones (rendered like every
other SFT file of the project, :func:`selfimprove.training.export.export`). Examples are
deduplicated on (question, solution): the first kept critique of a solution wins. With
``balance`` R > 0 the larger verdict class is cut (seeded) to at most R times the smaller one,
so that the critic does not learn to answer one verdict; a class that is empty cuts nothing.
With ``limit`` N > 0 only N examples are kept: the first N/2 of each verdict class in a seeded
order (the other class fills in where one runs short), so that the examples of a smaller limit
are a subset of those of a larger one over the same data (a learning curve's sets are nested).

:func:`statistics` counts per strategy, per verdict, per first-error position, per annotator, and
the filter's pass rate; the stage writes it to ``stats.json`` next to the data file and its
``dataset_info.json``.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Sequence

from selfimprove.generation.prompts import critique_message, strip_prefix
from selfimprove.training.export import conversation, export

DATASET_NAME = "critic_sft"


def _key(path: dict) -> str:
    text = path["question"].strip() + "\x00" + strip_prefix(path["response"]).strip()
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def select_examples(
    paths: dict[str, dict],
    annotations: dict[str, dict],
    decisions: Sequence[dict],
    balance: float = 1.0,
    seed: int = 0,
    limit: int = 0,
) -> tuple[list[dict], dict]:
    """The kept (path, annotation) pairs, deduplicated, balanced and limited, in a stable order."""
    seen: set[str] = set()
    kept: list[dict] = []
    duplicates = 0
    for d in decisions:
        if not d["kept"]:
            continue
        path, ann = paths[d["path_id"]], annotations[d["id"]]
        key = _key(path)
        if key in seen:
            duplicates += 1
            continue
        seen.add(key)
        kept.append({"path": path, "annotation": ann, "decision": d})
    by_verdict: dict[str, list[dict]] = {"correct": [], "wrong": []}
    for ex in kept:
        by_verdict[ex["annotation"]["verdict"]].append(ex)
    cut = 0
    small, large = sorted(by_verdict, key=lambda v: len(by_verdict[v]))
    if balance > 0 and by_verdict[small]:
        most = max(len(by_verdict[small]), int(balance * len(by_verdict[small])))
        if len(by_verdict[large]) > most:
            rng = random.Random(f"{seed}:balance")
            keep_ids = {id(ex) for ex in rng.sample(by_verdict[large], most)}
            cut = len(by_verdict[large]) - most
            kept = [ex for ex in kept if ex["annotation"]["verdict"] == small or id(ex) in keep_ids]
    limited = 0
    if limit > 0 and len(kept) > limit:
        kept, limited = _limit(kept, limit, seed), len(kept) - limit
    return kept, {"duplicates": duplicates, "balanced_out": cut, "limited_out": limited}


def _limit(kept: list[dict], limit: int, seed: int) -> list[dict]:
    """``limit`` of ``kept``: half from each verdict class in a seeded order, nested across limits."""
    classes = {v: [ex for ex in kept if ex["annotation"]["verdict"] == v] for v in ("correct", "wrong")}
    for v, items in classes.items():
        random.Random(f"{seed}:limit:{v}").shuffle(items)
    take = {"correct": (limit + 1) // 2, "wrong": limit // 2}
    for v, other in (("correct", "wrong"), ("wrong", "correct")):
        short = take[v] - len(classes[v])
        if short > 0:
            take[v] -= short
            take[other] += short
    chosen = {id(ex) for v in classes for ex in classes[v][: take[v]]}
    return [ex for ex in kept if id(ex) in chosen]


def to_rows(examples: Sequence[dict], fmt: str, eos_token: str = "<|end_of_text|>") -> list[dict]:
    convs = [
        conversation(critique_message(ex["path"]["question"], ex["path"]["response"]), ex["annotation"]["critique"])
        for ex in examples
    ]
    return export(convs, fmt, eos_token)


def _position(first_error: int | None) -> str:
    if first_error is None:
        return "none"
    return str(first_error + 1) if first_error < 5 else "6+"


def statistics(
    paths: Sequence[dict], annotations: Sequence[dict], decisions: Sequence[dict], examples: Sequence[dict], extra: dict
) -> dict:
    """Counts at every stage and the composition of the final dataset."""
    candidates = [d for d in decisions if d["reason"] != "no critique"]
    kept = [d for d in decisions if d["kept"]]
    anns = [ex["annotation"] for ex in examples]

    def per(key, items) -> dict:
        return dict(sorted(Counter(str(key(x)) for x in items).items()))

    return {
        "examples": len(examples),
        "paths": len(paths),
        "paths_selected": sum(bool(p.get("selected")) for p in paths),
        "annotations": len(annotations),
        "annotations_with_critique": sum(a.get("critique") is not None for a in annotations),
        "annotations_unlocalised": sum(a.get("status") == "unlocalised" for a in annotations),
        "filter_candidates": len(candidates),
        "filter_kept": len(kept),
        "filter_pass_rate": round(len(kept) / len(candidates), 4) if candidates else None,
        "filter_pass_rate_per_strategy": {
            s: round(sum(d["kept"] for d in candidates if d["strategy"] == s) / n, 4)
            for s, n in Counter(d["strategy"] for d in candidates).items()
        },
        "filter_reasons": per(lambda d: d["reason"], decisions),
        "per_strategy": per(lambda a: a["strategy"], anns),
        "per_verdict": per(lambda a: a["verdict"], anns),
        "per_first_error_step": per(lambda a: _position(a.get("first_error")), anns),
        "per_annotator": per(lambda a: a["annotator"], anns),
        "per_mistake_type": per(lambda a: a.get("mistake_type"), [a for a in anns if a.get("mistake_type")]),
        **extra,
    }
