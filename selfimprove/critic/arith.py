"""Safe arithmetic for checking solution steps: a tokenizer, a small parser, and equation finding.

Model text is parsed here, never executed. The grammar is the arithmetic a grade-school solution
writes::

    expr   := term (("+" | "-") term)*
    term   := unary (("*" | "x" | "×" | "·" | "/" | "÷") unary)*
    unary  := "-" unary | atom
    atom   := NUMBER ["%"] | "(" expr ")" ["%"]

Numbers may carry a leading ``$`` and thousands commas (``$1,250.50``); a trailing ``%`` divides
by 100. Values are exact fractions. There is no exponent operator, so ``2**99999`` or ``10^5``
simply do not parse; a number longer than :data:`MAX_DIGITS` digits, an expression of more than
:data:`MAX_TOKENS` tokens, unbalanced parentheses, division by zero, or a result whose numerator
or denominator grows past :data:`MAX_RESULT_DIGITS` digits make the expression unparseable
(``None``), never an exception or a long computation.

:func:`find_equations` locates the claims of one solution line: GSM8K calculator annotations
``<<3*12=36>>`` and inline equations ``3 * 12 = 36`` (chains ``a = b * c = d`` give one claim per
``=`` whose left side is an expression). Each claim knows its computed and stated values and where
its parts sit in the line, which is what a checker and a mistake inserter need.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

MAX_DIGITS = 30  # digits in one number
MAX_TOKENS = 64  # tokens in one expression
MAX_RESULT_DIGITS = 200  # digits of a result's numerator or denominator
MAX_LINE_CHARS = 4000  # a step line longer than this is checked on its first MAX_LINE_CHARS characters

_MUL = {"*", "x", "X", "×", "·", "∙", "⋅"}
_DIV = {"/", "÷"}
_TOKEN = re.compile(
    r"""
    (?P<calc><<[^<>\n]{0,400}>>)                       # a calculator annotation
  | (?P<num>(?:\$\s?)?(?:(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+))  # 1,234.5  $12  .5
  | (?P<op>[-+*/×÷·∙⋅−–]|(?<![A-Za-z])[xX](?![A-Za-z]))    # operators; x only between non-letters
  | (?P<lpar>\()
  | (?P<rpar>\))
  | (?P<pct>%)
  | (?P<eq>=)
  | (?P<space>\s+)
  | (?P<other>.)
    """,
    re.X | re.S,
)
_MINUS = {"-", "−", "–"}


@dataclass(frozen=True)
class Token:
    kind: str  # num, op, lpar, rpar, pct, eq, calc, other
    text: str
    start: int
    end: int


def tokenize(text: str) -> list[Token]:
    """Tokens of ``text`` without the spaces; ``other`` for every character arithmetic does not use."""
    out = []
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup or "other"
        if kind != "space":
            out.append(Token(kind, m.group(), m.start(), m.end()))
    return out


def number_value(text: str) -> Fraction | None:
    """The value of one number token (``$1,234.50`` -> 1234.5); None past :data:`MAX_DIGITS` digits."""
    s = text.replace("$", "").replace(",", "").strip()
    if not s or sum(c.isdigit() for c in s) > MAX_DIGITS:
        return None
    try:
        return Fraction(s)
    except (ValueError, ZeroDivisionError):
        return None


def _small(v: Fraction) -> bool:
    return len(str(abs(v.numerator))) <= MAX_RESULT_DIGITS and len(str(v.denominator)) <= MAX_RESULT_DIGITS


class _Parser:
    def __init__(self, tokens: list[Token]):
        self.toks = tokens
        self.i = 0

    def peek(self) -> Token | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> Token:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def expr(self, depth: int = 0) -> Fraction | None:
        v = self.term(depth)
        while (
            v is not None and (t := self.peek()) is not None and t.kind == "op" and (t.text == "+" or t.text in _MINUS)
        ):
            self.take()
            w = self.term(depth)
            if w is None:
                return None
            v = v + w if t.text == "+" else v - w
            if not _small(v):
                return None
        return v

    def term(self, depth: int) -> Fraction | None:
        v = self.unary(depth)
        while (
            v is not None and (t := self.peek()) is not None and t.kind == "op" and (t.text in _MUL or t.text in _DIV)
        ):
            self.take()
            w = self.unary(depth)
            if w is None:
                return None
            if t.text in _MUL:
                v = v * w
            elif w == 0:
                return None
            else:
                v = v / w
            if not _small(v):
                return None
        return v

    def unary(self, depth: int) -> Fraction | None:
        t = self.peek()
        if t is not None and t.kind == "op" and t.text in _MINUS:
            if depth > MAX_TOKENS:
                return None
            self.take()
            v = self.unary(depth + 1)
            return None if v is None else -v
        return self.atom(depth)

    def atom(self, depth: int) -> Fraction | None:
        t = self.peek()
        if t is None:
            return None
        if t.kind == "num":
            self.take()
            v = number_value(t.text)
        elif t.kind == "lpar":
            if depth > MAX_TOKENS:
                return None
            self.take()
            v = self.expr(depth + 1)
            close = self.peek()
            if v is None or close is None or close.kind != "rpar":
                return None
            self.take()
        else:
            return None
        if v is not None and (p := self.peek()) is not None and p.kind == "pct":
            self.take()
            v = v / 100
        return v


def evaluate_tokens(tokens: list[Token]) -> Fraction | None:
    """The exact value of a whole token list, or None when it is not one well-formed expression."""
    if not tokens or len(tokens) > MAX_TOKENS:
        return None
    p = _Parser(tokens)
    try:
        v = p.expr()
    except RecursionError:  # pragma: no cover - bounded by MAX_TOKENS
        return None
    return v if v is not None and p.i == len(tokens) else None


def evaluate(text: str) -> Fraction | None:
    """The exact value of an arithmetic expression written as text, or None (never raises)."""
    if not isinstance(text, str) or len(text) > 40 * MAX_TOKENS:
        return None
    toks = tokenize(text)
    if any(t.kind not in ("num", "op", "lpar", "rpar", "pct") for t in toks):
        return None
    return evaluate_tokens(toks)


# --------------------------------------------------------------------------- equations in a line

_ARITH = {"num", "op", "lpar", "rpar", "pct"}


@dataclass(frozen=True)
class Equation:
    """One arithmetic claim ``lhs = stated`` in a line.

    ``lhs`` is the expression as written (normalised spacing), ``computed`` its exact value,
    ``stated`` the value the line gives; ``kind`` is "calc" for a ``<<..>>`` annotation or
    "inline". ``result_span`` is where the stated value sits in the line (to rewrite it);
    ``operand_spans`` where each number of the left side sits; ``operator`` the first operator.
    """

    lhs: str
    computed: Fraction
    stated: Fraction
    stated_text: str
    kind: str
    span: tuple[int, int]
    result_span: tuple[int, int]
    operand_spans: tuple[tuple[int, int], ...]
    operators: tuple[tuple[str, int, int], ...]

    @property
    def correct(self) -> bool:
        return agrees(self.computed, self.stated, self.stated_text)


def decimals(text: str) -> int:
    s = text.replace(",", "").replace("$", "").strip().rstrip("%")
    return len(s.split(".", 1)[1]) if "." in s else 0


def agrees(computed: Fraction, stated: Fraction, stated_text: str = "") -> bool:
    """True when ``stated`` is ``computed`` written to the precision the text shows
    (``5 / 30 = 0.17`` agrees, ``10 / 4 = 2.6`` does not); whole numbers must be exact
    unless the computed value is not whole (``10 / 3 = 3`` is a rounding, and agrees)."""
    if computed == stated:
        return True
    d = decimals(stated_text) if stated_text else 0
    if d == 0 and computed.denominator == 1:
        return False
    if d > 12:
        return False
    scale = 100 if stated_text.strip().endswith("%") else 1
    return abs(computed - stated) <= Fraction(1, 2 * 10**d * scale)


def _format_value(v: Fraction) -> str:
    if v.denominator == 1:
        return str(v.numerator)
    f = float(v)
    text = f"{f:.4f}".rstrip("0").rstrip(".")
    return text


def format_value(v: Fraction) -> str:
    """A value as a solution would write it: ``36``, ``2.5``, ``0.3333``."""
    return _format_value(v)


def _lhs_text(tokens: list[Token]) -> str:
    parts = []
    for t in tokens:
        if t.kind == "op":
            op = "*" if t.text in _MUL else "/" if t.text in _DIV else "-" if t.text in _MINUS else t.text
            parts.append(f" {op} ")
        elif t.kind == "num":
            parts.append(t.text.replace("$", "").replace(" ", ""))
        else:
            parts.append(t.text)
    return "".join(parts).replace("( ", "(").replace(" )", ")").strip()


def pretty_expr(text: str) -> str:
    """An expression with normalised spacing (``3*12`` -> ``3 * 12``); the text itself if it does not parse."""
    toks = tokenize(text or "")
    if evaluate_tokens(toks) is None:
        return text
    return _lhs_text(toks)


def _has_operator(tokens: list[Token]) -> bool:
    # a leading minus alone (``-5``) is a number, not a computation
    return any(t.kind == "op" for t in tokens[1:]) or (bool(tokens) and tokens[0].kind == "op" and len(tokens) > 2)


def _best_suffix(run: list[Token]) -> tuple[list[Token], Fraction] | None:
    """The longest suffix of ``run`` that is one well-formed expression with an operator."""
    for k in range(max(0, len(run) - MAX_TOKENS), len(run)):
        cand = run[k:]
        if not _has_operator(cand):
            return None
        v = evaluate_tokens(cand)
        if v is not None:
            return cand, v
    return None


def _best_prefix(run: list[Token]) -> tuple[list[Token], Fraction] | None:
    """The longest prefix of ``run`` that is one well-formed expression."""
    for k in range(min(len(run), MAX_TOKENS), 0, -1):
        cand = run[:k]
        v = evaluate_tokens(cand)
        if v is not None:
            return cand, v
    return None


def _calc_equation(tok: Token) -> Equation | None:
    body = tok.text[2:-2]
    lhs, sep, rhs = body.rpartition("=")
    if not sep:
        return None
    lhs_toks = tokenize(lhs)
    if any(t.kind not in _ARITH for t in lhs_toks):
        return None
    computed = evaluate_tokens(lhs_toks)
    stated = evaluate(rhs)
    if computed is None or stated is None:
        return None
    base = tok.start + 2
    rstart = base + len(lhs) + 1
    return Equation(
        lhs=_lhs_text(lhs_toks),
        computed=computed,
        stated=stated,
        stated_text=rhs.strip(),
        kind="calc",
        span=(tok.start, tok.end),
        result_span=(rstart + len(rhs) - len(rhs.lstrip()), rstart + len(rhs.rstrip())),
        operand_spans=tuple((base + t.start, base + t.end) for t in lhs_toks if t.kind == "num"),
        operators=tuple((t.text, base + t.start, base + t.end) for t in lhs_toks if t.kind == "op"),
    )


def find_equations(line: str) -> list[Equation]:
    """Every checkable arithmetic claim of one line, in order of appearance (never raises)."""
    if not isinstance(line, str):
        return []
    line = line[:MAX_LINE_CHARS]
    toks = tokenize(line)
    eqs: list[Equation] = []
    for tok in toks:
        if tok.kind == "calc":
            eq = _calc_equation(tok)
            if eq is not None:
                eqs.append(eq)
    # inline claims: the maximal arithmetic run left of each "=", the value (or expression) right of it
    # a calculator annotation (or a bare "$") between "=" and its result (``= $<<3*12=36>>36``) is skipped over
    plain = [t for t in toks if t.kind != "calc" and not (t.kind == "other" and t.text == "$")]
    for i, t in enumerate(plain):
        if t.kind != "eq":
            continue
        j = i
        while j > 0 and plain[j - 1].kind in _ARITH:
            j -= 1
        left = _best_suffix(plain[j:i])
        if left is None:
            continue
        k = i + 1
        while k < len(plain) and plain[k].kind in _ARITH:
            k += 1
        right = _best_prefix(plain[i + 1 : k])
        if right is None:
            continue
        lt, computed = left
        rt, stated = right
        stated_text = line[rt[0].start : rt[-1].end]
        eqs.append(
            Equation(
                lhs=_lhs_text(lt),
                computed=computed,
                stated=stated,
                stated_text=stated_text,
                kind="inline",
                span=(lt[0].start, rt[-1].end),
                result_span=(rt[0].start, rt[-1].end),
                operand_spans=tuple((x.start, x.end) for x in lt if x.kind == "num"),
                operators=tuple((x.text, x.start, x.end) for x in lt if x.kind == "op"),
            )
        )
    eqs.sort(key=lambda e: e.span[0])
    return eqs


def numbers_in(text: str) -> list[Fraction]:
    """Every number written in ``text`` (calculator annotations excluded), in order."""
    if not isinstance(text, str):
        return []
    out = []
    for t in tokenize(text[:MAX_LINE_CHARS]):
        if t.kind == "num":
            v = number_value(t.text)
            if v is not None:
                out.append(v)
    return out
