"""Exact evaluation of plain rational arithmetic written in LaTeX (no names, no floats).

``arith_value("2^{10}")`` is ``Fraction(1024)``; ``arith_value("\\frac{3}{4}\\cdot 8")`` is 6.
A recursive-descent parser with bounded depth, exponent and result size: no input can make it
slow or allocate a gigantic integer. Used before any symbolic work.
"""

from __future__ import annotations

import re
from fractions import Fraction

from selfimprove.core.errors import GradingError

__all__ = ["arith_value"]


class _ArithError(GradingError):
    pass


_TOKEN_RE = re.compile(r"\s*(\d+\.?\d*|\.\d+|\\frac|\\cdot|\\times|\\div|[-+*/^(){}])")


def _tokenize(s: str) -> list[str] | None:
    pos, out = 0, []
    while pos < len(s):
        m = _TOKEN_RE.match(s, pos)
        if not m:
            return None
        out.append(m.group(1))
        pos = m.end()
    return out


class _Arith:
    """Exact recursive-descent evaluator for rational arithmetic in LaTeX (no names)."""

    def __init__(self, tokens: list[str]) -> None:
        self.t = tokens
        self.i = 0
        self.depth = 0

    def peek(self) -> str | None:
        return self.t[self.i] if self.i < len(self.t) else None

    def take(self, expected: str | None = None) -> str:
        tok = self.peek()
        if tok is None or (expected is not None and tok != expected):
            raise _ArithError
        self.i += 1
        return tok

    def expr(self) -> Fraction:
        self.depth += 1
        if self.depth > 60:
            raise _ArithError
        val = self.term()
        while self.peek() in ("+", "-"):
            op = self.take()
            rhs = self.term()
            val = val + rhs if op == "+" else val - rhs
        self.depth -= 1
        return val

    def term(self) -> Fraction:
        val = self.unary()
        while True:
            tok = self.peek()
            if tok in ("*", "\\cdot", "\\times", "/", "\\div"):
                self.take()
                rhs = self.unary()
                if tok in ("/", "\\div"):
                    if rhs == 0:
                        raise _ArithError
                    val = val / rhs
                else:
                    val = val * rhs
            elif tok in ("(", "\\frac"):
                val = val * self.unary()  # implicit multiplication: 2(3+4)
            else:
                return val

    def unary(self) -> Fraction:
        if self.peek() in ("-", "+"):
            sign = -1 if self.take() == "-" else 1
            return sign * self.unary()
        return self.power()

    def power(self) -> Fraction:
        base = self.atom()
        if self.peek() == "^":
            self.take()
            exp = self.unary() if self.peek() != "{" else self.group()
            if exp.denominator != 1 or abs(exp.numerator) > 4000:
                raise _ArithError
            if base == 0 and exp < 0:
                raise _ArithError
            size = max(abs(base.numerator), base.denominator).bit_length()
            if size * abs(exp.numerator) > 20000:
                raise _ArithError
            return base ** int(exp)
        return base

    def group(self) -> Fraction:
        self.take("{")
        val = self.expr()
        self.take("}")
        return val

    def atom(self) -> Fraction:
        tok = self.peek()
        if tok is None:
            raise _ArithError
        if tok == "(":
            self.take()
            val = self.expr()
            self.take(")")
            return val
        if tok == "{":
            return self.group()
        if tok == "\\frac":
            self.take()
            num = self.group()
            den = self.group()
            if den == 0:
                raise _ArithError
            return num / den
        if tok[0].isdigit() or tok[0] == ".":
            self.take()
            if len(tok) > 200:
                raise _ArithError
            return Fraction(tok)
        raise _ArithError


def arith_value(s: str) -> Fraction | None:
    """Exact value of a name-free rational arithmetic expression, else ``None``."""
    if (
        len(s) > 300
        or not s
        or re.search(
            r"[a-zA-Z]", s.replace("\\frac", "").replace("\\cdot", "").replace("\\times", "").replace("\\div", "")
        )
    ):
        return None
    toks = _tokenize(s)
    if not toks:
        return None
    p = _Arith(toks)
    try:
        val = p.expr()
    except (_ArithError, ZeroDivisionError, ValueError, OverflowError, RecursionError):
        return None
    return val if p.i == len(toks) else None
