"""Cheap, in-process normalisation of answer strings.

``canonical`` rewrites an answer into a canonical LaTeX-ish string: no ``$``, ``\\left``,
spacing macros, ``\\text`` wrappers or degree marks; ``\\dfrac``/``\\tfrac`` become ``\\frac``;
``\\sqrt2`` / ``\\sqrt(2)`` become ``\\sqrt{2}``; ``\\frac43`` becomes ``\\frac{4}{3}``. It also
undoes JSON double escaping (``\\\\frac`` -> ``\\frac``), drops a trailing backslash, keeps a
product of powers written with spaces (``2^4 3^2``) a product, and turns degrees inside a
trigonometric argument into radians (``\\cos(90^\\circ-x)`` -> ``\\cos(\\frac{90\\pi}{180}-x)``).

Exact number parsing lives in :mod:`.numbers`. Brace and bracket matching comes from
:mod:`.latex` (the one parser). All functions are linear-ish in the input length and never
raise on string input.
"""

from __future__ import annotations

import re
from functools import lru_cache

from .latex import bracket_end, find_last_boxed, group_end

__all__ = ["canonical", "strip_text_commands", "MAX_ANSWER_CHARS", "TRIG_RE", "DEGREE_RE"]

#: Answers longer than this are compared as normalised strings only.
MAX_ANSWER_CHARS = 3000

_TEXT_CMDS = (
    "text",
    "textbf",
    "textit",
    "textrm",
    "textnormal",
    "mbox",
    "mathrm",
    "mathbf",
    "mathit",
    "mathsf",
    "mathtt",
    "operatorname",
    "hbox",
    "emph",
    "textsf",
    "texttt",
    "mathbb",
    "mathcal",
)
_TEXT_CMD_RE = re.compile(r"\\(" + "|".join(sorted(_TEXT_CMDS, key=len, reverse=True)) + r")\s*\{")
_SPACING_RE = re.compile(r"(?<!\\)\\(?:[,;:! ]|quad\b|qquad\b|displaystyle\b|textstyle\b|limits\b|nolimits\b)")
_SIZING_RE = re.compile(
    r"\\(?:left|right|bigl|bigr|Bigl|Bigr|biggl|biggr|Biggl|Biggr|big|Big|bigg|Bigg|middle)(?![a-zA-Z])\.?"
)
DEGREE_RE = re.compile(r"\^\s*\{\s*\\circ\s*\}|\^\s*\\circ|\\circ|°|\\degree\b|\^\{\\text\{o\}\}")
TRIG_RE = re.compile(r"\\(?:sin|cos|tan|cot|sec|csc)(?![a-zA-Z])")
_DEG_NUMBER_RE = re.compile(r"(\d+(?:\.\d+)?)\s*(?:\^\s*\{\s*\\circ\s*\}|\^\s*\\circ|°|\\degree\b|\^\{\\text\{o\}\})")
# Commands that JSON-escaped data shows with a doubled backslash ("\\frac{1}{2}").
_ESCAPED_CMDS = (
    "frac dfrac tfrac cfrac sqrt left right cdot times div pi infty text textbf mathrm mbox boxed fbox "
    "le leq ge geq ne neq pm mp circ sin cos tan cot sec csc arcsin arccos arctan log ln exp "
    "alpha beta gamma delta theta lambda mu sigma phi omega cup cap in emptyset varnothing dots ldots "
    "cdots overline begin end binom approx lt gt quad qquad"
).split()
_DOUBLE_ESCAPE_RE = re.compile(
    r"\\\\(?=(?:" + "|".join(sorted(_ESCAPED_CMDS, key=len, reverse=True)) + r")(?![a-zA-Z]))"
)
_DOUBLE_ESCAPE_PUNCT_RE = re.compile(r"\\\\(?=[{}()\[\]$%,!;:])")
_BARE_SQRT_RE = re.compile(r"(?<![\\A-Za-z])sqrt(?=\s*[({\d])")
_BARE_PI_RE = re.compile(r"(?<![\\A-Za-z])pi(?![A-Za-z])")
# "2^4 3^2 7^3": a space after a power followed by a digit is a product, not a thousands separator.
_POWER_SPACE_RE = re.compile(r"(\^\s*(?:\{[^{}]{0,40}\}|[0-9A-Za-z]))\s+(?=\d)")


