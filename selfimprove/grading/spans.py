"""Math spans near the end of a response: ``$...$``, ``$$...$$``, ``\\(...\\)``, ``\\[...\\]``.

``last_math_span`` is the MATH fallback when a response has no marker: the last span that ends
near the end of the text, reduced to the right-most side of its ``=`` chain (``\\approx``
tails dropped). Only the last ``_SPAN_WINDOW`` characters are scanned and every span is at most
``_SPAN_MAX`` characters, so the scan is linear and bounded.
"""

from __future__ import annotations

import re

from .latex import split_top_eq

__all__ = ["SPAN_RE", "last_math_span", "rightmost_side"]

_SPAN_WINDOW = 4000  # only this much of the end of a response is scanned for math spans
_SPAN_TAIL = 300  # the span must end within this many characters of the end
_SPAN_MAX = 400
# Display math (``$$...$$``, ``\\[...\\]``) may span lines; inline math (``$...$``,
# ``\\(...\\)``) may not, and an escaped ``\\$`` inside it is a dollar sign, not a delimiter.
SPAN_RE = re.compile(
    rf"\$\$([^$]{{1,{_SPAN_MAX}}})\$\$|\\\[((?:(?!\\\]).){{1,{_SPAN_MAX}}})\\\]"
    rf"|\\\(((?:(?!\\\))[^\n]){{1,{_SPAN_MAX}}})\\\)|(?<!\\)\$((?:[^$\n\\]|\\[^\n]){{1,{_SPAN_MAX}}})(?<!\\)\$",
    re.S,
)


def rightmost_side(expr: str) -> str | None:
    """Right-most side of an ``a = b = c`` chain (``=`` outside brackets); ``\\approx`` tails dropped."""
    side = split_top_eq(expr)[-1]
    if "\\approx" in side:
        before = side.split("\\approx", 1)[0].strip()
        side = before or side
    side = side.strip().rstrip(".,;").strip()
    return side or None


def last_math_span(text: str) -> str | None:
    """The last ``$...$`` / ``$$...$$`` / ``\\(...\\)`` / ``\\[...\\]`` span ending near the end of
    ``text``, reduced to the right-most side of an ``=`` chain; ``None`` when there is none."""
    if not text:
        return None
    start = max(0, len(text) - _SPAN_WINDOW)
    if start:
        # Keep "$" pairing right: when the window starts inside a "$...$", skip past it.
        before = text[:start]
        if (before.count("$") - before.count("\\$")) % 2:
            nxt = text.find("$", start)
            if nxt == -1:
                return None
            start = nxt + 1
    last = None
    for m in SPAN_RE.finditer(text, start):
        last = m
    if last is None or last.end() < len(text) - _SPAN_TAIL:
        return None
    content = next(g for g in last.groups() if g is not None).strip()
    if not content or "box" in content:
        return None
    return rightmost_side(content)
