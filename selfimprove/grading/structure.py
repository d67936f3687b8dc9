"""Shapes of answers, read from canonical strings (no comparison happens here).

* ``structure``: matrices in every environment (``pmatrix``, ``bmatrix``, ``array`` inside
  ``[ ]``...), sets ``\\{...\\}``, unordered lists (``,`` ``;`` ``and`` ``or``), ordered tuples
  ``(a, b)``/``\\langle a, b\\rangle``, intervals and unions;
* ``inequality``: a one-variable inequality as an interval (``-y \\ge -4`` is ``y \\le 4``,
  ``2 < g(t) < 5`` is ``(2, 5)`` of ``g(t)``);
* ``assignment``: a named answer ``name = value`` (``x = 5``, ``(a,b) = (5,1)``, ``|PQ| = 2``,
  ``S_{XYZ}:S = 3:11``, ``g(x) = 3x-1``) and the last side of an ``=`` chain;
* ``clock`` and ``ratio``: ``18:05``, ``6:05 PM``, ``18:05:00`` as minutes of the day; ``3:11``
  as a ratio.

Every function is linear in its input and bounded by :data:`MAX_ITEMS`.
"""

from __future__ import annotations

import re
from fractions import Fraction

from .latex import bracket_end, split_top, split_top_eq

__all__ = [
    "MAX_ITEMS",
    "INFTY",
    "structure",
    "expand_pm",
    "inequality",
    "as_interval",
    "assignment",
    "last_side",
    "is_designator",
    "clock_minutes",
    "looks_like_clock",
    "ratio_parts",
]

MAX_ITEMS = 64
INFTY = "\\infty"

_ENVS = r"[pbBvV]?matrix|smallmatrix|array"
_MATRIX_RE = re.compile(r"^\\begin\{(" + _ENVS + r")\}(?:\{[^{}]*\})?(.*)\\end\{\1\}$", re.S)
_WRAPPED_MATRIX_RE = re.compile(r"^[(\[]\s*(\\begin\{(?:" + _ENVS + r")\}.*\\end\{(?:" + _ENVS + r")\})\s*[)\]]$", re.S)


def _matrix(s: str):
    w = _WRAPPED_MATRIX_RE.match(s)
    if w:
        s = w.group(1)
    m = _MATRIX_RE.match(s)
    if not m:
        return None
    if "\\end{" in m.group(2) or "\\begin{" in m.group(2):
        return None  # several matrices ("A + B"), not one
    body = m.group(2).replace("\\hline", "")
    rows = [r for r in re.split(r"\\\\", body) if r.strip()]
    if len(rows) > MAX_ITEMS:
        return None
    return ("matrix", [[c.strip() for c in r.split("&")] for r in rows])


_SYSTEM_RE = re.compile(r"^\\begin\{(cases|aligned|align\*?|gathered|gather\*?|eqnarray\*?)\}(.*)\\end\{\1\}$", re.S)
_PART_LABEL_RE = re.compile(r"\(([a-h])\)")


def _system(s: str):
    """``\\begin{cases} a+b=1 \\\\ a-b=2 \\end{cases}``: its rows, one equation each (a list)."""
    m = _SYSTEM_RE.match(s)
    if not m:
        return None
    rows = [r.replace("&", "").strip().rstrip(",;.") for r in re.split(r"\\\\", m.group(2))]
    rows = [r for r in rows if r]
    if not 1 <= len(rows) <= MAX_ITEMS:
        return None
    return ("list", rows)


def _parts(s: str):
    """``(a) 5, (b) 7`` -> the answers of parts (a), (b), ... in order (a tuple)."""
    if not s.startswith("(a)"):
        return None
    cuts = [m for m in _PART_LABEL_RE.finditer(s) if bracket_end(s, m.start()) == m.end() - 1]
    labels = "".join(m.group(1) for m in cuts)
    if len(cuts) < 2 or not "abcdefgh".startswith(labels):
        return None
    pieces = []
    for i, m in enumerate(cuts):
        end = cuts[i + 1].start() if i + 1 < len(cuts) else len(s)
        piece = s[m.end() : end].strip().rstrip(",;").strip()
        if piece.endswith(",and") or piece.endswith(",or"):
            piece = piece.rsplit(",", 1)[0]
        if not piece:
            return None
        pieces.append(piece)
    separated = all(s[m.start() - 1] in ",;" for m in cuts[1:])
    if not separated and not all(re.match(r"[-+\d\\(]", p) for p in pieces):
        return None  # "(a)x(b)y" is a product, not two parts
    return ("tuple", pieces)


