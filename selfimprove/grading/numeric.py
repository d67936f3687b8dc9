"""Fast in-process numeric comparison of two LaTeX expressions (no sympy).

A small recursive-descent parser reads the expression grammar that answers use (numbers,
``+ - * / ^``, ``\\cdot``/``\\times``/``\\div``, implicit products, ``\\frac``, ``\\sqrt[n]{}``,
``|x|``, ``n!``, ``\\binom``, trigonometric/hyperbolic/inverse functions, ``\\ln``,
``\\log`` (base 10) and ``\\log_b``, ``\\exp``, ``\\pi``, ``e``, the imaginary unit ``i``,
single-letter and Greek variables with subscripts) into a tree, which is evaluated with
complex floats at four fixed probe points (the same points on both sides, mixed signs).

``numeric_equal(a, b)`` answers ``True`` (equal at every probe, well conditioned), ``False``
(clearly different at some probe) or ``None`` (cannot tell: not parsed, singular,
ill-conditioned, or magnitudes where doubles are not trustworthy, such as ``1/2004!``); the
caller then asks sympy. Everything is deterministic and bounded: inputs over 600 characters or
nested deeper than 40 are refused, powers that overflow are refused, and no integer is ever
computed exactly (so ``9^{9^{9^9}}`` costs nothing).

Conventions (documented in docs/grading.md): ``i`` is the imaginary unit and ``e`` Euler's
number; a function written without parentheses takes the implicit product that follows it
(``\\sin 2x`` is ``\\sin(2x)``, ``\\sin x\\cos x`` is a product of two functions); an integer
followed by a numeric ``\\frac`` is a mixed number (``2\\frac{1}{2}`` = 5/2).
"""

from __future__ import annotations

import cmath
import math
import re
from collections.abc import Callable

__all__ = ["parse", "evaluate", "numeric_equal", "constant_value", "NumericError"]

_MAX_LEN = 600
_MAX_DEPTH = 40
_MAX_TOKENS = 400
_TOKEN_RE = re.compile(r"\s*(\d+(?:\.\d+)?|\.\d+|\\[a-zA-Z]+|[a-zA-Z]|[-+*/^_!()\[\]{}|,])")


class NumericError(ValueError):
    """The expression is outside the grammar, or cannot be evaluated at a probe."""


def _cot(z: complex) -> complex:
    return 1 / cmath.tan(z)


def _sec(z: complex) -> complex:
    return 1 / cmath.cos(z)


def _csc(z: complex) -> complex:
    return 1 / cmath.sin(z)


