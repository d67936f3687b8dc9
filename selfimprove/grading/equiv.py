"""Layered answer equivalence, cheap layers first, with a deterministic budget.

Layers (each element of a structure is compared recursively with the same layers):

1. canonical strings (:func:`.normalize.canonical`) -- most items stop here;
2. units (:mod:`.units`, ``units="convert"``): two answers that both carry a known unit compare
   after converting between units of one quantity (``30 mm`` = ``3 cm``), and differ when the
   quantities differ (``15 cm^3`` is not ``15 cm^2``); multiple-choice letters, numerals in a
   base, case-insensitive word answers (``yes`` = ``true``);
3. ``=`` chains (the last side), clock times and ratios (:mod:`.structure`), trailing unit
   words, a bare angle in degrees against radians;
4. exact numbers (:mod:`.numbers`, ``Fraction``) and exact rational arithmetic
   (:mod:`.arith`), then the numeric tolerance policy for decimal approximations, float
   artefacts (``0.30000000000000004`` = ``0.3``) and decimal commas (``1000,99`` = ``1000.99``);
5. structure (:mod:`.matching`): lists, sets, tuples, intervals, unions, matrices (and
   computations on them, :mod:`.matrices`), systems (``cases``), parts ``(a) ... (b) ...``,
   one-variable inequalities as intervals (``1 \\le |z| \\le 2`` as a union), ``\\pm``,
   named answers (``x = 5``, ``(a,b) = (5,1)``, ``g(x) = ...``, ``p=5,q=2;p=7,q=2``);
6. a relation is never an expression (``5 = 2b+d`` is not ``2b+d``); numeric probing of two
   expressions in-process (:mod:`.numeric`): decides most pairs;
7. symbolic equality with sympy in a warm worker process (:mod:`.timeout`).

**Budget.** Everything done in-process is bounded by counts, not clocks: at most
``MAX_STEPS`` comparisons per item, answers over ``MAX_ANSWER_CHARS`` compared as strings,
structures of at most 64 elements and 4 levels. The symbolic layer gets ``SYMBOLIC_CPU_BUDGET``
seconds of *worker CPU time* per item. So the same input gives the same verdict whatever the
load. When the budget runs out the result is ``Verdict(False, "timeout")``, never a silent
"not equivalent"; an error in a worker is ``Verdict(False, "error:<Kind>")``.

**Tolerance.** Two numbers written exactly are equal only when they are equal. A decimal
written with digits (``0.333333``, ``1.414214``) matches an exact value that has no finite
decimal expansion (``\\frac{1}{3}``, ``\\sqrt{2}``, ``\\pi``) when it is within ``rel_tol`` of
it (relative; default ``DEFAULT_REL_TOL`` = 1e-6, about six significant digits; ``rel_tol=``
overrides it). Two decimals, or a decimal against a terminating value (``0.13`` vs
``\\frac{1}{8}``), are compared exactly: that keeps "round to the nearest tenth" questions strict.

**Options** (keyword arguments of :func:`compare`): ``rel_tol``, ``ordered_lists`` (bare lists
as sequences) and ``units`` (``convert`` or ``ignore``); docs/grading.md says why the defaults.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import dataclass

from selfimprove.core.errors import GradingError

from .expr import parse
from .latex import split_top, split_top_eq
from .matching import abs_union, interval_equal, ratio_equal, struct_equal
from .matrices import format_matrix, matrix_value
from .normalize import DEGREE_RE, MAX_ANSWER_CHARS, canonical
from .numbers import decimal_comma_value, decimal_places, number_values
from .numeric import numeric_equal, same_sum
from .scalars import BASE_RE, approximates, exact_values, float_artefact, mc_letter, text_key
from .structure import (
    as_interval,
    assignment,
    clock_minutes,
    expand_pm,
    inequality,
    is_designator,
    last_side,
    looks_like_clock,
    ratio_parts,
    structure,
)
from .symbolic import is_unsafe
from .timeout import get_pool
from .units import strip_unit_words, unit_verdict

__all__ = [
    "answers_equivalent",
    "compare",
    "Verdict",
    "ITEM_TIME_LIMIT",
    "SYMBOLIC_CPU_BUDGET",
    "DEFAULT_REL_TOL",
    "UNIT_POLICIES",
    "MAX_STEPS",
    "clear_cache",
]

#: Hard bound on one item's wall time on an idle machine (seconds), extraction included.
ITEM_TIME_LIMIT = 0.5
#: CPU seconds of symbolic work (in the worker) one item may use.
SYMBOLIC_CPU_BUDGET = 0.25
#: In-process comparisons one item may make (a count, so it does not depend on load).
MAX_STEPS = 600
#: Relative tolerance for a decimal approximation of a value without a finite decimal expansion.
DEFAULT_REL_TOL = 1e-6
#: ``convert``: a unit on one side only is dropped; two answers that both carry a known unit compare
#: after converting between units of one quantity (``30 mm`` = ``3 cm``; ``15 cm^3`` is not
#: ``15 cm^2``). ``ignore``: units are always dropped.
UNIT_POLICIES = ("convert", "ignore")
_MAX_DEPTH = 4

_CACHE: OrderedDict[tuple[str, str], bool] = OrderedDict()
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 50_000


def clear_cache() -> None:
    """Forget memoised decisions."""
    with _CACHE_LOCK:
        _CACHE.clear()
    for cached in (canonical, parse, number_values, decimal_places):
        cached.cache_clear()


@dataclass(frozen=True)
class Verdict:
    """``equal`` and how it was reached: ``ok``, ``timeout`` or ``error:<Kind>``."""

    equal: bool
    status: str = "ok"


class _OutOfSteps(GradingError):
    """The comparison used up its step budget (graded as a timeout)."""


class _Context:
    __slots__ = ("steps", "cpu_left", "rel_tol", "ordered_lists", "units", "timed_out", "error", "eq")

    def __init__(self, rel_tol: float, cpu_budget: float, ordered_lists: bool = False, units: str = "convert") -> None:
        self.steps = MAX_STEPS
        self.cpu_left = cpu_budget
        self.rel_tol = rel_tol
        self.ordered_lists = ordered_lists
        self.units = units
        self.timed_out = False
        self.error: str | None = None
        self.eq = lambda x, y, depth: _eq(x, y, self, depth)

    def tick(self) -> None:
        self.steps -= 1
        if self.steps < 0:
            raise _OutOfSteps


# --------------------------------------------------------------------------- small layers

_ANGLE_RE = re.compile(r"^\s*\$?\s*(-?\d+(?:\.\d+)?)\s*(?:" + DEGREE_RE.pattern + r")\s*\$?\s*$")
_NUMBERISH_RE = re.compile(r"^[-+]?[\d.,]+%?$")


# --------------------------------------------------------------------------- named answers


def _assignments_equal(a: str, b: str, ctx: _Context, depth: int) -> bool | None:
    """Named answers: ``x = 5`` vs ``5``; ``g(x) = 3x-1`` vs ``y = 3x-1``; ``x = 5`` vs ``y = 5`` differ."""
    na, nb = assignment(a), assignment(b)
    if na and nb:
        if canonical(na[0]) == canonical(nb[0]) or (is_designator(na[0]) and is_designator(nb[0])):
            return _eq(na[1], nb[1], ctx, depth + 1)
        if "(" not in na[0] + nb[0]:
            return False  # two different names
        return None
    if na and "=" not in b:
        return _eq(na[1], b, ctx, depth + 1)
    if nb and "=" not in a:
        return _eq(a, nb[1], ctx, depth + 1)
    return None


def _is_equation(s: str) -> bool:
    return "=" in s and len(split_top_eq(s)) >= 2 and len(split_top(s, ",")) == 1


# --------------------------------------------------------------------------- the recursion


def _eq(a: str, b: str, ctx: _Context, depth: int = 0) -> bool:
    ctx.tick()
    raw_a, raw_b = a, b
    a, b = canonical(a), canonical(b)
    if not a or not b:
        return False
    if a == b:
        return True
    if depth > _MAX_DEPTH or len(a) > MAX_ANSWER_CHARS or len(b) > MAX_ANSWER_CHARS:
        return False
    if ctx.units == "convert":
        by_unit = unit_verdict(raw_a, raw_b)
        if isinstance(by_unit, tuple):
            return _eq(by_unit[0], by_unit[1], ctx, depth + 1)
        if by_unit is not None:
            return by_unit
    la, lb = mc_letter(a), mc_letter(b)
    if la or lb:
        if la and lb:
            return la == lb
        other = b if la else a
        # "(C)" against "C) 12" or "\text{(C) } 12": compare the leading letter only.
        m = re.match(r"^\(?([A-E])\)", other)
        if m:
            return m.group(1) == (la or lb)
    ba, bb = BASE_RE.match(a), BASE_RE.match(b)
    if ba or bb:
        # Numerals in a base ("52_8"): same digits and same base; a bare numeral may omit
        # the base ("1011" for "1011_2") but is never converted.
        da = (ba.group(1) if ba else a).lstrip("0").upper()
        db = (bb.group(1) if bb else b).lstrip("0").upper()
        if ba and bb and ba.group(2) != bb.group(2):
            return False
        if (ba and bb) or re.fullmatch(r"[0-9A-Za-z]+", a if bb else b):
            return da == db
    ta, tb = text_key(a), text_key(b)
    if ta is not None and tb is not None:
        return ta == tb
    ca, cb = last_side(a), last_side(b)
    if ca or cb:
        return _eq(ca or a, cb or b, ctx, depth + 1)
    if ":" in a or ":" in b:
        if looks_like_clock(a) or looks_like_clock(b):
            ma, mb = clock_minutes(a), clock_minutes(b)
            return ma is not None and ma == mb
        ra, rb = ratio_parts(a), ratio_parts(b)
        if ra and rb:
            return ratio_equal(ra, rb, ctx.eq, depth)
        if (ra and len(ra) == 2 and "=" not in b) or (rb and len(rb) == 2 and "=" not in a):
            r = ra or rb
            assert r is not None
            return _eq(f"\\frac{{{r[0]}}}{{{r[1]}}}", b if ra else a, ctx, depth + 1)
    ua, ub = strip_unit_words(raw_a), strip_unit_words(raw_b)
    if ua is not None or ub is not None:
        return _eq(raw_a if ua is None else ua, raw_b if ub is None else ub, ctx, depth + 1)
    ga, gb = _ANGLE_RE.match(raw_a), _ANGLE_RE.match(raw_b)
    if (ga and not gb and "\\pi" in b) or (gb and not ga and "\\pi" in a):
        g = ga or gb
        assert g is not None
        rad = f"\\frac{{{g.group(1)}\\pi}}{{180}}"
        return _eq(rad, b, ctx, depth + 1) if ga else _eq(a, rad, ctx, depth + 1)
    va, vb = exact_values(a), exact_values(b)
    if va is not None and vb is not None:
        if va & vb or float_artefact(a, b, va, vb):
            return True
        return bool(approximates(a, b, ctx.rel_tol) or approximates(b, a, ctx.rel_tol))
    if (va is None) != (vb is None) and "," in (a if va is None else b):
        # "1000,99" against "1000.99": a decimal comma, read only against a decimal point.
        comma = decimal_comma_value(a if va is None else b)
        other = b if va is None else a
        if comma is not None and decimal_places(other) is not None:
            return comma in (vb if va is None else va)  # type: ignore[operator]
    named = _assignments_equal(a, b, ctx, depth)
    if named is not None:
        return named
    sa, sb = structure(a), structure(b)
    qa, qb = inequality(a), inequality(b)
    if bool(qa) != bool(qb):
        q = qa or qb
        assert q is not None
        if q[0].startswith("|"):
            # "1 \\le |z| \\le 2" is the union "[-2,-1] \\cup [1,2]".
            union = abs_union(q[1])
            if union is not None:
                return _eq(union, b, ctx, depth + 1) if qa else _eq(a, union, ctx, depth + 1)
    if qa or qb:
        # One-variable inequalities compare as intervals, with their open/closed ends.
        if qa and qb:
            return qa[0] == qb[0] and interval_equal(qa[1], qb[1], ctx.eq, depth)
        ia = qa[1] if qa else as_interval(a, sa)
        ib = qb[1] if qb else as_interval(b, sb)
        if ia and ib:
            return interval_equal(ia, ib, ctx.eq, depth)
    pa, pb = expand_pm(a), expand_pm(b)
    if pa and not pb:
        sa = ("list", pa)
    if pb and not pa:
        sb = ("list", pb)
    mat_a, mat_b = bool(sa and sa[0] == "matrix"), bool(sb and sb[0] == "matrix")
    if mat_a != mat_b and "\\begin" in (b if mat_a else a):
        # A computation on matrices ("A + B", "2A", "AB") against a matrix: compare its value.
        value = matrix_value(b if mat_a else a)
        if value is not None:
            if mat_a:
                sb = ("matrix", format_matrix(value))
            else:
                sa = ("matrix", format_matrix(value))
    if sa or sb:
        # A structure is decided here, element by element; no further layers.
        return struct_equal(sa, sb, a, b, ctx.eq, depth, ctx.ordered_lists)
    if ta is not None or tb is not None:
        # A word against a formula: only an exact (case-insensitive) match counts.
        return a.lower() == b.lower()
    if va is not None or vb is not None:
        approx = approximates(a, b, ctx.rel_tol) if va is not None else approximates(b, a, ctx.rel_tol)
        if approx is not None:
            return approx
        if _NUMBERISH_RE.match(b if va is not None else a):
            return False
    if _is_equation(a) != _is_equation(b):
        return False  # a relation ("5 = 2b+d") is not an expression ("2b+d")
    if ("\\sum" in a or "\\prod" in a) and same_sum(a, b):
        return True
    verdict = numeric_equal(a, b)
    if verdict is not None:
        return verdict
    return _symbolic(a, b, ctx)


def _symbolic(a: str, b: str, ctx: _Context) -> bool:
    if is_unsafe(a) or is_unsafe(b):
        return False  # refused by the structural limits: too big for sympy to be asked
    key = (a, b) if a <= b else (b, a)
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
        if hit is not None:
            _CACHE.move_to_end(key)
            return hit
    if ctx.cpu_left <= 0.005:
        ctx.timed_out = True
        return False
    result = get_pool().call(a, b, ctx.cpu_left)
    ctx.cpu_left -= result.cpu
    if result.status != "ok" or result.equal is None:
        if result.status.startswith("timeout"):
            ctx.timed_out = True
        elif ctx.error is None:
            ctx.error = result.status
        return False
    with _CACHE_LOCK:
        _CACHE[key] = result.equal
        if len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return result.equal


def compare(
    a: str | None,
    b: str | None,
    *,
    rel_tol: float | None = None,
    cpu_budget: float | None = None,
    ordered_lists: bool = False,
    units: str = "convert",
) -> Verdict:
    """Whether two bare answers are equivalent, with the status of the decision.

    Never raises on strings except for a bug in this package (callers turn it into an
    ``error:<Kind>`` status). ``rel_tol`` overrides the decimal-approximation tolerance and
    ``cpu_budget`` the symbolic CPU seconds (default ``SYMBOLIC_CPU_BUDGET``).
    ``ordered_lists=True`` compares bare lists (``3, -4``) in order, as sequences, instead of as
    solution sets; ``units`` is one of :data:`UNIT_POLICIES`.
    """
    if units not in UNIT_POLICIES:
        raise ValueError(f"unknown units policy {units!r}: expected one of {', '.join(UNIT_POLICIES)}")
    if a is None or b is None:
        return Verdict(False)
    budget = SYMBOLIC_CPU_BUDGET if cpu_budget is None else float(cpu_budget)
    ctx = _Context(DEFAULT_REL_TOL if rel_tol is None else float(rel_tol), budget, bool(ordered_lists), units)
    try:
        equal = _eq(str(a), str(b), ctx)
    except _OutOfSteps:
        return Verdict(False, "timeout")
    if equal:
        return Verdict(True)
    if ctx.error is not None:
        return Verdict(False, ctx.error)
    if ctx.timed_out:
        return Verdict(False, "timeout")
    return Verdict(False)


def answers_equivalent(a: str | None, b: str | None, time_limit: float = ITEM_TIME_LIMIT) -> bool:
    """Whether two bare answers are equivalent (``compare(...).equal``); never raises on strings."""
    try:
        return compare(a, b, cpu_budget=min(SYMBOLIC_CPU_BUDGET, time_limit / 2)).equal
    except Exception:
        return False