def structure(s: str):
    """Parse ``s`` into ("matrix"|"set"|"list"|"tuple"|"interval"|"union", payload) or None."""
    if "\\begin" in s:
        mat = _matrix(s)
        if mat:
            return mat
        system = _system(s)
        if system:
            return system
    if s.startswith("(a)"):
        parts = _parts(s)
        if parts:
            return parts
    if s == "\\emptyset":
        return ("set", [])
    if "\\cup" in s:
        parts = split_top(s, "\\cup")
        if len(parts) > 1:
            return ("union", parts)
    if s.startswith("\\{") and s.endswith("\\}") and bracket_end(s, 0) == len(s) - 1:
        inner = s[2:-2]
        return ("set", split_top(inner) if inner.strip() else [])
    if s.startswith("\\langle") and s.endswith("\\rangle"):
        return ("tuple", split_top(s[len("\\langle") : -len("\\rangle")]))
    if len(s) >= 2 and s[0] in "([" and s[-1] in ")]" and bracket_end(s, 0) == len(s) - 1:
        items = split_top(s[1:-1])
        if len(items) == 1 and ";" in s:
            items = split_top(s[1:-1], ";")  # "(0;-2;6)"
        if len(items) >= 2:
            if len(items) == 2 and (s[0] == "[" or s[-1] == "]"):
                return ("interval", (s[0], items[0], items[1], s[-1]))
            return ("tuple", items)
    if ";" in s and "=" in s:
        # "p=5,q=2;p=7,q=2": groups of named values, one tuple per group.
        groups = split_top(s, ";")
        if len(groups) >= 2 and all("=" in g and len(split_top(g)) >= 2 for g in groups):
            return ("list", ["(" + g + ")" for g in groups])
    items = split_top(s)
    if len(items) >= 2:
        return ("list", items)
    for sep in (";", "\\text{and}"):
        items = split_top(s, sep)
        if len(items) >= 2:
            return ("list", items)
    return None


def expand_pm(s: str) -> list[str] | None:
    """``2\\pm\\sqrt{5}`` -> ``["2+\\sqrt{5}", "2-\\sqrt{5}"]`` (one ``\\pm``/``\\mp`` only)."""
    if "\\pm" not in s and "\\mp" not in s:
        return None
    if s.count("\\pm") + s.count("\\mp") != 1:
        return None
    a = s.replace("\\pm", "+").replace("\\mp", "-")
    b = s.replace("\\pm", "-").replace("\\mp", "+")
    return [re.sub(r"^\+", "", a), re.sub(r"^\+", "", b)]


# --------------------------------------------------------------------------- inequalities

_INEQ_OP_RE = re.compile(
    r"((?:\\leqslant|\\geqslant|\\leq|\\geq|\\le|\\ge|\\lt|\\gt)(?![a-zA-Z])|<=|>=|=<|=>|<|>|\u2264|\u2265)"
)
_VAR1 = r"(?:[A-Za-z]|\\(?!pi\b|infty\b)[a-zA-Z]+)(?:_(?:\{[A-Za-z0-9]+\}|[A-Za-z0-9]))?(?:\([a-z]\))?"
# A variable, or its absolute value ("1 \\le |z| \\le 2": an inequality on |z|).
_VAR = rf"(?:{_VAR1}|\|{_VAR1}\|)"
_INEQ_VAR_RE = re.compile(r"^-?" + _VAR + r"$")


def _ineq_op(tok: str) -> tuple[str, bool]:
    """("<" or ">", strict) for an inequality operator token."""
    less = tok in ("<", "\\lt", "<=", "=<", "\u2264") or tok.startswith("\\le")
    strict = tok in ("<", ">", "\\lt", "\\gt")
    return ("<" if less else ">"), strict


def _negate(term: str) -> str:
    return term[1:] if term.startswith("-") else "-" + term if re.fullmatch(r"[\w\\{}.]+", term) else f"-({term})"


def inequality(s: str):
    """A one-variable inequality as (variable, interval payload), else None.

    ``5>x`` -> ("x", ("(", "-\\infty", "5", ")")); ``-1<x\\leq4`` -> ("x", ("(", "-1", "4", "]"));
    ``-y\\geq-4`` -> ("y", ("(", "-\\infty", "4", "]")): a negated variable flips the inequality.
    """
    if len(s) > 300 or not re.search(r"[<>\u2264\u2265]|\\[lg]", s):
        return None
    parts = _INEQ_OP_RE.split(s)
    if len(parts) not in (3, 5):
        return None
    terms = [p.strip() for p in parts[0::2]]
    ops = [_ineq_op(p) for p in parts[1::2]]
    if any(not t or "=" in t or "," in t for t in terms):
        return None
    if len(ops) == 2:
        (d1, s1), (d2, s2) = ops
        if d1 != d2 or not _INEQ_VAR_RE.match(terms[1]):
            return None
        var, lo, hi = terms[1], terms[0], terms[2]
        lo_strict, hi_strict = s1, s2
        if d1 == ">":
            lo, hi, lo_strict, hi_strict = hi, lo, s2, s1
        if var.startswith("-"):  # -3 < -x < 1  is  -1 < x < 3
            var, lo, hi, lo_strict, hi_strict = var[1:], _negate(hi), _negate(lo), hi_strict, lo_strict
        return var, ("(" if lo_strict else "[", lo, hi, ")" if hi_strict else "]")
    ((d, strict),) = ops
    left, right = terms
    if _INEQ_VAR_RE.match(left) and _INEQ_VAR_RE.match(right) and INFTY not in (left, right):
        return None  # "x<y": two variables, not a range of one
    if _INEQ_VAR_RE.match(left):
        var, bound = left, right
    elif _INEQ_VAR_RE.match(right):
        var, bound = right, left
        d = "<" if d == ">" else ">"
    else:
        return None
    if var.startswith("-"):
        var, bound, d = var[1:], _negate(bound), "<" if d == ">" else ">"
    if var == INFTY or bound in (INFTY, "-" + INFTY, "+" + INFTY):
        return None
    if d == "<":
        return var, ("(", "-" + INFTY, bound, ")" if strict else "]")
    return var, ("(" if strict else "[", bound, INFTY, ")")


