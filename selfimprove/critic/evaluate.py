"""Critic evaluation (the paper's Table 2): several critics on the same held-out responses.

The responses are flawed paths of test questions (:mod:`selfimprove.critic.paths`), balanced:
as many correct as wrong ones (:func:`balanced_responses`). Each carries its true first wrong
step from the programmatic checker (``label_first_error``; ``label_status`` "ok" when known).

A critic is ``none`` (no critique: the responses stand), ``programmatic`` (the arithmetic
annotator; it knows the reference answer, so it is an oracle-like upper bound), or a model (an
engine: the untrained base, the trained critic, an API model). Every critic's critiques are
written with :func:`~selfimprove.generation.tasks.critique_samples`; the actor then refines, with
:func:`~selfimprove.generation.tasks.refine_critiques`, every wrong response and every response
the critic does not call correct. Metrics (fractions in [0, 1], None when undefined):

* ``format_compliance`` — the critique has a final verdict and at least one step verdict;
* ``discrimination`` — the final verdict matches the truth (a missing verdict counts as a miss;
  on a balanced set this is the mean of ``discrimination_on_wrong`` and ``_on_correct``);
* ``f1`` — ProcessBench's protocol: accuracy on erroneous responses (the first step the critique
  calls wrong, matched back to the solution's lines, is exactly the labelled one) and on correct
  responses (no step called wrong and the verdict "correct"), and their harmonic mean;
* ``helpfulness`` — share of wrong responses whose refinement is correct;
* ``accuracy_after_refinement`` — a response the critic calls correct stands, any other is
  replaced by its refinement (the verifier mode); ``accuracy_before_refinement`` for reference.

Every metric stays a plain float under its own key; ``intervals`` holds each one again with its
counts and a 95 % interval: ``{metric: {"value", "hits", "n", "ci": [low, high], "method"}}``.
Proportions get the Wilson score interval (``method`` "wilson"); ``f1``, the harmonic mean of two
accuracies, gets the harmonic means of their 97.5 % Wilson bounds ("wilson-harmonic", conservative;
``hits`` None, ``n`` both denominators): :mod:`selfimprove.evaluation.estimators`. ``ci`` is None
where the metric is undefined.

On ProcessBench (``Qwen/ProcessBench``, loaded by :mod:`selfimprove.data.critique_sets`) the model
critics are scored the same way on its labels (:func:`processbench_metrics`): F1, format
compliance, and discrimination against ``final_answer_correct``; nothing is refined.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast

from selfimprove.core.io import ResumableJsonl
from selfimprove.core.layout import RunLayout
from selfimprove.core.records import Critique, Refinement, Sample
from selfimprove.critic.critiques import predicted_first_error
from selfimprove.critic.programmatic import NAME as PROGRAMMATIC
from selfimprove.critic.programmatic import annotate_record
from selfimprove.evaluation.estimators import harmonic_mean_interval, wilson
from selfimprove.generation.critique_format import parse_critique
from selfimprove.generation.engines import Engine, SamplingParams
from selfimprove.generation.prompts import SOLUTION_PREFIX
from selfimprove.generation.tasks import critique_ids, critique_samples, refine_critiques

NONE = "none"
METRICS = ("format_compliance", "discrimination", "f1", "helpfulness", "accuracy_after_refinement")
#: how ``intervals`` entries were computed
WILSON, WILSON_HARMONIC = "wilson", "wilson-harmonic"


def as_samples(paths: Sequence[Mapping[str, Any]]) -> list[Sample]:
    """Path records as the samples a generation task takes: a path record (``PATH_FIELDS`` and
    ``dataset_type``) carries every field of a sample that critiquing and refining read."""
    return cast("list[Sample]", list(paths))


def balanced_responses(paths: Sequence[dict], per_class: int | None, seed: int = 0) -> list[dict]:
    """Up to ``per_class`` correct and as many wrong selected paths (seeded), labelled with their
    true first wrong step; the two classes always have the same size."""
    pool = [p for p in paths if p.get("selected", True) and not p.get("empty")]
    right = sorted((p for p in pool if p.get("correct")), key=lambda p: p["id"])
    wrong = sorted((p for p in pool if not p.get("correct")), key=lambda p: p["id"])
    n = min(len(right), len(wrong), per_class if per_class is not None else len(pool))
    rng = random.Random(f"{seed}:eval")
    chosen = rng.sample(right, n) + rng.sample(wrong, n)
    out = []
    for p in sorted(chosen, key=lambda p: p["id"]):
        ann = annotate_record(p)
        out.append({**p, "label_first_error": ann.first_error, "label_status": ann.status})
    return out


def programmatic_critiques(responses: Sequence[dict], out_path) -> list[Critique]:
    """The programmatic annotator as a critic (it never abstains here), in the critique records'
    shape."""
    out: ResumableJsonl[Critique] = ResumableJsonl(out_path)
    recs: list[Critique] = []
    for r in responses:
        cid = critique_ids(r["id"], 1)[0]
        if cid in out.done:
            continue
        text = annotate_record(r, abstain=False).critique or ""
        parsed = parse_critique(text)
        recs.append(
            {
                "id": cid,
                "sample_id": r["id"],
                "qid": r["qid"],
                "critic_model": PROGRAMMATIC,
                "critique": text,
                "verdict": parsed.verdict,
                "follows_format": parsed.follows_format,
                "step_verdicts": list(parsed.steps),
                "empty": not text.strip(),
            }
        )
    out.append(recs)
    return out.records


def to_refine(responses: Sequence[Mapping[str, Any]], critiques: Sequence[Critique]) -> list[Critique]:
    """The critiques whose response the actor refines: every wrong response (for helpfulness)
    and every response the critic does not call correct (for the verifier mode)."""
    correct = {r["id"]: bool(r["correct"]) for r in responses}
    return [c for c in critiques if not correct[c["sample_id"]] or c.get("verdict") != "correct"]


def _ratio(hits: int, n: int) -> float | None:
    return round(hits / n, 4) if n else None


def _hmean(a: float | None, b: float | None) -> float | None:
    if a is None or b is None:
        return None
    return round(2 * a * b / (a + b), 4) if a + b else 0.0


def _ci(bounds: tuple[float, float] | None) -> list[float] | None:
    return None if bounds is None else [round(bounds[0], 4), round(bounds[1], 4)]


def share(hits: int, n: int) -> dict:
    """A proportion with its counts and 95 % Wilson interval (an entry of ``intervals``)."""
    return {"value": _ratio(hits, n), "hits": int(hits), "n": n, "ci": _ci(wilson(hits, n)), "method": WILSON}


def f1_share(err_hits: int, err_n: int, ok_hits: int, ok_n: int) -> dict:
    """ProcessBench's F1 with its counts and conservative 95 % interval (an entry of ``intervals``)."""
    value = _hmean(_ratio(err_hits, err_n), _ratio(ok_hits, ok_n))
    ci = harmonic_mean_interval(err_hits, err_n, ok_hits, ok_n)
    return {"value": value, "hits": None, "n": err_n + ok_n, "ci": _ci(ci), "method": WILSON_HARMONIC}


