"""The one LaTeX group and ``\\boxed`` parser of the grader (and of the dataset loaders).

Escape rule, the same everywhere: ``\\\\`` (a TeX line break) is one token; ``\\{`` and ``\\}``
are escaped braces. In a *TeX group* (``group_end``, boxes) escaped braces are ordinary
characters; in *bracket nesting* (``bracket_end``, ``split_top``: lists, tuples, sets) they are
the brackets of a set ``\\{1, 2\\}``. A lone backslash at the very end of a text escapes
nothing.

Every function is linear in the length of its input: the brace tokens are found by one regular
expression, matched with a stack in one pass, and ``find_boxes`` pairs every box in a response
with that one pass (so ``\\boxed{`` repeated a million times costs one scan, not a million).
Nothing here imports another grading module.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "Box",
    "brace_pairs",
    "group_end",
    "bracket_end",
    "split_top",
    "split_top_eq",
    "find_boxes",
    "find_last_boxed",
    "BOX_COMMANDS",
]

BOX_COMMANDS = ("boxed", "fbox")
_BOX_RE = re.compile(r"\\(?:boxed|fbox)(?![a-zA-Z])")
_GROUP_TOKEN_RE = re.compile(r"\\[\\{}]|[{}]")
_BRACKET_TOKEN_RE = re.compile(r"\\\\|\\[{}]|[()\[\]{}]")
_EQ_TOKEN_RE = re.compile(r"\\\\|\\[{}]|[()\[\]{}]|(?<![<>!=:\\])=(?!=)")
_OPENERS = frozenset("([{")


def brace_pairs(text: str, start: int = 0, end: int | None = None) -> dict[int, int]:
    """Map the index of every ``{`` in ``text[start:end]`` to the index of its matching ``}``.

    Unmatched opening braces are absent from the map; stray closing braces are ignored.
    """
    stack: list[int] = []
    pairs: dict[int, int] = {}
    for m in _GROUP_TOKEN_RE.finditer(text, start, len(text) if end is None else end):
        tok = m.group()
        if tok == "{":
            stack.append(m.start())
        elif tok == "}" and stack:
            pairs[stack.pop()] = m.start()
    return pairs


def group_end(text: str, start: int) -> int:
    """Index just past the TeX group opening at ``text[start] == "{"``; -1 when it never closes."""
    depth = 0
    for m in _GROUP_TOKEN_RE.finditer(text, start):
        tok = m.group()
        if tok == "{":
            depth += 1
        elif tok == "}":
            depth -= 1
            if depth == 0:
                return m.end()
    return -1


def bracket_end(text: str, start: int) -> int:
    """Index of the bracket closing the one at ``text[start]``; -1 when none does.

    Any of ``( [ { \\{`` opens and any of ``) ] } \\}`` closes (half-open intervals such as
    ``[1, 3)`` nest like any other bracket).
    """
    depth = 0
    for m in _BRACKET_TOKEN_RE.finditer(text, start):
        tok = m.group()
        if tok == "\\\\":
            continue
        if tok[-1] in _OPENERS:
            depth += 1
        else:
            depth -= 1
            if depth == 0:
                return m.end() - 1
    return -1


def split_top(text: str, sep: str = ",") -> list[str]:
    """Split ``text`` at ``sep`` where no bracket is open; pieces are stripped."""
    if sep not in text:
        return [text.strip()]
    cuts: list[tuple[int, int]] = []
    depth = 0
    pos = 0
    n = len(text)
    while pos < n:
        i = text.find(sep, pos)
        # Walk the bracket tokens between pos and the next separator.
        stop = n if i == -1 else i
        for m in _BRACKET_TOKEN_RE.finditer(text, pos, stop):
            tok = m.group()
            if tok == "\\\\":
                continue
            depth += 1 if tok[-1] in _OPENERS else -1
        if i == -1:
            break
        if depth == 0:
            cuts.append((i, i + len(sep)))
        pos = i + len(sep)
    if not cuts:
        return [text.strip()]
    out, prev = [], 0
    for a, b in cuts:
        out.append(text[prev:a].strip())
        prev = b
    out.append(text[prev:].strip())
    return out


def split_top_eq(text: str) -> list[str]:
    """The sides of ``a = b = c``: ``text`` split at the ``=`` signs outside brackets (never at
    ``<=``, ``>=``, ``!=``, ``==``, ``:=`` or ``\\=``); pieces are stripped."""
    if "=" not in text:
        return [text.strip()]
    sides, depth, cur = [], 0, 0
    for m in _EQ_TOKEN_RE.finditer(text):
        tok = m.group()
        if tok == "\\\\":
            continue
        if tok == "=":
            if depth == 0:
                sides.append(text[cur : m.start()].strip())
                cur = m.end()
        else:
            depth += 1 if tok[-1] in _OPENERS else -1
    sides.append(text[cur:].strip())
    return sides


@dataclass(frozen=True)
class Box:
    """One ``\\boxed{...}``/``\\fbox{...}``: where it starts, where its content lies, where it ends."""

    start: int
    content_start: int
    content_end: int
    end: int

    def content(self, text: str) -> str:
        return text[self.content_start : self.content_end].strip()


def find_boxes(text: str) -> list[Box]:
    """Every well-formed box of ``text`` in order of its start (one linear pass).

    ``\\boxed 5`` (no braces) boxes the following token. A box whose brace never closes is
    left out. Nested boxes are all listed (the inner one starts later).
    """
    if not text or "box" not in text:
        return []
    heads = list(_BOX_RE.finditer(text))
    if not heads:
        return []
    pairs = brace_pairs(text, heads[0].end())
    boxes: list[Box] = []
    n = len(text)
    for m in heads:
        j = m.end()
        while j < n and text[j] in " \t":
            j += 1
        if j < n and text[j] == "{":
            close = pairs.get(j)
            if close is not None:
                boxes.append(Box(m.start(), j + 1, close, close + 1))
            continue
        if j == m.end():
            continue  # "\boxed5" is not a box; "\boxed 5" is
        tok = re.match(r"[^\s$]{1,200}", text[j : j + 200])
        if tok:
            content = tok.group(0).rstrip(".,;")
            boxes.append(Box(m.start(), j, j + len(content), j + tok.end()))
    return boxes


def find_last_boxed(text: str) -> str | None:
    """Content of the last well-formed ``\\boxed{...}``/``\\fbox{...}`` (``None`` when there is none)."""
    boxes = find_boxes(text)
    return boxes[-1].content(text) if boxes else None
