"""Cheap, in-process normalisation of answer strings and exact number parsing.

``canonical`` rewrites an answer into a canonical LaTeX-ish string (no ``$``, ``\\left``,
spacing macros, ``\\text`` wrappers, degree marks; ``\\dfrac``/``\\tfrac`` become ``\\frac``;
``\\sqrt2`` / ``\\sqrt(2)`` become ``\\sqrt{2}``; ``\\frac43`` becomes ``\\frac{4}{3}``).

``parse_number`` turns numeric answers into exact ``fractions.Fraction`` values: thousands
separators (``1,000``, ``1{,}000``, ``1,\\!000``), currency, percent, unit words, degrees,
scientific notation, leading-dot decimals, mixed numbers (``4\\frac{2}{3}``) and repeating
decimals (``0.\\overline{3}``). Sizes are bounded so no input can create a gigantic integer.

All functions are linear-ish in the input length and never raise on string input.
"""

from __future__ import annotations

import re
from fractions import Fraction

__all__ = ["canonical", "parse_number", "number_values", "strip_text_commands", "MAX_ANSWER_CHARS"]

#: Answers longer than this are compared as normalised strings only.
MAX_ANSWER_CHARS = 3000
_MAX_DIGITS = 400
_MAX_EXP = 400

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
_DEGREE_RE = re.compile(r"\^\s*\{\s*\\circ\s*\}|\^\s*\\circ|\\circ|°|\\degree\b|\^\{\\text\{o\}\}")


def _find_group(s: str, start: int, open_c: str = "{", close_c: str = "}") -> int:
    """Index just past the group opening at ``s[start]``; -1 when it never closes."""
    depth = 0
    i, n = start, len(s)
    while i < n:
        c = s[i]
        if c == "\\" and open_c == "{" and i + 1 < n and s[i + 1] in "{}":
            i += 2
            continue
        if c == open_c:
            depth += 1
        elif c == close_c:
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return -1


