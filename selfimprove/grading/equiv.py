"""Layered answer equivalence, cheap layers first, with a deterministic budget.

Layers (each element of a structure is compared recursively with the same layers):

1. canonical strings (:func:`.normalize.canonical`) -- most items stop here;
2. multiple-choice letters, numerals in a base, case-insensitive word answers;
3. ``=`` chains (the last side), clock times and ratios (:mod:`.structure`), trailing unit
   words (:mod:`.units`), a bare angle in degrees against radians;
4. exact numbers (:mod:`.numbers`, ``Fraction``) and exact rational arithmetic
   (:mod:`.arith`), then the numeric tolerance policy for decimal approximations;
5. structure: lists, sets, tuples, intervals, unions, matrices, one-variable inequalities as
   intervals, ``\\pm``, named answers (``x = 5``, ``(a,b) = (5,1)``, ``g(x) = ...``);
6. numeric probing of two expressions in-process (:mod:`.numeric`): decides most pairs;
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
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from fractions import Fraction

from .expr import parse
from .normalize import DEGREE_RE, MAX_ANSWER_CHARS, canonical
from .numbers import decimal_places, number_values
from .numeric import numeric_equal
from .scalars import BASE_RE, approximates, exact_values, mc_letter, text_key
from .structure import (
    MAX_ITEMS,
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
from .units import strip_unit_words

__all__ = [
    "answers_equivalent",
    "compare",
    "Verdict",
    "ITEM_TIME_LIMIT",
    "SYMBOLIC_CPU_BUDGET",
    "DEFAULT_REL_TOL",
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


class _OutOfSteps(Exception):
    pass


class _Context:
    __slots__ = ("steps", "cpu_left", "rel_tol", "timed_out", "error")

    def __init__(self, rel_tol: float, cpu_budget: float) -> None:
        self.steps = MAX_STEPS
        self.cpu_left = cpu_budget
        self.rel_tol = rel_tol
        self.timed_out = False
        self.error: str | None = None

    def tick(self) -> None:
        self.steps -= 1
        if self.steps < 0:
            raise _OutOfSteps


# --------------------------------------------------------------------------- small layers

_ANGLE_RE = re.compile(r"^\s*\$?\s*(-?\d+(?:\.\d+)?)\s*(?:" + DEGREE_RE.pattern + r")\s*\$?\s*$")
_NUMBERISH_RE = re.compile(r"^[-+]?[\d.,]+%?$")


# --------------------------------------------------------------------------- structures


def _match_unordered(xs: list[str], ys: list[str], ctx: _Context, depth: int) -> bool:
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
            if not used[j] and _eq(x, y, ctx, depth + 1):
                used[j] = True
                break
        else:
            return False
    return True


def _match_ordered(xs: list[str], ys: list[str], ctx: _Context, depth: int) -> bool:
    return len(xs) == len(ys) <= MAX_ITEMS and all(_eq(x, y, ctx, depth + 1) for x, y in zip(xs, ys))


def _struct_equal(sa, sb, a: str, b: str, ctx: _Context, depth: int) -> bool:
    ka, kb = (sa[0] if sa else "atom"), (sb[0] if sb else "atom")
    unordered = {"set", "list"}
    if ka in unordered and kb in unordered:
        return _match_unordered(sa[1], sb[1], ctx, depth)
    if ka == "tuple" and kb == "tuple":
        return _match_ordered(sa[1], sb[1], ctx, depth)
    if {ka, kb} == {"tuple", "list"}:
        return _match_ordered(sa[1], sb[1], ctx, depth)
    if ka == "interval" and kb == "interval":
        return _interval_equal(sa[1], sb[1], ctx, depth)
    if ka == "union" or kb == "union":
        pa = sa[1] if ka == "union" else [a]
        pb = sb[1] if kb == "union" else [b]
        return _match_unordered(pa, pb, ctx, depth)
    if ka == "matrix" and kb == "matrix":
        ra, rb = sa[1], sb[1]
        if len(ra) != len(rb) or any(len(x) != len(y) for x, y in zip(ra, rb)):
            return False
        return _match_ordered([c for r in ra for c in r], [c for r in rb for c in r], ctx, depth)
    if {ka, kb} <= {"matrix", "tuple", "list"}:
        # A column/row vector against a written-out tuple.
        mat = sa[1] if ka == "matrix" else sb[1]
        other = sb[1] if ka == "matrix" else sa[1]
        if len(mat) == 1 or all(len(r) == 1 for r in mat):
            return _match_ordered([c for r in mat for c in r], other, ctx, depth)
        return False
    if ka in unordered and kb == "atom" and sa[1]:
        # {5} is 5; so is "15\frac{39}{40}, \frac{639}{40}": one answer boxed in two forms.
        return all(_eq(x, b, ctx, depth + 1) for x in sa[1])
    if kb in unordered and ka == "atom" and sb[1]:
        return all(_eq(a, y, ctx, depth + 1) for y in sb[1])
    return False


def _interval_equal(x, y, ctx: _Context, depth: int) -> bool:
    return x[0] == y[0] and x[3] == y[3] and _eq(x[1], y[1], ctx, depth + 1) and _eq(x[2], y[2], ctx, depth + 1)


def _ratio_equal(ra: list[str], rb: list[str], ctx: _Context, depth: int) -> bool:
    """Proportional ratios: ``3:11`` = ``6:22`` (cross products), never with an all-zero side."""
    if len(ra) != len(rb):
        return False
    for i in range(1, len(ra)):
        if not _eq(f"({ra[i]})\\cdot({rb[0]})", f"({rb[i]})\\cdot({ra[0]})", ctx, depth + 1):
            return False
    return not all(exact_values(x) == frozenset({Fraction(0)}) for x in ra)


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
            return _ratio_equal(ra, rb, ctx, depth)
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
        if va & vb:
            return True
        return bool(approximates(a, b, ctx.rel_tol) or approximates(b, a, ctx.rel_tol))
    named = _assignments_equal(a, b, ctx, depth)
    if named is not None:
        return named
    sa, sb = structure(a), structure(b)
    qa, qb = inequality(a), inequality(b)
    if qa or qb:
        # One-variable inequalities compare as intervals, with their open/closed ends.
        if qa and qb:
            return qa[0] == qb[0] and _interval_equal(qa[1], qb[1], ctx, depth)
        ia = qa[1] if qa else as_interval(a, sa)
        ib = qb[1] if qb else as_interval(b, sb)
        if ia and ib:
            return _interval_equal(ia, ib, ctx, depth)
    pa, pb = expand_pm(a), expand_pm(b)
    if pa and not pb:
        sa = ("list", pa)
    if pb and not pa:
        sb = ("list", pb)
    if sa or sb:
        # A structure is decided here, element by element; no further layers.
        return _struct_equal(sa, sb, a, b, ctx, depth)
    if ta is not None or tb is not None:
        # A word against a formula: only an exact (case-insensitive) match counts.
        return a.lower() == b.lower()
    if va is not None or vb is not None:
        approx = approximates(a, b, ctx.rel_tol) if va is not None else approximates(b, a, ctx.rel_tol)
        if approx is not None:
            return approx
        if _NUMBERISH_RE.match(b if va is not None else a):
            return False
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


def compare(a: str | None, b: str | None, *, rel_tol: float | None = None, cpu_budget: float | None = None) -> Verdict:
    """Whether two bare answers are equivalent, with the status of the decision.

    Never raises on strings except for a bug in this package (callers turn it into an
    ``error:<Kind>`` status). ``rel_tol`` overrides the decimal-approximation tolerance and
    ``cpu_budget`` the symbolic CPU seconds (default ``SYMBOLIC_CPU_BUDGET``).
    """
    if a is None or b is None:
        return Verdict(False)
    budget = SYMBOLIC_CPU_BUDGET if cpu_budget is None else float(cpu_budget)
    ctx = _Context(DEFAULT_REL_TOL if rel_tol is None else float(rel_tol), budget)
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
