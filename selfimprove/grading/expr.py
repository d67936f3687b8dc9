"""The expression grammar of answers, parsed into small trees for numeric probing (no sympy).

A recursive-descent parser reads numbers, ``+ - * / ^``, ``\\cdot``/``\\times``/``\\div``,
implicit products, ``\\frac``, ``\\sqrt[n]{}``, ``|x|``, ``n!``, ``\\binom``,
trigonometric/hyperbolic/inverse functions, ``\\ln``, ``\\log`` (base 10) and ``\\log_b``,
``\\exp``, ``\\pi``, ``e``, the imaginary unit ``i``, and single-letter and Greek variables
with subscripts. Anything else raises :class:`NumericError` (the caller then asks sympy).
Inputs over 600 characters, 400 tokens or 40 levels of nesting are refused.

Conventions: ``i`` is the imaginary unit and ``e`` Euler's number; a function written without
parentheses takes the implicit product that follows it (``\\sin 2x`` is ``\\sin(2x)``,
``\\sin x\\cos x`` is a product of two functions); an integer followed by a numeric
``\\frac`` is a mixed number (``2\\frac{1}{2}`` = 5/2); an unbraced exponent of several digits
(``x^23``) is refused, since readers disagree on it.
"""

from __future__ import annotations

import cmath
import math
import re
from collections.abc import Callable
from functools import lru_cache

from selfimprove.core.errors import GradingError

__all__ = ["parse", "variables", "NumericError", "Node", "FUNCS"]

_MAX_LEN = 600
_MAX_DEPTH = 40
_MAX_TOKENS = 400
_TOKEN_RE = re.compile(r"\s*(\d+(?:\.\d+)?|\.\d+|\\[a-zA-Z]+|[a-zA-Z]|[-+*/^_!()\[\]{}|,])")


class NumericError(GradingError, ValueError):
    """The expression is outside the grammar, or cannot be evaluated at a probe."""


def _cot(z: complex) -> complex:
    return 1 / cmath.tan(z)


def _sec(z: complex) -> complex:
    return 1 / cmath.cos(z)


def _csc(z: complex) -> complex:
    return 1 / cmath.sin(z)


FUNCS: dict[str, Callable[[complex], complex]] = {
    "sin": cmath.sin,
    "cos": cmath.cos,
    "tan": cmath.tan,
    "cot": _cot,
    "sec": _sec,
    "csc": _csc,
    "arcsin": cmath.asin,
    "arccos": cmath.acos,
    "arctan": cmath.atan,
    "sinh": cmath.sinh,
    "cosh": cmath.cosh,
    "tanh": cmath.tanh,
    "ln": cmath.log,
    "exp": cmath.exp,
}
_GREEK = frozenset(
    "alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta kappa lambda mu nu xi rho sigma "
    "tau phi varphi chi psi omega Gamma Delta Theta Lambda Xi Sigma Phi Psi Omega".split()
)
_MUL_CMDS = frozenset({"\\cdot", "\\times"})

Node = tuple