def interval(metrics: dict, key: str) -> dict | None:
    """The ``intervals`` entry of one metric of a critic's metrics; None for results written
    before intervals were stored (or a metric without one)."""
    return (metrics.get("intervals") or {}).get(key)


def critic_metrics(
    responses: Sequence[Mapping[str, Any]], critiques: Sequence[Critique] | None, refinements: Sequence[Refinement]
) -> dict:
    """Every metric of one critic (see the module docstring); ``critiques`` None for ``none``."""
    n = len(responses)
    before = sum(bool(r["correct"]) for r in responses)
    out: dict = {"n": n, "accuracy_before_refinement": _ratio(before, n)}
    if critiques is None:
        out.update({m: None for m in METRICS})
        out["accuracy_after_refinement"] = _ratio(before, n)
        out["intervals"] = {k: share(before, n) for k in ("accuracy_before_refinement", "accuracy_after_refinement")}
        return out
    by_sample = {c["sample_id"]: c for c in critiques}
    refined = {r["sample_id"]: bool(r["correct"]) for r in refinements}
    fmt = disc = after = 0
    disc_wrong = disc_right = n_wrong = helped = 0
    err_hits = err_n = ok_hits = ok_n = 0
    for r in responses:
        c = by_sample.get(r["id"], {})
        verdict = c.get("verdict")
        truth = "correct" if r["correct"] else "wrong"
        fmt += bool(verdict is not None and c.get("step_verdicts"))
        disc += verdict == truth
        if r["correct"]:
            disc_right += verdict == "correct"
        else:
            n_wrong += 1
            disc_wrong += verdict == "wrong"
            helped += refined.get(r["id"], False)
        after += r["correct"] if verdict == "correct" else refined.get(r["id"], False)
        if r.get("label_status") == "ok":
            pred = predicted_first_error(c.get("critique") or "", r["response"]) if verdict is not None else -2
            if r.get("label_first_error") is not None:
                err_n += 1
                err_hits += pred is not None and pred == r["label_first_error"]
            elif r["correct"]:
                ok_n += 1
                ok_hits += pred is None and verdict == "correct"
    acc_err, acc_ok = _ratio(err_hits, err_n), _ratio(ok_hits, ok_n)
    out.update(
        format_compliance=_ratio(fmt, n),
        discrimination=_ratio(disc, n),
        discrimination_on_wrong=_ratio(disc_wrong, n_wrong),
        discrimination_on_correct=_ratio(disc_right, n - n_wrong),
        f1=_hmean(acc_err, acc_ok),
        f1_accuracy_erroneous=acc_err,
        f1_accuracy_correct=acc_ok,
        f1_n=err_n + ok_n,
        helpfulness=_ratio(helped, n_wrong),
        accuracy_after_refinement=_ratio(after, n),
        refinements=len(refinements),
    )
    out["intervals"] = {
        "format_compliance": share(fmt, n),
        "discrimination": share(disc, n),
        "discrimination_on_wrong": share(disc_wrong, n_wrong),
        "discrimination_on_correct": share(disc_right, n - n_wrong),
        "f1": f1_share(err_hits, err_n, ok_hits, ok_n),
        "f1_accuracy_erroneous": share(err_hits, err_n),
        "f1_accuracy_correct": share(ok_hits, ok_n),
        "helpfulness": share(helped, n_wrong),
        "accuracy_before_refinement": share(before, n),
        "accuracy_after_refinement": share(after, n),
    }
    return out


