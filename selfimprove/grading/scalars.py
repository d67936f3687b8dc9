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
from .numbers import decimal_places, number_values
from .numeric import constant_value

__all__ = ["BASE_RE", "mc_letter", "text_key", "exact_values", "approximates"]

_MC_RE = re.compile(r"^\(?([A-Ea-e])\)?(?:[.:)]|$)")
_TEXT_RE = re.compile(r"^[A-Za-z][A-Za-z ']*$")
BASE_RE = re.compile(r"^([0-9A-Fa-f]+)_\{?(\d+)\}?$")
_WORD_RE = re.compile(r"[A-Za-z]{3,}")
_SHORT_WORDS = frozenset({"no", "ok", "on", "up", "odd"})


def mc_letter(s: str) -> str | None:
    if len(s) <= 3:
        m = _MC_RE.match(s)
        if m and (len(s) == 1 or s[0] == "(" or s[-1] in ".:)"):
            return m.group(1).upper()
    return None


def text_key(s: str) -> str | None:
    """Lower-cased key for word answers ("Evelyn", "even", "North East"); else None."""
    if _TEXT_RE.match(s) and (_WORD_RE.search(s) or s.lower() in _SHORT_WORDS):
        return re.sub(r"[\s']+", "", s.lower())
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