def strip_text_commands(s: str) -> str:
    """Replace ``\\text{...}``-like wrappers by their content (balanced braces)."""
    for _ in range(200):
        m = _TEXT_CMD_RE.search(s)
        if not m:
            break
        end = group_end(s, m.end() - 1)
        if end == -1:
            s = s[: m.start()] + s[m.end() :]
            continue
        inner = s[m.end() : end - 1]
        if m.group(1) in ("text", "mbox", "textnormal", "textrm", "hbox") and inner.strip().lower() in (
            "or",
            "and",
            ", and",
            "and,",
            ",",
        ):
            inner = ","
        s = s[: m.start()] + inner + s[end:]
    return s


def _fix_sqrt_frac(s: str) -> str:
    """``\\sqrt2``/``\\sqrt(2)``/``\\sqrt x`` -> ``\\sqrt{...}``; ``\\frac43`` -> ``\\frac{4}{3}``."""
    if "\\sqrt" in s:
        out = []
        i = 0
        for m in re.finditer(r"\\sqrt(?![a-zA-Z])", s):
            if m.start() < i:
                continue
            out.append(s[i : m.end()])
            j = m.end()
            while j < len(s) and s[j] == " ":
                j += 1
            if j < len(s) and s[j] == "(":
                close = bracket_end(s, j)
                if close != -1 and s[close] == ")":
                    out.append("{" + s[j + 1 : close] + "}")
                    i = close + 1
                    continue
            if j < len(s) and s[j] not in "{[":
                if s[j] == "\\":
                    cm = re.match(r"\\[a-zA-Z]+", s[j:])
                    if cm:
                        out.append("{" + cm.group(0) + "}")
                        i = j + cm.end()
                        continue
                elif s[j].isdigit():
                    # "\sqrt13" is read the way people mean it: the whole number.
                    k = j
                    while k < len(s) and s[k].isdigit():
                        k += 1
                    out.append("{" + s[j:k] + "}")
                    i = k
                    continue
                elif s[j].isalpha():
                    out.append("{" + s[j] + "}")
                    i = j + 1
                    continue
            i = j
        out.append(s[i:])
        s = "".join(out)
    if "\\frac" in s:
        s = re.sub(r"\\frac\s*([0-9a-zA-Z])\s*([0-9a-zA-Z])", r"\\frac{\1}{\2}", s)
        s = re.sub(r"\\frac\s*([0-9a-zA-Z])\s*\{", r"\\frac{\1}{", s)
        s = re.sub(r"\\frac\s*(\{[^{}]*\})\s*([0-9a-zA-Z])", r"\\frac\1{\2}", s)
    return s


# A plain-text mixed number "3 1/4" (integer, one space, proper fraction). It is rewritten as
# "3\\frac{1}{4}" before spaces are dropped; otherwise it would read as "31/4". A space
# between digit groups is a thousands separator only where no slash follows ("1 234").
_PLAIN_MIXED_RE = re.compile(r"(?<![\d.,/])(\d{1,9}) (\d{1,9})/(\d{1,9})(?![\d.,/])")


def _mixed_to_frac(m: re.Match) -> str:
    num, den = int(m.group(2)), int(m.group(3))
    if den == 0 or num >= den:
        return m.group(0)
    return f"{m.group(1)}\\frac{{{m.group(2)}}}{{{m.group(3)}}}"


def undo_double_escape(s: str) -> str:
    """``\\\\frac{1}{2}`` (JSON-escaped LaTeX) -> ``\\frac{1}{2}``; matrix row breaks are kept."""
    if "\\\\" not in s:
        return s
    s = _DOUBLE_ESCAPE_RE.sub(r"\\", s)
    if "\\begin" not in s and "&" not in s:
        s = _DOUBLE_ESCAPE_PUNCT_RE.sub(r"\\", s)
    return s


def _degrees_in_trig(s: str) -> str:
    """Degrees inside a trigonometric expression become radians: ``90^\\circ`` -> ``\\frac{90\\pi}{180}``."""
    if not TRIG_RE.search(s) or not DEGREE_RE.search(s):
        return s
    return _DEG_NUMBER_RE.sub(lambda m: "\\frac{" + m.group(1) + "\\pi}{180}", s)


