"""Fast in-process numeric comparison of two LaTeX expressions (no sympy).

Both sides are parsed by :mod:`.expr` and evaluated with complex floats at four fixed probe
points (the same points on both sides, mixed signs, a different value per variable).
``numeric_equal(a, b)`` answers ``True`` (equal at every probe, well conditioned), ``False``
(clearly different at some probe) or ``None`` (cannot tell: not parsed, singular,
ill-conditioned, or magnitudes where doubles are not trustworthy, such as ``1/2004!``); the
caller then asks sympy. Two equations (one ``=`` each) are equal when ``lhs - rhs`` of one is a
constant non-zero multiple of the other's at every probe, the rule the symbolic layer applies too.

Everything is deterministic and bounded: no integer is ever computed exactly (so
``9^{9^{9^9}}`` costs nothing), powers that overflow and factorials above 170 are refused.
"""

from __future__ import annotations

import cmath
import math
import re

from .expr import FUNCS, Node, NumericError, parse, variables
from .latex import split_top_eq

__all__ = ["numeric_equal", "constant_value", "same_sum", "NumericError"]


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
            return FUNCS[node[1]](arg)
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


def _equation(text: str) -> tuple[str, str] | None:
    sides = split_top_eq(text)
    return (sides[0], sides[1]) if len(sides) == 2 and sides[0] and sides[1] else None


def _equations_equal(ea: tuple[str, str], eb: tuple[str, str]) -> bool | None:
    """Two equations are the same when ``lhs - rhs`` of one is a constant non-zero multiple of the other's."""
    try:
        f = ("sub", parse(ea[0]), parse(ea[1]))
        g = ("sub", parse(eb[0]), parse(eb[1]))
    except _OVERFLOW:
        return None
    names = sorted(variables(f) | variables(g))
    if not names:
        return None
    ratios: list[complex] = []
    for k in range(_N_PROBES):
        env = _probe_env(names, k)
        ef, eg = _Eval(env), _Eval(env)
        try:
            fv, gv = ef(f), eg(g)
        except _OVERFLOW:
            continue
        f_zero = abs(fv) <= 1e-9 * ef.scale
        g_zero = abs(gv) <= 1e-9 * eg.scale
        if f_zero and g_zero:
            continue
        if f_zero or g_zero:
            # On one curve and clearly off the other.
            clear = abs(gv) > 1e-6 * eg.scale if f_zero else abs(fv) > 1e-6 * ef.scale
            if clear:
                return False
            return None
        ratios.append(fv / gv)
    if len(ratios) < 3:
        return None
    r0 = ratios[0]
    if all(abs(r - r0) <= 1e-9 * abs(r0) for r in ratios):
        return True
    if any(abs(r - r0) > 1e-6 * max(abs(r), abs(r0)) for r in ratios):
        return False
    return None


def numeric_equal(a: str, b: str) -> bool | None:
    """``True``/``False`` when probing decides, ``None`` when sympy must (see the module docstring)."""
    if "\\frac{d}{d" in a + b or "\\partial" in a + b:
        return None  # derivatives: the letters are not variables
    if "=" in a or "=" in b:
        ea, eb = _equation(a), _equation(b)
        return _equations_equal(ea, eb) if ea and eb else None
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


_SUM_RE = re.compile(r"^\\(sum|prod)_\{([A-Za-z])=([^{}]{1,40})\}\^(?:\{([^{}]{1,40})\}|([A-Za-z0-9]))(.+)$")


def same_sum(a: str, b: str) -> bool | None:
    """``True`` when two sums (or products) have the same index and bounds and equal terms
    (``\\sum_{k=0}^{n-1} F_k F_{n-k-1}`` = ``\\sum_{k=0}^{n-1} F_{n-k-1} F_k``); ``None`` otherwise
    (different bounds may still give equal sums: sympy decides)."""
    ma, mb = _SUM_RE.match(a), _SUM_RE.match(b)
    if not ma or not mb:
        return None
    if ma.group(1, 2, 3) != mb.group(1, 2, 3) or (ma.group(4) or ma.group(5)) != (mb.group(4) or mb.group(5)):
        return None
    return True if numeric_equal(ma.group(6), mb.group(6)) else None
