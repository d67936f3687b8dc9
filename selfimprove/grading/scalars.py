"""Single values: choice letters, word answers, exact numbers, and the numeric tolerance policy.

* ``mc_letter``: ``(C)``, ``C.``, ``c`` -> ``"C"``; ``text_key``: a word answer, case-insensitive;
* ``exact_values``: every exact reading of a number or of plain rational arithmetic;
* ``approximates``: the tolerance policy. A decimal written with digits (``0.333333``) matches
  an exact value with no finite decimal expansion (``\\frac{1}{3}``, ``\\sqrt{2}``, ``\\pi``)
  within a relative ``rel_tol``; against a terminating value (``\\frac{1}{8}``) or another
  decimal it is never used, so "round to the nearest tenth" answers stay exact.
"""

from __future__ import annotations

import re
from fractions import Fraction

from .arith import arith_value
from .numbers import decimal_places, number_values, significant_digits
from .numeric import constant_value

__all__ = ["BASE_RE", "mc_letter", "text_key", "exact_values", "approximates", "float_artefact"]

_MC_RE = re.compile(r"^\(?([A-Ea-e])\)?(?:[.:)]|$)")
_TEXT_RE = re.compile(r"^[A-Za-z][A-Za-z ']*$")
BASE_RE = re.compile(r"^([0-9A-Fa-f]+)_\{?(\d+)\}?$")
_WORD_RE = re.compile(r"[A-Za-z]{3,}")
_SHORT_WORDS = frozenset({"no", "ok", "on", "up", "odd"})
_TRUTH = {"yes": "true", "true": "true", "no": "false", "false": "false"}
#: A decimal with this many significant digits is a binary double printed in full.
FLOAT_DIGITS = 15
_FLOAT_REL = 1e-12


def mc_letter(s: str) -> str | None:
    if len(s) <= 3:
        m = _MC_RE.match(s)
        if m and (len(s) == 1 or s[0] == "(" or s[-1] in ".:)"):
            return m.group(1).upper()
    return None


def text_key(s: str) -> str | None:
    """Lower-cased key for word answers ("Evelyn", "even", "North East"); else None.

    Yes/no answers are keyed by their truth value: ``yes`` = ``true``, ``no`` = ``false``.
    """
    if _TEXT_RE.match(s) and (_WORD_RE.search(s) or s.lower() in _SHORT_WORDS):
        key = re.sub(r"[\s']+", "", s.lower())
        return _TRUTH.get(key, key)
    return None


def exact_values(s: str) -> frozenset[Fraction] | None:
    vals = number_values(s)
    if vals is not None:
        return vals
    v = arith_value(s)
    return frozenset({v}) if v is not None else None


def _terminates(x: Fraction) -> bool:
    d = x.denominator
    for p in (2, 5):
        while d % p == 0:
            d //= p
    return d == 1


def _close(x: float | Fraction, d: float | Fraction, rel_tol: float) -> bool:
    try:
        xf, df = float(x), float(d)
    except OverflowError:
        return False
    return abs(xf - df) <= rel_tol * abs(xf) * (1 + 1e-9) + 1e-300


def approximates(dec_side: str, exact_side: str, rel_tol: float) -> bool | None:
    """The tolerance policy for a decimal written with digits against an exact value."""
    if decimal_places(dec_side) is None or decimal_places(exact_side) is not None:
        return None
    dv = exact_values(dec_side)
    if not dv:
        return None
    ev = exact_values(exact_side)
    if ev is not None:
        inexact = [x for x in ev if not _terminates(x)]
        return any(_close(x, d, rel_tol) for x in inexact for d in dv)
    x = constant_value(exact_side)
    if x is None or abs(x.imag) > 1e-12 * max(1.0, abs(x.real)):
        return None
    return any(_close(x.real, d, rel_tol) for d in dv)


def float_artefact(a: str, b: str, va: frozenset[Fraction], vb: frozenset[Fraction]) -> bool:
    """``0.30000000000000004`` = ``0.3``: a decimal with 15+ significant digits is a double printed in
    full (a computation's rounding noise), equal to a value within 1e-12 of it; whatever ``rel_tol``."""
    if max(significant_digits(a), significant_digits(b)) < FLOAT_DIGITS:
        return False
    return any(_close(x, y, _FLOAT_REL) for x in va for y in vb)
