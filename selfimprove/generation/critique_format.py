"""The critique format of the paper's critique model, read back: per-step verdicts ("Correctness of
the step: Correct/Wrong") and the final verdict ("Correctness of the final answer: ..."). The
instruction that asks for this format is :data:`selfimprove.generation.prompts.CRITIQUE_INSTRUCTION`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_FINAL_RE = re.compile(r"Correctness of the final answer\s*:\s*\**\s*\[?\s*(correct|wrong|incorrect)", re.I)
# one step verdict, its word in group 1 (also what selfimprove.critic.critiques splits a critique at)
STEP_VERDICT = re.compile(r"Correctness of the step\s*:\s*\**\s*\[?\s*(correct|wrong|incorrect)", re.I)


@dataclass(frozen=True)
class ParsedCritique:
    """What a critique says: ``verdict`` is "correct", "wrong" or None when it ignores the format."""

    verdict: str | None
    steps: tuple[str, ...] = field(default_factory=tuple)

    @property
    def follows_format(self) -> bool:
        return self.verdict is not None


def parse_critique(text: str) -> ParsedCritique:
    """Read the final-answer verdict and the per-step verdicts of a critique (last verdict wins)."""
    finals = _FINAL_RE.findall(text or "")
    verdict = None
    if finals:
        verdict = "correct" if finals[-1].lower() == "correct" else "wrong"
    steps = tuple("correct" if s.lower() == "correct" else "wrong" for s in STEP_VERDICT.findall(text or ""))
    return ParsedCritique(verdict, steps)
