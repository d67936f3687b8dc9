"""Symbolic equivalence with sympy — the expensive layer.

This module is imported by the worker processes of :mod:`selfimprove.grading.timeout`; the
parent process only calls :func:`is_unsafe` (a cheap regex guard) before handing a pair to a
worker. Expressions are built with ``latex2sympy2_extended`` (an ANTLR LaTeX grammar), never
with ``eval``/``sympify`` on raw text.

Guards applied before sympy sees anything: huge or nested exponents (``9^{9^{9^9}}``),
factorials / binomials of large numbers, overly long inputs. Anything that still runs long
is killed by the pool's deadline.
"""

from __future__ import annotations

import re

from .latex import group_end

__all__ = ["is_unsafe", "symbolic_equal", "warm_up"]

_MAX_LEN = 600
_MAX_NESTING = 25
_MAX_EXPONENT = 2000
_MAX_FACTORIAL = 3000
_EXP_GROUP_RE = re.compile(r"\^\s*\{")
_EXP_NUM_RE = re.compile(r"\^\s*(\d+(?:\.\d+)?)")
_FACT_RE = re.compile(r"(\d+)\s*!")
_BIG_INT_RE = re.compile(r"\d{200,}")


def is_unsafe(s: str) -> bool:
    """True when ``s`` could make sympy compute something astronomically large or slow."""
    if len(s) > _MAX_LEN or s.count("{") > 120 or _BIG_INT_RE.search(s):
        return True
    if "**" in s:
        return True
    depth = 0
    for c in s:
        if c in "([{":
            depth += 1
            if depth > _MAX_NESTING:
                return True
        elif c in ")]}":
            depth -= 1
    if depth > 8:  # many unclosed brackets: the parser's error recovery gets slow
        return True
    for m in _EXP_NUM_RE.finditer(s):
        try:
            if float(m.group(1)) > _MAX_EXPONENT:
                return True
        except ValueError:
            return True
        tail = s[m.end() : m.end() + 3].lstrip()
        if tail.startswith("^"):
            return True
    for m in _EXP_GROUP_RE.finditer(s):
        end = group_end(s, m.end() - 1)
        if end == -1:
            return True
        inner = s[m.end() : end - 1]
        if "!" in inner or "\\uparrow" in inner:
            return True
        if "^" in inner and re.search(r"[\d})]\s*\^", inner):
            return True  # a tower with a numeric base (9^{9^9}); e^{-x^2} is fine
        nums = re.findall(r"\d+", inner)
        if any(len(n) > 4 or int(n) > _MAX_EXPONENT for n in nums):
            return True
        if s[end : end + 3].lstrip().startswith("^"):
            return True
    for m in _FACT_RE.finditer(s):
        if int(m.group(1)) > _MAX_FACTORIAL:
            return True
    if re.search(r"[)}]\s*!", s) and ("^" in s or s.count("!") > 1):
        return True
    if "!!" in s or "\\binom" in s and re.search(r"\d{5,}", s):
        return True
    return False


# --------------------------------------------------------------------------- sympy side

_SYMPY = None


def _lib():
    """Import sympy and latex2sympy2_extended once (they are heavy)."""
    global _SYMPY
    if _SYMPY is None:
        import sympy
        from latex2sympy2_extended import latex2sympy
        from latex2sympy2_extended.latex2sympy2 import ConversionConfig
        from latex2sympy2_extended.math_normalization import NormalizationConfig

        norm = NormalizationConfig(
            basic_latex=True, units=False, malformed_operators=True, nits=False, boxed="none", equations=False
        )
        conv = ConversionConfig(interpret_as_mixed_fractions=True, interpret_simple_eq_as_assignment=False)
        _SYMPY = (sympy, latex2sympy, norm, conv)
    return _SYMPY


_FATAL = (MemoryError, RecursionError)


def _parse_raw(s: str):
    sympy, latex2sympy, norm, conv = _lib()
    return latex2sympy(s, normalization_config=norm, conversion_config=conv)


def _unevaluated(expr) -> bool:
    sympy = _lib()[0]
    return bool(
        hasattr(expr, "has") and expr.has(sympy.Sum, sympy.Product, sympy.Integral, sympy.Limit, sympy.Derivative)
    )


def _parse(s: str, expr=None):
    sympy = _lib()[0]
    if expr is None:
        expr = _parse_raw(s)
    # Sums, products, integrals, limits and derivatives are worked out before comparing.
    if _unevaluated(expr):
        expr = expr.doit()
    # "i" is the imaginary unit, as in the in-process numeric layer.
    free = getattr(expr, "free_symbols", None)
    if free:
        imag = [sym for sym in free if sym.name == "i"]
        if imag:
            expr = expr.subs(imag[0], sympy.I)
    return expr


