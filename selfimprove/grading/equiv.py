"""Layered answer equivalence, cheap layers first.

1. canonical strings (``normalize.canonical``) — most items stop here;
2. multiple-choice letters and case-insensitive text answers;
3. exact numbers (``Fraction``; percent, units, thousands separators, mixed numbers, ...);
4. a small exact evaluator for plain rational arithmetic (``2^{10}``, ``\\frac{3}{4}\\cdot 8``);
5. structure: unordered lists and sets, ordered tuples, intervals and unions with their
   open/closed ends, one-variable inequalities read as intervals (``5>x`` = ``(-\\infty,5)``),
   matrices and vectors, ``x = 5`` vs ``5``, ``\\pm`` expansions — each element compared
   recursively with these same layers (trailing unit words such as ``\\text{ square units}``
   are dropped from a complete expression first);
6. symbolic equality with sympy in a killable worker process (:mod:`.timeout`).

Every call has a deadline (default 0.5 s of wall time including all layers); when the
symbolic layer cannot answer in time the pair counts as *not* equivalent.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from fractions import Fraction

from .normalize import MAX_ANSWER_CHARS, canonical, number_values
from .symbolic import is_unsafe
from .timeout import get_pool

__all__ = ["answers_equivalent", "ITEM_TIME_LIMIT", "clear_cache"]

#: Hard bound on the wall time one equivalence decision may take (seconds).
ITEM_TIME_LIMIT = 0.5
_SYMBOLIC_SHARE = 0.3  # at most this much of an item's budget goes to one symbolic call
_MAX_ITEMS = 64
_MAX_DEPTH = 4

_CACHE: OrderedDict[tuple[str, str], bool] = OrderedDict()
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 50_000


def clear_cache() -> None:
    """Forget memoised symbolic decisions."""
    with _CACHE_LOCK:
        _CACHE.clear()


class _Budget:
    __slots__ = ("deadline", "symbolic_calls")

    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds
        self.symbolic_calls = 0

    def remaining(self) -> float:
        return self.deadline - time.monotonic()


# --------------------------------------------------------------------------- small layers

_MC_RE = re.compile(r"^\(?([A-Ea-e])\)?(?:[.:)]|$)")
_TEXT_RE = re.compile(r"^[A-Za-z][A-Za-z ']*$")
_BASE_RE = re.compile(r"^([0-9A-Fa-f]+)_\{?(\d+)\}?$")
_WORD_RE = re.compile(r"[A-Za-z]{3,}")
_SHORT_WORDS = frozenset({"no", "ok", "on", "up", "odd"})


def _mc_letter(s: str) -> str | None:
    if len(s) <= 3:
        m = _MC_RE.match(s)
        if m and (len(s) == 1 or s[0] == "(" or s[-1] in ".:)"):
            return m.group(1).upper()
    return None


def _text_key(s: str) -> str | None:
    """Lower-cased key for word answers ("Evelyn", "even", "North East"); else None."""
    if _TEXT_RE.match(s) and (_WORD_RE.search(s) or s.lower() in _SHORT_WORDS):
        return re.sub(r"[\s']+", "", s.lower())
    return None


# --------------------------------------------------------------------------- arithmetic


class _ArithError(Exception):
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


def _arith_value(s: str) -> Fraction | None:
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


def _values(s: str) -> frozenset[Fraction] | None:
    vals = number_values(s)
    if vals is not None:
        return vals
    v = _arith_value(s)
    return frozenset({v}) if v is not None else None


# --------------------------------------------------------------------------- structure

_MATRIX_RE = re.compile(r"^\\begin\{([pbBvV]?matrix|array)\}(?:\{[^{}]*\})?(.*)\\end\{\1\}$", re.S)
_ASSIGN_RE = re.compile(r"^(?:[A-Za-z](?:_\{?[A-Za-z0-9]+\}?)?|\\[a-zA-Z]+)(?:\([a-z]\))?(?:=|\\in)(?!=)(.+)$")


def _split_top(s: str, sep: str = ",") -> list[str]:
    """Split at separators outside any bracket pair."""
    out, depth, cur, i = [], 0, [], 0
    n = len(s)
    while i < n:
        c = s[i]
        if c == "\\" and i + 1 < n and s[i + 1] in "{}":
            cur.append(s[i : i + 2])
            depth += 1 if s[i + 1] == "{" else -1
            i += 2
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        if depth == 0 and s.startswith(sep, i):
            out.append("".join(cur))
            cur = []
            i += len(sep)
            continue
        cur.append(c)
        i += 1
    out.append("".join(cur))
    return [x.strip() for x in out]


def _closing(s: str, open_idx: int) -> int:
    """Index of the bracket closing ``s[open_idx]`` (any of ([{ closes with any of )]})."""
    depth = 0
    for i in range(open_idx, len(s)):
        c = s[i]
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth == 0:
                return i
    return -1


def _structure(s: str):
    """Parse ``s`` into ("matrix"|"set"|"list"|"tuple"|"interval"|"union", payload) or None."""
    m = _MATRIX_RE.match(s)
    if m:
        rows = [r for r in re.split(r"\\\\", m.group(2)) if r.strip()]
        return ("matrix", [[c.strip() for c in r.split("&")] for r in rows])
    if s == "\\emptyset":
        return ("set", [])
    if "\\cup" in s:
        parts = _split_top(s, "\\cup")
        if len(parts) > 1:
            return ("union", parts)
    if s.startswith("\\{") and s.endswith("\\}"):
        inner = s[2:-2]
        return ("set", [x for x in _split_top(inner)] if inner.strip() else [])
    if s.startswith("\\langle") and s.endswith("\\rangle"):
        return ("tuple", _split_top(s[len("\\langle") : -len("\\rangle")]))
    if len(s) >= 2 and s[0] in "([" and s[-1] in ")]" and _closing(s, 0) == len(s) - 1:
        items = _split_top(s[1:-1])
        if len(items) >= 2:
            if len(items) == 2 and (s[0] == "[" or s[-1] == "]"):
                return ("interval", (s[0], items[0], items[1], s[-1]))
            return ("tuple", items)
    items = _split_top(s)
    if len(items) >= 2:
        return ("list", items)
    for sep in (";", "\\text{and}"):
        items = _split_top(s, sep)
        if len(items) >= 2:
            return ("list", items)
    return None


def _expand_pm(s: str) -> list[str] | None:
    if "\\pm" not in s and "\\mp" not in s:
        return None
    if s.count("\\pm") + s.count("\\mp") != 1:
        return None
    a = s.replace("\\pm", "+").replace("\\mp", "-")
    b = s.replace("\\pm", "-").replace("\\mp", "+")
    return [re.sub(r"^\+", "", a), re.sub(r"^\+", "", b)]


# --------------------------------------------------------------------------- the recursion


def _match_unordered(xs: list[str], ys: list[str], budget: _Budget, depth: int) -> bool:
    if len(xs) != len(ys) or len(xs) > _MAX_ITEMS:
        return False
    used = [False] * len(ys)
    for x in xs:
        for j, y in enumerate(ys):
            if not used[j] and _eq(x, y, budget, depth + 1):
                used[j] = True
                break
        else:
            return False
    return True


def _match_ordered(xs: list[str], ys: list[str], budget: _Budget, depth: int) -> bool:
    return len(xs) == len(ys) <= _MAX_ITEMS and all(_eq(x, y, budget, depth + 1) for x, y in zip(xs, ys))


def _struct_equal(sa, sb, a: str, b: str, budget: _Budget, depth: int) -> bool:
    ka, kb = (sa[0] if sa else "atom"), (sb[0] if sb else "atom")
    unordered = {"set", "list"}
    if ka in unordered and kb in unordered:
        return _match_unordered(sa[1], sb[1], budget, depth)
    if ka == "tuple" and kb == "tuple":
        return _match_ordered(sa[1], sb[1], budget, depth)
    if {ka, kb} == {"tuple", "list"}:
        return _match_ordered(sa[1], sb[1], budget, depth)
    if ka == "interval" and kb == "interval":
        la, a0, a1, ra = sa[1]
        lb, b0, b1, rb = sb[1]
        return la == lb and ra == rb and _eq(a0, b0, budget, depth + 1) and _eq(a1, b1, budget, depth + 1)
    if ka == "union" or kb == "union":
        pa = sa[1] if ka == "union" else [a]
        pb = sb[1] if kb == "union" else [b]
        return _match_unordered(pa, pb, budget, depth)
    if ka == "matrix" and kb == "matrix":
        ra_, rb_ = sa[1], sb[1]
        if len(ra_) != len(rb_) or any(len(x) != len(y) for x, y in zip(ra_, rb_)):
            return False
        return _match_ordered([c for r in ra_ for c in r], [c for r in rb_ for c in r], budget, depth)
    if {ka, kb} <= {"matrix", "tuple", "list"}:
        # A column/row vector against a written-out tuple.
        mat = sa[1] if ka == "matrix" else sb[1]
        other = sb[1] if ka == "matrix" else sa[1]
        flat = [c for r in mat for c in r]
        if len(mat) == 1 or all(len(r) == 1 for r in mat):
            return _match_ordered(flat, other, budget, depth)
        return False
    if ka == "set" and kb == "atom" and len(sa[1]) == 1:
        return _eq(sa[1][0], b, budget, depth + 1)
    if kb == "set" and ka == "atom" and len(sb[1]) == 1:
        return _eq(a, sb[1][0], budget, depth + 1)
    return False


# --------------------------------------------------------------------------- inequalities

_INEQ_OP_RE = re.compile(
    r"((?:\\leqslant|\\geqslant|\\leq|\\geq|\\le|\\ge|\\lt|\\gt)(?![a-zA-Z])|<=|>=|=<|=>|<|>|\u2264|\u2265)"
)
_INEQ_VAR_RE = re.compile(r"^(?:[A-Za-z]|\\(?!pi\b|infty\b)[a-zA-Z]+)(?:_\{?[A-Za-z0-9]+\}?)?$")
_INFTY = "\\infty"


def _ineq_op(tok: str) -> tuple[str, bool]:
    """("<" or ">", strict) for an inequality operator token."""
    less = tok in ("<", "\\lt", "<=", "=<", "\u2264") or tok.startswith("\\le")
    strict = tok in ("<", ">", "\\lt", "\\gt")
    return ("<" if less else ">"), strict


def _inequality(s: str):
    """A one-variable inequality as (variable, interval payload), else None.

    ``5>x`` -> ("x", ("(", "-\\infty", "5", ")")); ``-1<x\\leq4`` -> ("x", ("(", "-1", "4", "]")).
    """
    if (
        len(s) > 300
        or "<" not in s
        and ">" not in s
        and "\\l" not in s
        and "\\g" not in s
        and "\u2264" not in s
        and "\u2265" not in s
    ):
        return None
    parts = _INEQ_OP_RE.split(s)
    if len(parts) not in (3, 5):
        return None
    terms = [p.strip() for p in parts[0::2]]
    ops = [_ineq_op(p) for p in parts[1::2]]
    if any(not t or "=" in t or "," in t for t in terms):
        return None
    if len(ops) == 2:
        (d1, s1), (d2, s2) = ops
        if d1 != d2 or not _INEQ_VAR_RE.match(terms[1]):
            return None
        lo, hi = terms[0], terms[2]
        lo_strict, hi_strict = s1, s2
        if d1 == ">":
            lo, hi, lo_strict, hi_strict = hi, lo, s2, s1
        return terms[1], ("(" if lo_strict else "[", lo, hi, ")" if hi_strict else "]")
    ((d, strict),) = ops
    left, right = terms
    if _INEQ_VAR_RE.match(left) and _INEQ_VAR_RE.match(right) and _INFTY not in (left, right):
        return None  # "x<y": two variables, not a range of one
    if _INEQ_VAR_RE.match(left):
        var, bound = left, right
    elif _INEQ_VAR_RE.match(right):
        var, bound = right, left
        d = "<" if d == ">" else ">"
    else:
        return None
    if var == _INFTY or bound in (_INFTY, "-" + _INFTY, "+" + _INFTY):
        return None
    if d == "<":
        return var, ("(", "-" + _INFTY, bound, ")" if strict else "]")
    return var, ("(" if strict else "[", bound, _INFTY, ")")


def _as_interval(s: str, struct):
    """Interval payload of an interval written with brackets (``(3,\\infty)``, ``[1,2)``)."""
    if struct and struct[0] == "interval":
        return struct[1]
    if struct and struct[0] == "tuple" and len(struct[1]) == 2 and s[:1] == "(" and s[-1:] == ")":
        return ("(", struct[1][0], struct[1][1], ")")
    return None


def _interval_equal(x, y, budget: _Budget, depth: int) -> bool:
    return x[0] == y[0] and x[3] == y[3] and _eq(x[1], y[1], budget, depth + 1) and _eq(x[2], y[2], budget, depth + 1)


# --------------------------------------------------------------------------- unit words

_UNIT_TEXT_TAIL_RE = re.compile(
    r"\\(?:text|mbox|textrm|textnormal|mathrm|hbox)\s*\{([^{}]*)\}\s*(?:\^\s*\{?\s*[23]\s*\}?)?[\s.$]*$"
)
_UNIT_WORDS_TAIL_RE = re.compile(
    r"(?<=\s)([A-Za-z][A-Za-z.]*(?:\s+[A-Za-z][A-Za-z.]*){0,2})\s*(?:\^\s*\{?\s*[23]\s*\}?)?[\s.$]*$"
)
_NOT_UNITS = frozenset(
    "and or only for all where when with the of is are to if then else not any none no each every "
    "real reals numbers number integer integers even odd true false undefined exist exists".split()
)
_SHORT_UNIT_WORDS = frozenset("cm mm km m ft in yd mi kg g mg lb lbs oz ml l hr hrs h s sec min mph sq".split())


def _unit_words(text: str) -> bool:
    """True when ``text`` is one to three unit words ("square units", "cm", "sq. ft")."""
    words = [w for w in re.split(r"[\s.]+", text.strip()) if w]
    if not 1 <= len(words) <= 3:
        return False
    for w in words:
        lw = w.lower()
        if not w.isalpha() or lw in _NOT_UNITS:
            return False
        if len(lw) < 3 and lw not in _SHORT_UNIT_WORDS:
            return False
    return True


def _complete_expression(s: str) -> bool:
    """Whether ``s`` is a finished formula (no dangling operator, no plain words left)."""
    s = s.strip().rstrip("$").strip()
    if not s or s[-1] in "+-*/^_=,([{<>|" or re.search(r"\\(?:cdot|times|div|frac|sqrt)\s*$", s):
        return False
    bare = re.sub(r"\\[a-zA-Z]+", " ", s)
    if re.search(r"[A-Za-z]{3,}", bare) or not re.search(r"[0-9A-Za-z]|\\[a-zA-Z]", s):
        return False
    depth = 0
    for c in s:
        depth += c in "([{"
        depth -= c in ")]}"
        if depth < 0:
            return False
    return depth == 0


def _strip_unit_words(s: str) -> str | None:
    """``s`` without trailing unit words (``6\\pi \\text{ square units}`` -> ``6\\pi``), else None.

    Only a trailing ``\\text{...}``/``\\mbox{...}`` of unit-like words, or plain unit words
    after a space, is removed, and only when what remains is a complete expression: text
    answers (``\\text{Tuesday}``) and choices (``\\text{(B)}``) are left alone.
    """
    if len(s) > 600 or not re.search(r"[A-Za-z]{2}", s):
        return None
    m = _UNIT_TEXT_TAIL_RE.search(s)
    if m is None:
        m = _UNIT_WORDS_TAIL_RE.search(s)
    if m is None or not _unit_words(m.group(1)):
        return None
    rest = s[: m.start()].rstrip()
    return rest if _complete_expression(rest) else None


def _strip_assignment(s: str) -> str:
    m = _ASSIGN_RE.match(s)
    if m and "=" not in m.group(1):
        return m.group(1).strip()
    return s


def _eq(a: str, b: str, budget: _Budget, depth: int = 0) -> bool:
    raw_a, raw_b = a, b
    a, b = canonical(a), canonical(b)
    if not a or not b:
        return False
    if a == b:
        return True
    if depth > _MAX_DEPTH or len(a) > MAX_ANSWER_CHARS or len(b) > MAX_ANSWER_CHARS:
        return False
    la, lb = _mc_letter(a), _mc_letter(b)
    if la or lb:
        if la and lb:
            return la == lb
        other = b if la else a
        # "(C)" against "C) 12" or "\text{(C) } 12": compare the leading letter only.
        m = re.match(r"^\(?([A-E])\)", other)
        if m:
            return m.group(1) == (la or lb)
    ba, bb = _BASE_RE.match(a), _BASE_RE.match(b)
    if ba or bb:
        # Numerals in a base ("52_8"): same digits and same base; a bare numeral may omit
        # the base ("1011" for "1011_2") but is never converted.
        da = (ba.group(1) if ba else a).lstrip("0").upper()
        db = (bb.group(1) if bb else b).lstrip("0").upper()
        if ba and bb and ba.group(2) != bb.group(2):
            return False
        if (ba and bb) or re.fullmatch(r"[0-9A-Za-z]+", a if bb else b):
            return da == db
    ta, tb = _text_key(a), _text_key(b)
    if ta is not None and tb is not None:
        return ta == tb
    ua, ub = _strip_unit_words(raw_a), _strip_unit_words(raw_b)
    if ua is not None or ub is not None:
        return _eq(raw_a if ua is None else ua, raw_b if ub is None else ub, budget, depth + 1)
    va, vb = _values(a), _values(b)
    if va is not None and vb is not None:
        return bool(va & vb)
    sa, sb = _structure(a), _structure(b)
    qa, qb = _inequality(a), _inequality(b)
    if qa or qb:
        # One-variable inequalities compare as intervals, with their open/closed ends.
        if qa and qb:
            return qa[0] == qb[0] and _interval_equal(qa[1], qb[1], budget, depth)
        ia = qa[1] if qa else _as_interval(a, sa)
        ib = qb[1] if qb else _as_interval(b, sb)
        if ia and ib:
            return _interval_equal(ia, ib, budget, depth)
    pa, pb = _expand_pm(a), _expand_pm(b)
    if pa and not pb:
        sa = ("list", pa)
    if pb and not pa:
        sb = ("list", pb)
    if sa or sb:
        if _struct_equal(sa, sb, a, b, budget, depth):
            return True
        # Unordered lists may still be one parenthesised point, etc.; no further layers.
        if (sa and sa[0] != "interval") or (sb and sb[0] != "interval"):
            return False
    a2 = _strip_assignment(a) if "=" not in b else a
    b2 = _strip_assignment(b) if "=" not in a else b
    if a2 != a or b2 != b:
        return _eq(a2, b2, budget, depth + 1)
    if ta is not None or tb is not None:
        # A word against a formula: only an exact (case-insensitive) match counts.
        return a.lower() == b.lower()
    if (va is not None and _has_plain_number_shape(b)) or (vb is not None and _has_plain_number_shape(a)):
        return False
    return _symbolic(a, b, budget)


_NUMBERISH_RE = re.compile(r"^[-+]?[\d.,]+%?$")


def _has_plain_number_shape(s: str) -> bool:
    return bool(_NUMBERISH_RE.match(s))


def _symbolic(a: str, b: str, budget: _Budget) -> bool:
    if is_unsafe(a) or is_unsafe(b):
        return False
    key = (a, b) if a <= b else (b, a)
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
        if hit is not None:
            _CACHE.move_to_end(key)
            return hit
    remaining = min(budget.remaining() - 0.06, _SYMBOLIC_SHARE)
    if remaining <= 0.005:
        return False
    budget.symbolic_calls += 1
    result = get_pool().call(a, b, remaining)
    if result is None:
        return False  # timed out: not cached, a later call may have more budget
    with _CACHE_LOCK:
        _CACHE[key] = result
        if len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return result


def answers_equivalent(a: str | None, b: str | None, time_limit: float = ITEM_TIME_LIMIT) -> bool:
    """Whether two bare answers are equivalent, decided within ``time_limit`` seconds."""
    if a is None or b is None:
        return False
    try:
        return _eq(str(a), str(b), _Budget(time_limit))
    except RecursionError:
        return False
    except Exception:  # never raise on string input
        return False