_FUNCS: dict[str, Callable[[complex], complex]] = {
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
        if name in _FUNCS or name == "log":
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
                if nxt is None or not self._starts_factor(nxt) or (nxt.startswith("\\") and nxt[1:] in _FUNCS):
                    break
                if nxt in ("(", "[", "{", "|") or nxt == "\\log":
                    break
                arg = ("mul", arg, self.power())
        node: Node = ("log", arg, base) if name == "log" else ("fn", name, arg)
        if power is not None:
            node = ("pow", node, power)
        return node


def parse(text: str) -> Node:
    """Expression tree of ``text``; raises :class:`NumericError` outside the grammar."""
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


class _Eval:
    """Evaluates a tree at one point, tracking the largest magnitude met (for conditioning)."""

    def __init__(self, env: dict[str, complex]) -> None:
        self.env = env
        self.scale = 0.0

    def __call__(self, node: Node) -> complex:
        v = self._eval(node)
        if not (cmath.isfinite(v)):
            raise NumericError("not finite")
        m = abs(v)
        if m > self.scale:
            self.scale = m
        return v

    def _eval(self, node: Node) -> complex:
        kind = node[0]
        if kind == "num":
            return node[1]
        if kind == "var":
            return self.env[node[1]]
        if kind == "neg":
            return -self(node[1])
        if kind in ("add", "sub", "mul", "div"):
            a, b = self(node[1]), self(node[2])
            if kind == "add":
                return a + b
            if kind == "sub":
                return a - b
            if kind == "mul":
                return a * b
            if b == 0:
                raise NumericError("division by zero")
            return a / b
        if kind == "pow":
            base, exp = self(node[1]), self(node[2])
            return _pow(base, exp)
        if kind == "root":
            radicand, index = self(node[1]), self(node[2])
            if index == 0:
                raise NumericError("root index")
            return _pow(radicand, 1 / index)
        if kind == "abs":
            return complex(abs(self(node[1])))
        if kind == "fact":
            n = self(node[1])
            if n.imag or n.real != int(n.real) or not 0 <= n.real <= 170:
                raise NumericError("factorial")
            return complex(math.factorial(int(n.real)))
        if kind == "binom":
            n, k = self(node[1]), self(node[2])
            if n.imag or k.imag or n.real != int(n.real) or k.real != int(k.real) or not 0 <= n.real <= 1000:
                raise NumericError("binomial")
            return complex(math.comb(int(n.real), int(k.real))) if k.real >= 0 else 0j
        if kind == "log":
            arg, base = self(node[1]), self(node[2])
            if arg == 0 or base == 0 or base == 1:
                raise NumericError("log")
            return cmath.log(arg) / cmath.log(base)
        if kind == "fn":
            arg = self(node[2])
            if node[1] == "ln" and arg == 0:
                raise NumericError("log")
            return _FUNCS[node[1]](arg)
        raise NumericError(kind)  # pragma: no cover


def _pow(base: complex, exp: complex) -> complex:
    if exp.imag == 0 and base.imag == 0:
        e, b = exp.real, base.real
        if e == int(e) and abs(e) <= 4096:
            if b == 0 and e < 0:
                raise NumericError("division by zero")
            return complex(b ** int(e))
        if b > 0:
            return complex(b**e)
    if base == 0:
        if exp.real > 0:
            return 0j
        raise NumericError("0 to a non-positive power")
    if abs(exp) > 4096:
        raise NumericError("huge exponent")
    return complex(base**exp)


evaluate = _Eval

# Probe values: irrational-looking, of mixed signs, a different value per variable and per set.
_PROBE_VALUES = (
    0.6180339887498949,
    -1.3247179572447460,
    2.2360679774997896,
    -0.7071067811865476,
    1.7320508075688772,
    -2.4142135623730951,
    0.5772156649015329,
    1.3063778838630806,
    -0.3678794411714423,
    2.6651441426902251,
    -1.9021130325903071,
    0.4142135623730951,
)
_N_PROBES = 4


def _probe_env(names: list[str], k: int) -> dict[str, complex]:
    n = len(_PROBE_VALUES)
    return {name: complex(_PROBE_VALUES[(5 * k + 7 * j) % n]) for j, name in enumerate(names)}


_OVERFLOW = (OverflowError, ValueError, ZeroDivisionError, KeyError, RecursionError)


def _compare_at(x: Node, y: Node, env: dict[str, complex]) -> bool | None:
    ex, ey = _Eval(env), _Eval(env)
    try:
        a = ex(x)
        b = ey(y)
    except _OVERFLOW:
        return None
    diff = abs(a - b)
    scale = max(abs(a), abs(b))
    noise = 1e-12 * max(ex.scale, ey.scale)
    if diff <= max(1e-10 * scale, noise):
        return True
    if diff > max(1e-6 * scale, 1e3 * noise):
        return False
    return None


def numeric_equal(a: str, b: str) -> bool | None:
    """``True``/``False`` when probing decides, ``None`` when sympy must (see the module docstring)."""
    try:
        x, y = parse(a), parse(b)
    except _OVERFLOW:
        return None
    names = sorted(variables(x) | variables(y))
    if not names:
        verdict = _compare_at(x, y, {})
        if verdict is True:
            va = constant_value(a)
            # Doubles cannot tell 1/2004! from 1/2006!: tiny or huge values go to sympy.
            if va is None or not (1e-8 <= abs(va) <= 1e12 or va == 0):
                return None
        return verdict
    equal = 0
    for k in range(_N_PROBES):
        verdict = _compare_at(x, y, _probe_env(names, k))
        if verdict is False:
            return False
        if verdict is True:
            equal += 1
    return True if equal >= 3 else None


def constant_value(text: str) -> complex | None:
    """Value of a variable-free expression, or ``None``."""
    try:
        node = parse(text)
        if variables(node):
            return None
        return _Eval({})(node)
    except _OVERFLOW:
        return None
