"""Smoothing: a chain (steps, checks, rewrites) rewritten as one self-talk monologue.

The **template smoother** (offline default, deterministic) writes every attempt of every position
in order, each followed by its check: a rejected attempt by "Wait, let me check this calculation.
<critique> Hmm, that's not right. Let me redo this step.", an accepted one by "Let me check this
step. <critique> Looks good.". Phrases vary by a stable hash of (chain id, position, attempt).

The **LLM smoother** asks a model to rewrite the template draft in its own words; an output that
is empty or whose final answer is not the gold answer falls back to the template text (the
record says which one was used).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from selfimprove.generation.engines import Engine, SamplingParams
from selfimprove.generation.prompts import SOLUTION_PREFIX
from selfimprove.grading.api import grade
from selfimprove.selftalk.prompts import CHECK_OK, CHECK_WRONG, REDO, smooth_prompt
from selfimprove.selftalk.steps import completion_text

SMOOTHERS = ("template", "llm")


def _pick(options: Sequence[str], *key: object) -> str:
    h = hashlib.sha256("\x1f".join(map(str, key)).encode()).digest()
    return options[int.from_bytes(h[:4], "big") % len(options)]


def _sentence(text: str) -> str:
    text = " ".join((text or "").split())
    return text if not text or text[-1] in ".!?" else text + "."


def template_monologue(record: dict) -> str:
    """The monologue of a chain record (:func:`~selfimprove.selftalk.chains.chain_record`), without
    the reply prefix."""
    lines = []
    cid = record["id"]
    for slot in record["steps"]:
        attempts = slot["attempts"]
        for k, a in enumerate(attempts):
            lines.append(a["text"])
            expl = _sentence(a["explanation"])
            if a["ok"]:
                lines.append(_pick(CHECK_OK, cid, slot["position"], k).format(explanation=expl).replace("  ", " "))
            else:
                check = _pick(CHECK_WRONG, cid, slot["position"], k).format(explanation=expl).replace("  ", " ")
                redo = _pick(REDO, cid, slot["position"], k) if k + 1 < len(attempts) else ""
                lines.append(f"{check} {redo}".strip())
    return "\n".join(lines)


def smooth_template(records: Sequence[dict]) -> list[tuple[str, str]]:
    """``(monologue, smoother)`` per record, with the reply prefix."""
    return [(SOLUTION_PREFIX + template_monologue(r), "template") for r in records]


def smooth_llm(
    engine: Engine, records: Sequence[dict], params: SamplingParams, grader: str = "default"
) -> list[tuple[str, str]]:
    """An LLM rewrites each template draft; outputs without the gold answer fall back to the draft."""
    drafts = [template_monologue(r) for r in records]
    if not drafts:
        return []
    outs = engine.generate([smooth_prompt(r["question"], d) for r, d in zip(records, drafts)], params)
    result = []
    for r, d, completions in zip(records, drafts, outs):
        text = completion_text(completions[0]).strip() if completions else ""
        if text and grade(text, r["gold"], r["dataset_type"], grader).correct:
            result.append((SOLUTION_PREFIX + text, "llm"))
        else:
            result.append((SOLUTION_PREFIX + d, "template-fallback"))
    return result