def as_interval(s: str, struct):
    """Interval payload of an interval written with brackets (``(3,\\infty)``, ``[1,2)``)."""
    if struct and struct[0] == "interval":
        return struct[1]
    if struct and struct[0] == "tuple" and len(struct[1]) == 2 and s[:1] == "(" and s[-1:] == ")":
        return ("(", struct[1][0], struct[1][1], ")")
    return None


# --------------------------------------------------------------------------- named answers

_SUB = r"(?:_(?:\{[A-Za-z0-9]{1,4}\}|[A-Za-z0-9]))"
_NAME = (
    rf"(?:[A-Za-z]{_SUB}?'?|\\(?!sum|prod|int|lim|log|ln|sin|cos|tan)[a-zA-Z]+{_SUB}?|[A-Z]{{2,3}}"
    r"|\|[A-Z]{2,3}\||\\overline\{[A-Z]{2,3}\}|[A-Za-z]\([a-z]\)|m?\\angle ?[A-Z]{1,3}"
    r"|\\frac\{[A-Z]{1,3}\}\{[A-Z]{1,3}\})"
)
_LHS = rf"(?:{_NAME}(?::{_NAME})?|\({_NAME}(?:,{_NAME}){{1,8}}\))"
_ASSIGN_RE = re.compile(rf"^({_LHS})(=|\\in)(?!=)(.+)$")
_DESIGNATOR_RE = re.compile(r"^(?:y|[A-Za-z]\([a-z]\))$")
_ARITH_CMDS_RE = re.compile(r"\\(?:frac|sqrt|cdot|times|div|left|right)(?![a-zA-Z])")


def assignment(s: str) -> tuple[str, str] | None:
    """``(name, value)`` of a named answer ``name = value`` (value without ``=``), else None."""
    if "=" not in s and "\\in" not in s:
        return None
    m = _ASSIGN_RE.match(s)
    if not m or len(split_top_eq(m.group(3))) > 1:
        return None  # "=" inside brackets ("\\sum_{k=0}^{n}") does not make a chain
    return m.group(1), m.group(3).strip()


def is_designator(name: str) -> bool:
    """Whether ``name`` designates a function's value (``y``, ``f(x)``, ``g(t)``): interchangeable."""
    return bool(_DESIGNATOR_RE.match(name))


def last_side(s: str) -> str | None:
    """The last side of an ``=`` chain: ``a = b = c`` (three or more sides), or ``lhs = c`` whose
    left side is plain arithmetic (``\\frac{10}{2} = 5``); ``=`` outside brackets only."""
    if "=" not in s or "\\begin" in s or len(split_top(s, ",")) > 1 or len(split_top(s, ";")) > 1:
        return None  # "x=1, x=2" is a list of named answers and a system is a list, not a chain
    sides = split_top_eq(s)
    if len(sides) < 2:
        return None
    if len(sides) == 2 and (
        not sides[0] or any(re.search(r"[A-Za-z]", _ARITH_CMDS_RE.sub("", side)) for side in sides)
    ):
        return None  # an equation ("7 = 11a+c") or a named answer, not a computation
    return sides[-1] or None


# --------------------------------------------------------------------------- clock times, ratios

_CLOCK_RE = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?(?:([ap])\.?m\.?)?$", re.IGNORECASE)


def looks_like_clock(s: str) -> bool:
    """Written as a clock time: with seconds, with am/pm, or with minutes ``00``-``09`` (``12:00``)."""
    m = _CLOCK_RE.match(s)
    return bool(m and (m.group(3) or m.group(4) or m.group(2).startswith("0")))


def clock_minutes(s: str) -> Fraction | None:
    """Minutes after midnight of ``18:05``, ``6:05pm``, ``18:05:00``, ``12:00am``; else None."""
    m = _CLOCK_RE.match(s)
    if not m:
        return None
    h, mi, sec, half = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0), (m.group(4) or "").lower()
    if mi >= 60 or sec >= 60 or h > 24 or (half and not 1 <= h <= 12):
        return None
    if half:
        h = h % 12 + (12 if half == "p" else 0)
    return Fraction(h * 3600 + mi * 60 + sec, 60) % (24 * 60)


def ratio_parts(s: str) -> list[str] | None:
    """``3:11`` -> ``["3", "11"]``; parts of a ratio written with top-level colons, else None."""
    if ":" not in s or ":=" in s or "=" in s or "<" in s or ">" in s or "\\{" in s:
        return None
    parts = split_top(s, ":")
    if not 2 <= len(parts) <= 4 or any(not p for p in parts):
        return None
    return parts
