"""Reading a critique's steps: the per-step blocks, and the first step it calls wrong.

A critic repeats each step ("Step sentence: ...") before judging it. It may skip, merge or
paraphrase steps, so the first "Wrong" block is matched back to the solution's own lines by its
sentence (exact, then contained, then the most similar line), and by position only when the
sentence is missing. That index is what ProcessBench's protocol compares with the true first
wrong step.
"""

from __future__ import annotations

import difflib
import re

from selfimprove.critic.programmatic import solution_steps, step_sentence
from selfimprove.generation.critique_format import STEP_VERDICT

_BLOCK = re.compile(
    r"Step sentence\s*:\s*(?P<sentence>.*?)\s*\n\s*\**\s*Correctness of the step\s*:\s*\**\s*\[?\s*"
    r"(?P<verdict>correct|wrong|incorrect)",
    re.I | re.S,
)
MAX_CRITIQUE_CHARS = 50_000


def step_blocks(critique: str) -> list[tuple[str | None, str]]:
    """``(sentence or None, "correct"|"wrong")`` for each step judgement, in order."""
    text = (critique or "")[:MAX_CRITIQUE_CHARS]
    blocks: list[tuple[str | None, str]] = []
    pos = 0
    for m in STEP_VERDICT.finditer(text):
        verdict = "correct" if m.group(1).lower() == "correct" else "wrong"
        head = text[pos : m.end()]
        found = list(_BLOCK.finditer(head))
        b = found[-1] if found else None
        sentence = " ".join(b.group("sentence").split()) if b is not None else None
        blocks.append((sentence or None, verdict))
        pos = m.end()
    return blocks


def _norm(s: str) -> str:
    return " ".join(re.sub(r"[^\w.+\-*/=$%]", " ", s.lower()).split())


def match_line(sentence: str | None, lines: list[str], position: int) -> int:
    """The index of the solution line a critique's step sentence repeats."""
    if not lines:
        return 0
    if sentence:
        target = _norm(sentence)
        normed = [_norm(step_sentence(line)) for line in lines]
        for i, n in enumerate(normed):
            if n == target:
                return i
        for i, n in enumerate(normed):
            if target and (target in n or (n and n in target)):
                return i
        ratios = [difflib.SequenceMatcher(None, target, n).ratio() for n in normed]
        best = max(range(len(lines)), key=lambda i: (ratios[i], -abs(i - position)))
        if ratios[best] >= 0.5:
            return best
    return min(position, len(lines) - 1)


def predicted_first_error(critique: str, response: str) -> int | None:
    """The 0-based index of the first solution step the critique calls wrong; None when it calls
    no step wrong."""
    blocks = step_blocks(critique)
    lines = solution_steps(response)
    for k, (sentence, verdict) in enumerate(blocks):
        if verdict == "wrong":
            return match_line(sentence, lines, k)
    return None