def evaluate_critic(
    name: str,
    critic: Engine | str | None,
    actor: Engine | None,
    responses: Sequence[dict],
    out_dir: Path,
    critic_params: SamplingParams,
    refine_params: SamplingParams,
    grader: str = "default",
    chunk_size: int = 512,
    grade_workers: int | None = None,
) -> dict:
    """Critique, refine and score one critic; its files go to ``out_dir/<name>/`` (resumable)."""
    if critic is None or critic == NONE:
        return critic_metrics(responses, None, [])
    critiques_file = RunLayout.critic_eval_file(out_dir, "critiques", critic=name)
    if critic == PROGRAMMATIC:
        critiques = programmatic_critiques(responses, critiques_file)
    elif isinstance(critic, Engine):
        critiques, _ = critique_samples(critic, as_samples(responses), critiques_file, critic_params, chunk_size)
    else:
        raise ValueError(f"critic {name!r}: expected an engine, {PROGRAMMATIC!r} or {NONE!r}")
    todo = to_refine(responses, critiques)
    refinements: list[Refinement] = []
    if todo:
        if actor is None:
            raise ValueError("refinement needs the actor engine")
        samples = {r["id"]: r for r in as_samples(responses)}
        refinements, _ = refine_critiques(
            actor,
            todo,
            samples,
            RunLayout.critic_eval_file(out_dir, "refinements", critic=name),
            refine_params,
            reserved_new_data=1,
            grader=grader,
            chunk_size=chunk_size,
            grade_workers=grade_workers,
            desc=f"refining ({name})",
        )
    return critic_metrics(responses, critiques, refinements)


def response_summary(responses: Sequence[dict]) -> dict:
    return {
        "n": len(responses),
        "correct": sum(bool(r["correct"]) for r in responses),
        "wrong": sum(not r["correct"] for r in responses),
        "per_strategy": dict(sorted(Counter(r["strategy"] for r in responses).items())),
        "labelled_first_error": sum(r.get("label_status") == "ok" for r in responses),
    }


# --------------------------------------------------------------------------- ProcessBench


def processbench_responses(records: Sequence[dict]) -> list[dict]:
    """ProcessBench records as responses the critics read: one line per step (a step's own line
    breaks become spaces, so step i is line i), ``label`` kept."""
    out = []
    for rec in records:
        lines = [" ".join(s.split()) or "(empty step)" for s in rec["steps"]]
        out.append(
            {
                "id": rec["id"],
                "qid": rec["id"],
                "question": rec["problem"],
                "response": SOLUTION_PREFIX + "\n".join(lines),
                "label": rec["label"],
                "final_answer_correct": rec["final_answer_correct"],
            }
        )
    return out


def processbench_metrics(responses: Sequence[Mapping[str, Any]], critiques: Sequence[Critique]) -> dict:
    """ProcessBench's F1 (exact first wrong step on erroneous samples, label -1 on correct ones,
    harmonic mean), format compliance, and final-answer discrimination, with ``intervals``."""
    by_sample = {c["sample_id"]: c for c in critiques}
    fmt = disc = err_hits = err_n = ok_hits = ok_n = 0
    for r in responses:
        c = by_sample.get(r["id"], {})
        verdict = c.get("verdict")
        fmt += bool(verdict is not None and c.get("step_verdicts"))
        disc += verdict == ("correct" if r["final_answer_correct"] else "wrong")
        pred = predicted_first_error(c.get("critique") or "", r["response"]) if verdict is not None else -2
        if r["label"] >= 0:
            err_n += 1
            err_hits += pred == r["label"]
        else:
            ok_n += 1
            ok_hits += pred is None
    n = len(responses)
    acc_err, acc_ok = _ratio(err_hits, err_n), _ratio(ok_hits, ok_n)
    return {
        "n": n,
        "format_compliance": _ratio(fmt, n),
        "discrimination": _ratio(disc, n),
        "f1": _hmean(acc_err, acc_ok),
        "f1_accuracy_erroneous": acc_err,
        "f1_accuracy_correct": acc_ok,
        "intervals": {
            "format_compliance": share(fmt, n),
            "discrimination": share(disc, n),
            "f1": f1_share(err_hits, err_n, ok_hits, ok_n),
            "f1_accuracy_erroneous": share(err_hits, err_n),
            "f1_accuracy_correct": share(ok_hits, ok_n),
        },
    }
