"""Trailing unit words: ``6\\pi \\text{ square units}`` -> ``6\\pi``, ``2\\sqrt{3} cm`` -> ``2\\sqrt{3}``.

Units are dropped, never converted (``30 mm`` does not equal ``3 cm``); only a trailing
``\\text{...}``/``\\mbox{...}`` of one to three unit-like words (optionally ``^2``/``^3``), or
plain unit words after a space, is removed, and only when what remains is a complete expression.
"""

from __future__ import annotations

import re

__all__ = ["strip_unit_words"]

# --------------------------------------------------------------------------- unit words

_UNIT_TEXT_TAIL_RE = re.compile(
    r"\\(?:text|mbox|textrm|textnormal|mathrm|hbox)\s*\{([^{}]*)\}\s*(?:\^\s*\{?\s*[23]\s*\}?)?[\s.$]*$"
)
_UNIT_WORDS_TAIL_RE = re.compile(
    r"(?<=\s)([A-Za-z][A-Za-z.]*(?:\s+[A-Za-z][A-Za-z.]*){0,2})\s*(?:\^\s*\{?\s*[23]\s*\}?)?[\s.$]*$"
)
_NOT_UNITS = frozenset(
    "and or only for all where when with the of is are to if then else not any none no each every "
    "real reals numbers number integer integers even odd true false undefined exist exists".split()
)
_SHORT_UNIT_WORDS = frozenset("cm mm km m ft in yd mi kg g mg lb lbs oz ml l hr hrs h s sec min mph sq".split())


def _unit_words(text: str) -> bool:
    """True when ``text`` is one to three unit words ("square units", "cm", "sq. ft")."""
    words = [w for w in re.split(r"[\s.]+", text.strip()) if w]
    if not 1 <= len(words) <= 3:
        return False
    for w in words:
        lw = w.lower()
        if not w.isalpha() or lw in _NOT_UNITS:
            return False
        if len(lw) < 3 and lw not in _SHORT_UNIT_WORDS:
            return False
    return True


def _complete_expression(s: str) -> bool:
    """Whether ``s`` is a finished formula (no dangling operator, no plain words left)."""
    s = s.strip().rstrip("$").strip()
    if not s or s[-1] in "+-*/^_=,([{<>|" or re.search(r"\\(?:cdot|times|div|frac|sqrt)\s*$", s):
        return False
    bare = re.sub(r"\\[a-zA-Z]+", " ", s)
    if re.search(r"[A-Za-z]{3,}", bare) or not re.search(r"[0-9A-Za-z]|\\[a-zA-Z]", s):
        return False
    depth = 0
    for c in s:
        depth += c in "([{"
        depth -= c in ")]}"
        if depth < 0:
            return False
    return depth == 0


def strip_unit_words(s: str) -> str | None:
    """``s`` without trailing unit words (``6\\pi \\text{ square units}`` -> ``6\\pi``), else None.

    Only a trailing ``\\text{...}``/``\\mbox{...}`` of unit-like words, or plain unit words
    after a space, is removed, and only when what remains is a complete expression: text
    answers (``\\text{Tuesday}``) and choices (``\\text{(B)}``) are left alone.
    """
    if len(s) > 600 or not re.search(r"[A-Za-z]{2}", s):
        return None
    m = _UNIT_TEXT_TAIL_RE.search(s)
    if m is None:
        m = _UNIT_WORDS_TAIL_RE.search(s)
    if m is None or not _unit_words(m.group(1)):
        return None
    rest = s[: m.start()].rstrip()
    return rest if _complete_expression(rest) else None
