"""Reasoning steps: a solution is one step per non-empty line, ending at its final-answer line."""

from __future__ import annotations

import re
from typing import Any

from selfimprove.generation.prompts import strip_prefix

# the phrases the grader reads a final answer from ("The answer is ...", "#### N", a box)
_FINAL_RE = re.compile(r"\banswer(?:\s+is\b|\s*\**\s*[:：])|####|\\boxed\s*\{|\\fbox\s*\{", re.IGNORECASE)
_LABEL_RE = re.compile(
    r"^(?:(?:\*\*)?(?:corrected |rewritten |new )?step(?: \d+)?\s*[:.)]\s*(?:\*\*)?\s*|\d{1,2}[.)]\s+)+", re.IGNORECASE
)


def is_final(step: str) -> bool:
    """True for a step that states the final answer."""
    return bool(_FINAL_RE.search(step))


def split_steps(solution: str) -> list[str]:
    """The steps of a solution (its reply prefix removed), up to and including the first final-answer step."""
    steps = []
    for line in strip_prefix(solution or "").splitlines():
        line = line.strip()
        if not line:
            continue
        steps.append(line)
        if is_final(line):
            break
    return steps


def first_step(text: str) -> str:
    """The first line of a generation that says something, without "Step 2:" or "2." labels; a
    lead-in ending in a colon ("Here's the corrected step:") is passed over when a line follows."""
    lines = [ln for ln in (_LABEL_RE.sub("", raw.strip()).strip() for raw in (text or "").splitlines()) if ln]
    return next((ln for ln in lines if not ln.endswith(":")), lines[0] if lines else "")


def completion_text(c: Any) -> str:
    """The text of one completion, whether an engine returns strings or objects with ``.text``."""
    return c if isinstance(c, str) else str(getattr(c, "text", ""))