def _close(sympy, x, y, subs=None, digits: int = 30, rel: float = 1e-9):
    """Numeric comparison with sympy floats (no float underflow: ``1/2004!`` stays non-zero).

    Returns True (close), False (clearly apart) or None (could not evaluate).
    """
    try:
        xv = sympy.N(x.subs(subs) if subs else x, digits)
        yv = sympy.N(y.subs(subs) if subs else y, digits)
        if not (xv.is_number and yv.is_number):
            return None
        if any(v.has(sympy.oo, -sympy.oo, sympy.zoo, sympy.nan) for v in (xv, yv)):
            return None
        ax, ay = sympy.N(abs(xv), digits), sympy.N(abs(yv), digits)
        d = sympy.N(abs(xv - yv), digits)
        scale = ax if bool(ax >= ay) else ay
        if scale == 0:
            return True
        return bool(d <= scale * sympy.Float(rel, digits))
    except _FATAL:
        raise
    except Exception:
        return None


_PROBES = ("0.5772156649", "1.4142135623", "2.7182818284")


def _expr_equal(sympy, x, y) -> bool:
    """Two expressions are equal: numeric probes first (fast rejection), then exact checks.

    Relative (not absolute) tolerances keep tiny distinct values apart, e.g.
    ``1/2004!`` vs ``1/2006!``.
    """
    if x == y:
        return True
    free = sorted(x.free_symbols | y.free_symbols, key=str)
    if not free:
        if _close(sympy, x, y) is False:
            return False
    else:
        for probe in _PROBES:
            # Probes carry 40 digits: at 15 digits, ``x^2-2`` at ``x ~ sqrt(2)`` loses most of
            # its significant digits to cancellation and equal expressions look different.
            subs = {sym: sympy.Float(probe, 40) + j for j, sym in enumerate(free)}
            if _close(sympy, x, y, subs) is False:
                return False
    try:
        diff = x - y
        if sympy.expand(diff) == 0 or sympy.simplify(diff) == 0:
            return True
    except _FATAL:
        raise
    except Exception:
        pass
    if not free:
        # Equal at 30 digits but not provably so: accept only a 1e-25 relative agreement.
        return _close(sympy, x, y, digits=60, rel=1e-25) is True
    return False


def _rel_equal(sympy, x, y) -> bool:
    """Two equations are equal when (lhs - rhs) agree up to a non-zero constant factor."""
    fx, fy = x.lhs - x.rhs, y.lhs - y.rhs
    if _expr_equal(sympy, x.lhs, y.lhs) and _expr_equal(sympy, x.rhs, y.rhs):
        return True
    if _expr_equal(sympy, fx, fy):
        return True
    try:
        ratio = sympy.simplify(fx / fy)
        return bool(ratio.is_number and ratio != 0 and ratio.is_finite)
    except _FATAL:
        raise
    except Exception:
        return False


def _equal(x, y, depth: int = 0) -> bool:
    sympy = _lib()[0]
    if depth > 4:
        return False
    if isinstance(x, str) or isinstance(y, str):
        return isinstance(x, str) and isinstance(y, str) and x.strip().lower() == y.strip().lower()
    if isinstance(x, (list, tuple)) or isinstance(y, (list, tuple)):
        xs = list(x) if isinstance(x, (list, tuple)) else [x]
        ys = list(y) if isinstance(y, (list, tuple)) else [y]
        return len(xs) == len(ys) and all(_equal(a, b, depth + 1) for a, b in zip(xs, ys))
    if isinstance(x, sympy.Eq) and isinstance(y, sympy.Eq):
        return _rel_equal(sympy, x, y)
    if isinstance(x, sympy.Eq) and x.lhs.is_Symbol:
        return _equal(x.rhs, y, depth + 1)
    if isinstance(y, sympy.Eq) and y.lhs.is_Symbol:
        return _equal(x, y.rhs, depth + 1)
    if isinstance(x, sympy.MatrixBase) or isinstance(y, sympy.MatrixBase):
        if not (isinstance(x, sympy.MatrixBase) and isinstance(y, sympy.MatrixBase)):
            return False
        if x.shape != y.shape:
            return False
        return all(_equal(a, b, depth + 1) for a, b in zip(list(x), list(y)))
    if isinstance(x, sympy.Interval) and isinstance(y, sympy.Interval):
        return (
            x.left_open == y.left_open
            and x.right_open == y.right_open
            and _equal(x.start, y.start, depth + 1)
            and _equal(x.end, y.end, depth + 1)
        )
    if isinstance(x, sympy.Set) or isinstance(y, sympy.Set):
        if not (isinstance(x, sympy.Set) and isinstance(y, sympy.Set)):
            return False
        if x == y:
            return True
        xa, ya = list(x.args), list(y.args)
        if type(x) is not type(y) or len(xa) != len(ya):
            return False
        used = [False] * len(ya)
        for a in xa:
            for j, b in enumerate(ya):
                if not used[j] and _equal(a, b, depth + 1):
                    used[j] = True
                    break
            else:
                return False
        return True
    if isinstance(x, sympy.Tuple) or isinstance(y, sympy.Tuple):
        if not (isinstance(x, sympy.Tuple) and isinstance(y, sympy.Tuple)) or len(x) != len(y):
            return False
        return all(_equal(a, b, depth + 1) for a, b in zip(x, y))
    if isinstance(x, sympy.Expr) and isinstance(y, sympy.Expr):
        return _expr_equal(sympy, x, y)
    try:
        return bool(x == y)
    except _FATAL:
        raise
    except Exception:
        return False


