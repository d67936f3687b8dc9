"""Comparing structures element by element: lists, sets, tuples, intervals, unions, matrices.

The element comparison is the caller's (``eq(x, y, depth)``, the layered equivalence of
:mod:`.equiv`), so every element gets every layer. Conventions:

* a bare list and a set are solution sets: unordered, an item written twice counts once
  (``ordered_lists=True`` compares bare lists in order instead);
* tuples, ``\\langle...\\rangle``, vectors and matrices are ordered; a column or row vector equals
  a written-out tuple, and ``[a, b]`` against a vector is a bracketed list, not an interval;
* intervals match with their open/closed ends; unions as sets of intervals;
* ``abs_union``: a bound on ``|x|`` as intervals (``1 \\le |z| \\le 2`` is ``[-2,-1] \\cup [1,2]``).
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction

from .normalize import canonical
from .numeric import constant_value
from .scalars import exact_values
from .structure import INFTY, MAX_ITEMS

__all__ = [
    "EqFn",
    "distinct",
    "match_unordered",
    "match_ordered",
    "struct_equal",
    "interval_equal",
    "ratio_equal",
    "abs_union",
]

#: The element comparison: ``eq(a, b, depth)``.
EqFn = Callable[[str, str, int], bool]


def distinct(xs: list[str]) -> list[str]:
    """The items of a solution set written once each (``(3,17), (3,17)`` is one solution)."""
    seen: set[str] = set()
    out = []
    for x in xs:
        c = canonical(x)
        if c not in seen:
            seen.add(c)
            out.append(x)
    return out


def match_unordered(xs: list[str], ys: list[str], eq: EqFn, depth: int) -> bool:
    """A solution set: every item pairs off with one equal item (duplicates count once)."""
    if len(xs) != len(ys):
        xs, ys = distinct(xs), distinct(ys)
    if len(xs) != len(ys) or len(xs) > MAX_ITEMS:
        return False
    # Elements written the same way pair off first, without spending the step budget.
    left = list(ys)
    rest = []
    for x in xs:
        cx = canonical(x)
        for j, y in enumerate(left):
            if canonical(y) == cx:
                del left[j]
                break
        else:
            rest.append(x)
    xs, ys = rest, left
    used = [False] * len(ys)
    for x in xs:
        for j, y in enumerate(ys):
            if not used[j] and eq(x, y, depth + 1):
                used[j] = True
                break
        else:
            return False
    return True


def match_ordered(xs: list[str], ys: list[str], eq: EqFn, depth: int) -> bool:
    return len(xs) == len(ys) <= MAX_ITEMS and all(eq(x, y, depth + 1) for x, y in zip(xs, ys))


def struct_equal(sa, sb, a: str, b: str, eq: EqFn, depth: int, ordered_lists: bool = False) -> bool:
    """Two parsed structures (:func:`.structure.structure`), element by element with ``eq``."""
    ka, kb = (sa[0] if sa else "atom"), (sb[0] if sb else "atom")
    unordered = {"set", "list"}
    if ka in unordered and kb in unordered:
        if ordered_lists and ka == kb == "list":
            return match_ordered(sa[1], sb[1], eq, depth)
        return match_unordered(sa[1], sb[1], eq, depth)
    if {ka, kb} == {"matrix", "interval"}:
        # "[0.5, 1]" against a column vector: a bracketed list, not an interval.
        iv = sa[1] if ka == "interval" else sb[1]
        if iv[0] == "[" and iv[3] == "]":
            pair = ("tuple", [iv[1], iv[2]])
            sa, sb = (pair if ka == "interval" else sa), (pair if kb == "interval" else sb)
            return struct_equal(sa, sb, a, b, eq, depth, ordered_lists)
    if ka == "tuple" and kb == "tuple":
        return match_ordered(sa[1], sb[1], eq, depth)
    if {ka, kb} == {"tuple", "list"}:
        return match_ordered(sa[1], sb[1], eq, depth)
    if ka == "interval" and kb == "interval":
        return interval_equal(sa[1], sb[1], eq, depth)
    if ka == "union" or kb == "union":
        pa = sa[1] if ka == "union" else [a]
        pb = sb[1] if kb == "union" else [b]
        return match_unordered(pa, pb, eq, depth)
    if ka == "matrix" and kb == "matrix":
        ra, rb = sa[1], sb[1]
        if len(ra) != len(rb) or any(len(x) != len(y) for x, y in zip(ra, rb)):
            return False
        return match_ordered([c for r in ra for c in r], [c for r in rb for c in r], eq, depth)
    if {ka, kb} <= {"matrix", "tuple", "list"}:
        # A column/row vector against a written-out tuple.
        mat = sa[1] if ka == "matrix" else sb[1]
        other = sb[1] if ka == "matrix" else sa[1]
        if len(mat) == 1 or all(len(r) == 1 for r in mat):
            return match_ordered([c for r in mat for c in r], other, eq, depth)
        return False
    if ka in unordered and kb == "atom" and sa[1]:
        # {5} is 5; so is "15\frac{39}{40}, \frac{639}{40}": one answer boxed in two forms.
        return all(eq(x, b, depth + 1) for x in sa[1])
    if kb in unordered and ka == "atom" and sb[1]:
        return all(eq(a, y, depth + 1) for y in sb[1])
    return False


def interval_equal(x, y, eq: EqFn, depth: int) -> bool:
    return x[0] == y[0] and x[3] == y[3] and eq(x[1], y[1], depth + 1) and eq(x[2], y[2], depth + 1)


def ratio_equal(ra: list[str], rb: list[str], eq: EqFn, depth: int) -> bool:
    """Proportional ratios: ``3:11`` = ``6:22`` (cross products), never with an all-zero side."""
    if len(ra) != len(rb):
        return False
    for i in range(1, len(ra)):
        if not eq(f"({ra[i]})\\cdot({rb[0]})", f"({rb[i]})\\cdot({ra[0]})", depth + 1):
            return False
    return not all(exact_values(x) == frozenset({Fraction(0)}) for x in ra)


def _nonnegative(x: str) -> bool | None:
    vals = exact_values(x)
    if vals is not None:
        return all(v >= 0 for v in vals)
    v = constant_value(x)
    if v is None or abs(v.imag) > 1e-12:
        return None
    return v.real >= 0


_MIRROR = {"[": "]", "(": ")", "]": "[", ")": "("}


def abs_union(iv) -> str | None:
    """The set of ``x`` with ``|x|`` in the interval ``iv``, written as intervals.

    ``1 \\le |z| \\le 2`` is ``[-2,-1] \\cup [1,2]``; ``|x| < 3`` is ``(-3,3)``; ``|x| \\ge 2`` is
    ``(-\\infty,-2] \\cup [2,\\infty)``.
    """
    lo_br, lo, hi, hi_br = iv
    neg = "-" + INFTY
    if lo == neg:
        return f"{_MIRROR[hi_br]}-({hi}),{hi}{hi_br}"
    if _nonnegative(lo) is not True:
        return None
    left_lo = neg if hi == INFTY else f"-({hi})"
    left = f"{'(' if hi == INFTY else _MIRROR[hi_br]}{left_lo},-({lo}){_MIRROR[lo_br]}"
    right = f"{lo_br}{lo},{hi}{hi_br}"
    if exact_values(lo) == frozenset({Fraction(0)}) and lo_br == "[":
        return f"{_MIRROR[hi_br] if hi != INFTY else '('}{left_lo},{hi}{hi_br}"
    return f"{left}\\cup{right}"