def strip_text_commands(s: str) -> str:
    """Replace ``\\text{...}``-like wrappers by their content (balanced braces)."""
    for _ in range(200):
        m = _TEXT_CMD_RE.search(s)
        if not m:
            break
        end = _find_group(s, m.end() - 1)
        if end == -1:
            s = s[: m.start()] + s[m.end() :]
            continue
        inner = s[m.end() : end - 1]
        if m.group(1) in ("text", "mbox", "textnormal", "textrm", "hbox") and inner.strip().lower() in (
            "or",
            "and",
            ", and",
            "and,",
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
                end = _find_group(s, j, "(", ")")
                if end != -1:
                    out.append("{" + s[j + 1 : end - 1] + "}")
                    i = end
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


def canonical(s: str | None) -> str:
    """Canonical string form of an answer; idempotent and cheap."""
    if s is None:
        return ""
    s = str(s).strip()
    if not s:
        return ""
    if len(s) > MAX_ANSWER_CHARS:
        return " ".join(s.split())
    # Unwrap boxes left in a bare answer.
    from .extract import find_last_boxed

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
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac").replace("\\cfrac", "\\frac")
    s = s.replace("{,}", "").replace(",\\!", "")
    s = _SIZING_RE.sub("", s)
    s = _DEGREE_RE.sub("", s)
    s = s.replace("\\%", "%").replace("\\varnothing", "\\emptyset").replace("\\{\\}", "\\emptyset")
    s = s.replace("\\lbrace", "\\{").replace("\\rbrace", "\\}").replace("\\lvert", "|").replace("\\rvert", "|")
    s = re.sub(r"\\(?:dots|ldots|cdots)\b", "\\\\dots", s)
    s = s.replace("\\le ", "\\leq ").replace("\\ge ", "\\geq ").replace("\\neq", "\\ne")
    s = strip_text_commands(s)
    s = _SPACING_RE.sub(" ", s)
    s = re.sub(r"(?<=[\w})\]])\s+(?:or|and)\s+(?=[-+\w\\(\[])", ",", s)
    s = s.replace("~", " ")
    s = _fix_sqrt_frac(s)
    s = re.sub(r"\s+", " ", s).strip()
    if " " in s and "/" in s:
        s = _PLAIN_MIXED_RE.sub(_mixed_to_frac, s)
    # Drop spaces unless they separate two letters ("\pi r", "New York").
    s = re.sub(r"(?<![A-Za-z]) | (?![A-Za-z])", "", s)
    s = s.strip()
    while s and s[-1] in ".,;:" and not s.endswith("\\dots"):
        s = s[:-1].rstrip()
    if s.startswith("=") and "=" not in s[1:]:
        s = s[1:].strip()
    # Redundant outer braces: "{5}" -> "5".
    while len(s) >= 2 and s[0] == "{" and _find_group(s, 0) == len(s):
        s = s[1:-1].strip()
    return s


# --------------------------------------------------------------------------- numbers

_DEC = r"(?:\d+(?:\.\d*)?|\.\d+)"
_DEC_SEP = r"(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?)"
_NUM_RE = re.compile(rf"({_DEC_SEP}|{_DEC})")
_SCI_RE = re.compile(rf"({_DEC})(?:[eE]([+-]?\d+)|(?:\\times|\\cdot|\*|x)10\^(?:\{{([+-]?\d+)\}}|([+-]?\d)))")
_FRAC_RE = re.compile(rf"\\frac\{{([+-]?{_DEC})\}}\{{([+-]?{_DEC})\}}")
_SLASH_RE = re.compile(rf"([+-]?{_DEC})/([+-]?{_DEC})")
_MIXED_RE = re.compile(r"(\d+)(?:\\frac\{(\d+)\}\{(\d+)\}|\s(\d+)/(\d+))")
_REPEAT_RE = re.compile(r"(\d*)\.(\d*)(?:\\overline\{(\d+)\}|\\overline(\d)|\\dot\{(\d)\}|\((\d+)\))")
_UNIT_TAIL_RE = re.compile(r"^(.*?[\d}%.])\s*([A-Za-z][A-Za-z .'/-]*?)(?:\^\{?[23]\}?)?\.?$")
_CURRENCY_RE = re.compile(r"^(?:us\$|usd|rs\.?|inr|eur|€|£|¥)\s*", re.IGNORECASE)
_PLAIN_NUM_RE = re.compile(r"[+-]?(?:\d[\d,]*(?:\.\d*)?|\.\d+)")


def _dec_to_fraction(text: str) -> Fraction | None:
    text = text.replace(",", "")
    if len(text) > _MAX_DIGITS:
        return None
    try:
        return Fraction(text)
    except (ValueError, ZeroDivisionError):
        return None


def _parse_unsigned(s: str) -> Fraction | None:
    m = _NUM_RE.fullmatch(s)
    if m:
        return _dec_to_fraction(m.group(1))
    m = _SCI_RE.fullmatch(s)
    if m:
        mant = _dec_to_fraction(m.group(1))
        exp_txt = m.group(2) or m.group(3) or m.group(4)
        exp = int(exp_txt)
        if mant is None or abs(exp) > _MAX_EXP:
            return None
        return mant * Fraction(10) ** exp
    m = _FRAC_RE.fullmatch(s) or _SLASH_RE.fullmatch(s)  # \frac{a}{b} or a/b
    if m:
        num, den = _dec_to_fraction(m.group(1)), _dec_to_fraction(m.group(2))
        if num is None or not den:
            return None
        return num / den
    m = _MIXED_RE.fullmatch(s)
    if m:
        whole = int(m.group(1))
        num = int(m.group(2) or m.group(4))
        den = int(m.group(3) or m.group(5))
        if den == 0 or num >= den or len(s) > _MAX_DIGITS:
            return None
        return whole + Fraction(num, den)
    m = _REPEAT_RE.fullmatch(s)
    if m:
        ip, fixed = m.group(1) or "0", m.group(2)
        rep = next(g for g in m.groups()[2:] if g)
        if len(ip) + len(fixed) + len(rep) > _MAX_DIGITS:
            return None
        base = Fraction(int(ip)) + (Fraction(int(fixed), 10 ** len(fixed)) if fixed else 0)
        return base + Fraction(int(rep), (10 ** len(rep) - 1) * 10 ** len(fixed))
    return None


_SHORT_UNITS = frozenset("cm mm km ft in yd mi kg mg lb oz ml hr hrs mph sq m2 cm2 ft2 am pm".split())


def _is_unit(word: str) -> bool:
    """True for unit-like trailing words: any word of 3+ letters, or a known short unit."""
    word = word.strip().lower()
    return bool(re.search(r"[a-z]{3,}", word)) or word in _SHORT_UNITS


def _strip_decorations(s: str) -> tuple[str, bool]:
    """Remove currency, percent, degrees and trailing unit words; report a percent sign."""
    s = s.strip()
    pct = False
    for _ in range(3):
        before = s
        s = _CURRENCY_RE.sub("", s).strip()
        if s.endswith("%"):
            s, pct = s[:-1].strip(), True
        for word in ("percent", "per cent"):
            if s.lower().endswith(word):
                s, pct = s[: -len(word)].strip(), True
        m = _UNIT_TAIL_RE.match(s)
        if m and _PLAIN_NUM_RE.search(m.group(1)) and _is_unit(m.group(2)):
            s = m.group(1).strip()
        s = s.rstrip(".").strip()
        if s == before:
            break
    return s, pct


def _parse_core(s: str) -> tuple[Fraction | None, bool]:
    s, pct = _strip_decorations(s)
    s = s.replace(" ", "")
    if not s or len(s) > _MAX_DIGITS + 40:
        return None, pct
    sign = 1
    while s[:1] in ("-", "+"):
        if s[0] == "-":
            sign = -sign
        s = s[1:]
    if s.startswith("{") and s.endswith("}") and _find_group(s, 0) == len(s):
        s = s[1:-1]
    val = _parse_unsigned(s)
    if val is None:
        return None, pct
    return sign * val, pct


def parse_number(s: str | None) -> Fraction | None:
    """Exact value of a purely numeric answer, or ``None`` when it is not one.

    A percent sign is dropped (``"50\\%"`` -> 50); see :func:`number_values` for the
    percent-aware set of readings.
    """
    if not s:
        return None
    try:
        val, _ = _parse_core(canonical(s))
        return val
    except Exception:  # pragma: no cover - defensive: never raise on strings
        return None


def number_values(s: str | None) -> frozenset[Fraction] | None:
    """All acceptable readings of a numeric answer (``50%`` reads as 50 or 1/2)."""
    if not s:
        return None
    try:
        val, pct = _parse_core(canonical(s))
    except Exception:  # pragma: no cover - defensive
        return None
    if val is None:
        return None
    return frozenset({val, val / 100}) if pct else frozenset({val})