def symbolic_equal(a: str, b: str) -> bool:
    """Whether two canonical LaTeX answers denote the same mathematical object.

    Returns ``False`` for anything that cannot be parsed (not an answer sympy can read) or that
    sympy refuses to compare. ``MemoryError`` and ``RecursionError`` are raised, not turned into
    verdicts: the worker reports them as ``error:<kind>``.
    """
    if is_unsafe(a) or is_unsafe(b):
        return False
    try:
        x = _parse_raw(a)
        y = _parse_raw(b)
        if (_unevaluated(x) or _unevaluated(y)) and x == y:
            # The same sum written with its factors in another order: equal before any work.
            return True
        x = _parse(a, x)
        y = _parse(b, y)
    except _FATAL:
        raise
    except Exception:
        return False
    try:
        return bool(_equal(x, y))
    except _FATAL:
        raise
    except Exception:
        return False


def warm_up() -> None:
    """Import the heavy libraries and exercise the parser once (first parse is slow)."""
    pairs = [
        ("\\frac{1}{2}+x", "x+0.5"),
        ("(1,2]", "\\sqrt{2}"),
        ("\\frac{6\\pi^2}{4}", "\\frac{5\\pi^2}{4}"),
        ("\\cot(x+1)", "\\tan x"),
        ("\\sin^2\\theta+\\cos^2\\theta", "1"),
        ("y=2x+3", "y-3=2x"),
        ("\\sqrt[3]{2}\\cdot 3", "3\\times2^{1/3}"),
        ("\\log_2 8", "\\ln(e^3)"),
        ("|x-1|", "e^{i\\pi}"),
        ("\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", "\\{1,2\\}"),
        ("a_{1}+b_n", "\\alpha\\beta"),
        ("3!+\\binom{5}{2}", "\\dfrac{x^{2}-1}{x-1}"),
        ("2-3i", "\\overline{z}"),
        ("\\infty", "-\\infty"),
        ("\\arcsin\\frac12", "\\frac{\\pi}{6}"),
        ("\\sec x\\csc x", "\\frac{1}{\\sin x\\cos x}"),
        # Parts of sympy that import lazily on first use: pay for them now, not in an item's budget.
        ("\\sum_{k=1}^{n} k", "\\frac{n(n+1)}{2}"),
        ("F_n=\\sum_{k=0}^{n-1}F_k F_{n-k-1}", "F_n=\\sum_{k=1}^{n}F_{k-1}F_{n-k}"),
        ("a_{n+1}=\\sum_{i=1}^{n} a_i a_{n-i}", "a_{n+1}=2\\prod_{j=1}^{n}(1+a_j)"),
        ("\\int_0^1 x^2 dx", "\\frac13"),
        ("\\lim_{x\\to 0} \\frac{\\sin x}{x}", "1"),
        ("\\frac{d}{dx} x^3", "3x^2"),
        ("\\lfloor 2.5 \\rfloor + \\lceil 1.5 \\rceil", "4"),
        ("\\binom{n}{2}", "\\frac{n(n-1)}{2}"),
        ("\\gcd(12, 18) + \\max(1, 2)", "8"),
        ("n!", "\\Gamma(n+1)"),
        ("\\{1, 2\\} \\cup \\{3\\}", "\\{1, 2, 3\\}"),
    ]
    for a, b in pairs:
        try:
            symbolic_equal(a, b)
        except Exception:  # pragma: no cover - defensive
            pass
