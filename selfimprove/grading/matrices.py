"""Exact arithmetic on matrices written out in LaTeX: sums, differences, products, scalar multiples.

``matrix_value("\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}+\\begin{pmatrix}5&6\\\\7&8\\end{pmatrix}")``
is ``[[6, 8], [10, 12]]``: an answer written as a computation on matrices compares by its value.
Only matrices whose entries are exact numbers (``Fraction`` values of :mod:`.scalars`) are
evaluated; anything else gives ``None``. Sizes are bounded (at most 8 operands, 64 entries each).
"""

from __future__ import annotations

import re
from fractions import Fraction

from selfimprove.core.errors import GradingError

from .latex import group_end
from .scalars import exact_values

__all__ = ["matrix_value", "format_matrix"]

Matrix = list[list[Fraction]]

_MAX_OPERANDS = 8
_MAX_ENTRIES = 64
_ENV_RE = re.compile(r"\\begin\{([pbBvV]?matrix|smallmatrix|array)\}(?:\{[^{}]*\})?")
_OP_RE = re.compile(r"\s*(\\cdot|\\times|[-+*()])")
_SCALAR_RE = re.compile(r"\s*(\d+(?:\.\d+)?|\\frac)")


class _NotAMatrix(GradingError):
    """The text is not a matrix (the caller compares it another way)."""


def _entries(body: str) -> Matrix:
    rows = [r for r in re.split(r"\\\\", body.replace("\\hline", "")) if r.strip()]
    out: Matrix = []
    for r in rows:
        row = []
        for cell in r.split("&"):
            vals = exact_values(cell.strip())
            if not vals or len(vals) != 1:
                raise _NotAMatrix
            row.append(next(iter(vals)))
        out.append(row)
    if not out or any(len(r) != len(out[0]) for r in out) or len(out) * len(out[0]) > _MAX_ENTRIES:
        raise _NotAMatrix
    return out


class _Parser:
    """expr := term (('+'|'-') term)*; term := factor (('\\cdot'|'\\times'|'*'|juxtaposition) factor)*;
    factor := '-' factor | matrix | number | '(' expr ')'."""

    def __init__(self, s: str) -> None:
        self.s = s
        self.i = 0
        self.operands = 0

    def _skip(self) -> None:
        while self.i < len(self.s) and self.s[self.i] == " ":
            self.i += 1

    def _peek_op(self) -> str | None:
        m = _OP_RE.match(self.s, self.i)
        return m.group(1) if m else None

    def _take(self, op: str) -> None:
        m = _OP_RE.match(self.s, self.i)
        assert m is not None and m.group(1) == op
        self.i = m.end()

    def parse(self) -> Matrix | Fraction:
        v = self.expr()
        self._skip()
        if self.i != len(self.s):
            raise _NotAMatrix
        return v

    def expr(self) -> Matrix | Fraction:
        v = self.term()
        while (op := self._peek_op()) in ("+", "-"):
            self._take(op)
            w = self.term()
            v = _add(v, w, 1 if op == "+" else -1)
        return v

    def term(self) -> Matrix | Fraction:
        v = self.factor()
        while True:
            op = self._peek_op()
            if op in ("\\cdot", "\\times", "*"):
                self._take(op)
            elif not (op == "(" or self._at_operand()):
                return v
            v = _mul(v, self.factor())

    def _at_operand(self) -> bool:
        self._skip()
        return bool(_ENV_RE.match(self.s, self.i) or _SCALAR_RE.match(self.s, self.i))

    def factor(self) -> Matrix | Fraction:
        self.operands += 1
        if self.operands > 2 * _MAX_OPERANDS:
            raise _NotAMatrix
        op = self._peek_op()
        if op == "-":
            self._take("-")
            return _mul(Fraction(-1), self.factor())
        if op == "(":
            self._take("(")
            v = self.expr()
            if self._peek_op() != ")":
                raise _NotAMatrix
            self._take(")")
            return v
        self._skip()
        m = _ENV_RE.match(self.s, self.i)
        if m:
            end = self.s.find(f"\\end{{{m.group(1)}}}", m.end())
            if end == -1:
                raise _NotAMatrix
            self.i = end + len(f"\\end{{{m.group(1)}}}")
            return _entries(self.s[m.end() : end])
        m = _SCALAR_RE.match(self.s, self.i)
        if m:
            if m.group(1) == "\\frac":
                start = m.end()
                mid = group_end(self.s, start) if start < len(self.s) and self.s[start] == "{" else -1
                end = group_end(self.s, mid) if mid != -1 and mid < len(self.s) and self.s[mid] == "{" else -1
                if end == -1:
                    raise _NotAMatrix
                text = self.s[m.start(1) : end]
                self.i = end
            else:
                text = m.group(1)
                self.i = m.end()
            vals = exact_values(text)
            if not vals or len(vals) != 1:
                raise _NotAMatrix
            return next(iter(vals))
        raise _NotAMatrix


def _add(a: Matrix | Fraction, b: Matrix | Fraction, sign: int) -> Matrix:
    if not (isinstance(a, list) and isinstance(b, list)) or len(a) != len(b) or len(a[0]) != len(b[0]):
        raise _NotAMatrix  # a matrix plus a number is not defined here
    return [[x + sign * y for x, y in zip(ra, rb)] for ra, rb in zip(a, b)]


def _mul(a: Matrix | Fraction, b: Matrix | Fraction) -> Matrix | Fraction:
    if isinstance(a, Fraction) and isinstance(b, Fraction):
        return a * b
    if isinstance(a, Fraction):
        assert isinstance(b, list)
        return [[a * x for x in r] for r in b]
    if isinstance(b, Fraction):
        return [[x * b for x in r] for r in a]
    if len(a[0]) != len(b):
        raise _NotAMatrix
    cols = list(zip(*b))
    return [[sum((x * y for x, y in zip(r, c)), Fraction(0)) for c in cols] for r in a]


def matrix_value(s: str) -> Matrix | None:
    """Exact value of a computation on written-out matrices (at least two operands), else ``None``."""
    if s.count("\\begin") < 1 or len(s) > 2000 or s.count("\\begin") > _MAX_OPERANDS:
        return None
    p = _Parser(s)
    try:
        v = p.parse()
    except (_NotAMatrix, ZeroDivisionError, AssertionError):
        return None
    if not isinstance(v, list) or p.operands < 2:
        return None
    return v


def format_matrix(m: Matrix) -> list[list[str]]:
    """Entries as strings the comparison layers read exactly (``3/4``, ``-2``)."""
    return [[str(x) for x in r] for r in m]