_DOTS_RE = re.compile(r"\\(?:dots|ldots|cdots)\b")
_OR_AND_RE = re.compile(r"(?<=[\w})\]])\s+(?:or|and)\s+(?=[-+\w\\(\[])")
# "19, 46, and 82"; "7, -2, \\text{ and } -5" (the text command became a comma): one separator.
_COMMA_AND_RE = re.compile(r",\s*(?:and|or)\s+(?=[-+\w\\(\[{])")
_DOUBLE_COMMA_RE = re.compile(r",(?:\s*,)+")
# Connectors written without spaces: "(11,7)or(7,11)", "W(x)=1orW(x)=-1".
_GLUED_OR_AND_RE = re.compile(
    r"(?<=[)\]}])\s*(?:or|and)\s*(?=[(\[{])|(?<=[\d)}\]])(?:or|and)(?=[A-Za-z](?:_\{?\w{1,3}\}?)?(?:\([a-z]\))?=)"
)
# "32, 349": a comma followed by a space is a list separator, never a thousands separator.
_LIST_COMMA_RE = re.compile(r"(?<=\d),\s+(?=\d{3}(?!\d))")
_SUPERSCRIPTS = {"\u00b2": "^2", "\u00b3": "^3", "\u00b9": "^1"}
_ODD_SPACES_RE = re.compile("[\u00a0\u2009\u202f\u2007\u2008\u200a]")
_SPACES_RE = re.compile(r"\s+")
_LONE_SPACE_RE = re.compile(r"(?<![A-Za-z]) | (?![A-Za-z])")


@lru_cache(maxsize=1 << 16)
def canonical(s: str | None) -> str:
    """Canonical string form of an answer; idempotent and cheap (memoised)."""
    if s is None:
        return ""
    s = str(s).strip()
    if not s:
        return ""
    if len(s) > MAX_ANSWER_CHARS:
        return " ".join(s.split())
    s = undo_double_escape(s)
    if "sqrt" in s or "pi" in s:
        # Plain-text "sqrt(3)" and "2pi" as models sometimes write them.
        s = _BARE_SQRT_RE.sub(r"\\sqrt", s)
        s = _BARE_PI_RE.sub(r"\\pi ", s)
    # Unwrap boxes left in a bare answer.
    for _ in range(5):
        if "box" not in s:
            break
        inner = find_last_boxed(s)
        if inner is None or inner == s:
            break
        s = inner
    s = s.replace("\\$", "").replace("$", "").replace("\\(", "").replace("\\)", "")
    s = s.replace("\\[", "").replace("\\]", "")
    s = s.replace("\u2212", "-").replace("\u2013", "-").replace("\u00d7", "\\times ").replace("\u00b7", "\\cdot ")
    s = s.replace("\u221a", "\\sqrt").replace("\u03c0", "\\pi ").replace("\u221e", "\\infty ")
    if not s.isascii():
        for sup, power in _SUPERSCRIPTS.items():
            s = s.replace(sup, power)
        s = _ODD_SPACES_RE.sub(" ", s)
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac").replace("\\cfrac", "\\frac")
    s = s.replace("{,}", "").replace(",\\!", "")
    s = _SIZING_RE.sub("", s)
    s = _degrees_in_trig(s)
    s = DEGREE_RE.sub("", s)
    s = s.replace("\\%", "%").replace("\\varnothing", "\\emptyset").replace("\\{\\}", "\\emptyset")
    s = s.replace("\\lbrace", "\\{").replace("\\rbrace", "\\}").replace("\\lvert", "|").replace("\\rvert", "|")
    s = _DOTS_RE.sub("\\\\dots", s)
    s = s.replace("\\le ", "\\leq ").replace("\\ge ", "\\geq ").replace("\\neq", "\\ne")
    s = strip_text_commands(s)
    s = _SPACING_RE.sub(" ", s)
    s = _OR_AND_RE.sub(",", s)
    if "or" in s or "and" in s:
        s = _GLUED_OR_AND_RE.sub(",", _COMMA_AND_RE.sub(",", s))
    if "," in s:
        s = _DOUBLE_COMMA_RE.sub(",", s)
    s = s.replace("~", " ")
    s = _fix_sqrt_frac(s)
    s = _SPACES_RE.sub(" ", s).strip()
    if " " in s and "/" in s:
        s = _PLAIN_MIXED_RE.sub(_mixed_to_frac, s)
    if "^" in s and " " in s:
        s = _POWER_SPACE_RE.sub(r"\1\\cdot ", s)
    if ", " in s:
        s = _LIST_COMMA_RE.sub(",\0", s)
    # Drop spaces unless they separate two letters ("\pi r", "New York").
    s = _LONE_SPACE_RE.sub("", s).replace("\0", " ")
    s = s.strip()
    s = s.rstrip("\\").rstrip()  # a trailing backslash escapes nothing
    while s and s[-1] in ".,;:" and not s.endswith("\\dots"):
        s = s[:-1].rstrip()
    if s.startswith("=") and "=" not in s[1:]:
        s = s[1:].strip()
    # Redundant outer braces: "{5}" -> "5".
    while len(s) >= 2 and s[0] == "{" and group_end(s, 0) == len(s):
        s = s[1:-1].strip()
    return s