class _Parser:
    def __init__(self, text: str) -> None:
        toks: list[str] = []
        pos = 0
        text = text.strip()
        while pos < len(text):
            m = _TOKEN_RE.match(text, pos)
            if not m:
                raise NumericError("token")
            toks.append(m.group(1))
            pos = m.end()
            if len(toks) > _MAX_TOKENS:
                raise NumericError("too many tokens")
        self.t = toks
        self.i = 0
        self.depth = 0
        self.abs_open = 0

    def peek(self, k: int = 0) -> str | None:
        j = self.i + k
        return self.t[j] if j < len(self.t) else None

    def take(self, expected: str | None = None) -> str:
        tok = self.peek()
        if tok is None or (expected is not None and tok != expected):
            raise NumericError("syntax")
        self.i += 1
        return tok

    def enter(self) -> None:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise NumericError("depth")

    # expr := term (('+'|'-') term)*
    def expr(self) -> Node:
        self.enter()
        node = self.term()
        while self.peek() in ("+", "-"):
            op = self.take()
            node = ("add" if op == "+" else "sub", node, self.term())
        self.depth -= 1
        return node

    def term(self) -> Node:
        node = self.unary()
        while True:
            tok = self.peek()
            if tok in ("*", "/", "\\div") or tok in _MUL_CMDS:
                self.take()
                rhs = self.unary()
                node = ("div" if tok in ("/", "\\div") else "mul", node, rhs)
            elif self._starts_factor(tok):
                node = ("mul", node, self.power())
            else:
                return node

    def unary(self) -> Node:
        if self.peek() in ("-", "+"):
            sign = self.take()
            inner = self.unary()
            return ("neg", inner) if sign == "-" else inner
        return self.power()

    def _starts_factor(self, tok: str | None) -> bool:
        if tok is None:
            return False
        if tok == "|":
            return self.abs_open == 0
        if tok in ("(", "[", "{") or tok[0].isdigit() or tok[0] == "." or tok.isalpha():
            return True
        return tok.startswith("\\") and tok not in _MUL_CMDS and tok != "\\div"

    def power(self) -> Node:
        self.enter()
        node = self.postfix()
        if self.peek() == "^":
            self.take()
            node = ("pow", node, self.exponent())
            if self.peek() == "^":
                raise NumericError("ambiguous power tower")
        self.depth -= 1
        return node

    def exponent(self) -> Node:
        tok = self.peek()
        if tok == "{":
            return self.group()
        if tok in ("-", "+"):
            self.take()
            inner = self.exponent()
            return ("neg", inner) if tok == "-" else inner
        if tok is not None and tok[0].isdigit() and "." not in tok:
            if len(tok) > 1:
                raise NumericError("unbraced multi-digit exponent")  # "x^23": readers disagree
            self.take()
            return ("num", complex(int(tok)))
        return self.postfix()

    def postfix(self) -> Node:
        node = self.atom()
        while self.peek() == "!":
            self.take()
            node = ("fact", node)
        return node

    def group(self, open_tok: str = "{", close_tok: str = "}") -> Node:
        self.take(open_tok)
        node = self.expr()
        self.take(close_tok)
        return node

    def atom(self) -> Node:
        tok = self.peek()
        if tok is None:
            raise NumericError("end")
        if tok == "(":
            return self.group("(", ")")
        if tok == "[":
            return self.group("[", "]")
        if tok == "{":
            return self.group()
        if tok == "|":
            self.take()
            self.abs_open += 1
            node = self.expr()
            self.abs_open -= 1
            self.take("|")
            return ("abs", node)
        if tok[0].isdigit() or tok[0] == ".":
            self.take()
            if len(tok) > 30:
                raise NumericError("long number")
            if self.peek() == "\\frac" and "." not in tok:
                mixed = self._mixed_fraction()
                if mixed is not None:
                    return ("add", ("num", complex(float(tok))), mixed)
            return ("num", complex(float(tok)))
        if tok.isalpha() and len(tok) == 1:
            self.take()
            return self._subscripted(tok)
        if tok.startswith("\\"):
            return self.command(tok)
        raise NumericError("atom")

    def _mixed_fraction(self) -> Node | None:
        t, j = self.t, self.i
        if (
            j + 6 < len(t)
            and t[j + 1] == "{"
            and t[j + 2].isdigit()
            and t[j + 3] == "}"
            and t[j + 4] == "{"
            and t[j + 5].isdigit()
            and t[j + 6] == "}"
        ):
            self.i = j + 7
            return ("div", ("num", complex(float(t[j + 2]))), ("num", complex(float(t[j + 5]))))
        return None

    def _subscripted(self, name: str) -> Node:
        if self.peek() == "_":
            self.take()
            tok = self.peek()
            if tok == "{":
                self.take("{")
                parts = []
                while self.peek() not in ("}", None):
                    parts.append(self.take())
                    if len(parts) > 8:
                        raise NumericError("subscript")
                self.take("}")
                name += "_" + "".join(parts)
            elif tok is not None and (tok.isalnum()):
                self.take()
                name += "_" + tok[0]
                if len(tok) > 1:
                    self.t.insert(self.i, tok[1:])
            else:
                raise NumericError("subscript")
            return ("var", name)
        if name == "e":
            return ("num", complex(math.e))
        if name == "i":
            return ("num", 1j)
        return ("var", name)

    def command(self, tok: str) -> Node:
        name = tok[1:]
        self.take()
        if name == "pi":
            return ("num", complex(math.pi))
        if name in _GREEK:
            return self._subscripted("\\" + name)
        if name == "frac":
            num = self.group()
            den = self.group()
            return ("div", num, den)
        if name == "sqrt":
            if self.peek() == "[":
                index = self.group("[", "]")
                return ("root", self.group(), index)
            return ("root", self.group(), ("num", 2 + 0j))
        if name == "binom":
            return ("binom", self.group(), self.group())
        if name in FUNCS or name == "log":
            return self.function(name)
        raise NumericError(f"command {name}")

    def function(self, name: str) -> Node:
        base: Node | None = None
        if name == "log" and self.peek() == "_":
            self.take()
            base = self.group() if self.peek() == "{" else self.postfix()
        elif name == "log":
            base = ("num", 10 + 0j)
        power: Node | None = None
        if self.peek() == "^":  # \sin^2 x
            self.take()
            power = self.exponent()
        if self.peek() == "(":
            arg = self.group("(", ")")
        elif self.peek() == "{":
            arg = self.group()
        else:
            # No parentheses: the implicit product that follows (\sin 2x = \sin(2x)); another
            # function ends it (\sin x \cos x).
            arg = self.power()
            while True:
                nxt = self.peek()
                if nxt is None or not self._starts_factor(nxt) or (nxt.startswith("\\") and nxt[1:] in FUNCS):
                    break
                if nxt in ("(", "[", "{", "|") or nxt == "\\log":
                    break
                arg = ("mul", arg, self.power())
        node: Node = ("log", arg, base) if name == "log" else ("fn", name, arg)
        if power is not None:
            node = ("pow", node, power)
        return node


@lru_cache(maxsize=1 << 14)
def parse(text: str) -> Node:
    """Expression tree of ``text``; raises :class:`NumericError` outside the grammar (memoised)."""
    if len(text) > _MAX_LEN:
        raise NumericError("too long")
    p = _Parser(text)
    if not p.t:
        raise NumericError("empty")
    node = p.expr()
    if p.i != len(p.t):
        raise NumericError("trailing")
    return node


def variables(node: Node, out: set[str] | None = None) -> set[str]:
    out = set() if out is None else out
    if node[0] == "var":
        out.add(node[1])
    else:
        for child in node[1:]:
            if isinstance(child, tuple):
                variables(child, out)
    return out
