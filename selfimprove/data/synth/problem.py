"""The structure every synthetic problem is built from: steps, problems, themes, the step
builder and the number pickers.

A *template* (see :mod:`.themes` and :mod:`.easy`) takes the per-problem context and the current
state of the chain and returns ``(step, new state)``, or None when it does not fit the current
numbers; it builds that step with the step functions of :mod:`.steps`.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from selfimprove.data.synth.vocabulary import FRACTIONS, PEOPLE, PERCENTS, Person

MAX_VALUE = 999  # every number in a problem stays below 1000
MIN_VALUE = 2  # ... and at least 2, so that every unit noun reads right in the plural

DATASET_NAME = "synthetic"
EASY_DATASET_NAME = "synthetic-easy"


@dataclass(frozen=True)
class Step:
    """One reasoning step: ``result = operands[0] <op> operands[1]``.

    ``op`` is one of ``+ - * /`` or ``%`` (``a % p`` means ``a * p / 100``). ``expr`` is the
    calculator expression written in the annotation; ``line`` is the solution line.
    """

    op: str
    operands: tuple[int, int]
    result: int
    expr: str
    sentence: str
    line: str


@dataclass(frozen=True)
class Problem:
    level: int
    theme: str
    question: str
    steps: tuple[Step, ...]
    dataset: str = DATASET_NAME  # "synthetic" (standard) or "synthetic-easy"

    @property
    def answer(self) -> int:
        return self.steps[-1].result

    @property
    def reference(self) -> str:
        return "\n".join(s.line for s in self.steps) + f"\n#### {self.answer}"

    def to_record(self, split: str, index: int) -> dict:
        """The uniform question record (see :mod:`selfimprove.data.datasets`), with ``steps``.

        ``steps`` holds one ``{"text": line, "expr": "3*12", "value": 36}`` per reference line
        before ``#### N``: the line, its calculator expression and its exact value.
        """
        return {
            "id": f"{self.dataset}/{split}/{index}",
            "dataset": self.dataset,
            "dataset_type": "gsm8k",
            "split": split,
            "question": self.question,
            "reference": self.reference,
            "gold": str(self.answer),
            "level": self.level,
            "subject": self.theme,
            "steps": [{"text": st.line, "expr": st.expr, "value": st.result} for st in self.steps],
        }


def apply_op(op: str, a: int, b: int) -> int:
    """Evaluate one step exactly; raises ValueError if the result is not a whole number."""
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op == "/":
        q, r = divmod(a, b)
    elif op == "%":
        q, r = divmod(a * b, 100)
    else:
        raise ValueError(f"unknown op {op!r}")
    if r:
        raise ValueError(f"{a} {op} {b} is not a whole number")
    return q


def annotate(a: int, op: str, b: int, result: int, prefix: str = "") -> tuple[str, str]:
    """``("a * b = <<a*b=c>>c", "a*b")``; ``%`` is written ``a * b / 100``."""
    if op == "%":
        expr, shown = f"{a}*{b}/100", f"{a} * {b} / 100"
    else:
        expr, shown = f"{a}{op}{b}", f"{a} {op} {b}"
    return f"{shown} = {prefix}<<{expr}={result}>>{result}", expr


def cap(s: str) -> str:
    return s[:1].upper() + s[1:]


@dataclass
class State:
    """The quantity the chain is currently about."""

    value: int
    holder: Person
    unit: str  # plural noun for counts and distances; "" for money
    question: str  # the final question if the chain stopped here
    packed: bool = False  # objects already packed into containers


@dataclass
class Ctx:
    """Per-problem choices shared by all steps of one problem."""

    rng: random.Random
    theme: str
    used: set  # names already in the problem
    item: tuple = ()
    move: tuple = ()

    def person(self) -> Person:
        choices = [p for p in PEOPLE if p.name not in self.used]
        p = self.rng.choice(choices)
        self.used.add(p.name)
        return p


# A template returns (step, new state), or None when it does not fit the current numbers.
Result = tuple[Step, State] | None
Template = Callable[[Ctx, State | None], Result]


@dataclass(frozen=True)
class Theme:
    """One theme's templates; their order in each tuple is part of the seeded stream."""

    name: str
    weight: int
    starts: tuple
    follow: tuple
    final: tuple  # follow-ups allowed only as the last step


def make_step(op: str, a: int, b: int, sentence: str, line_fmt: str, money: bool = False) -> Step:
    """Build a step; ``line_fmt`` contains ``{calc}`` where the annotated calculation goes."""
    result = apply_op(op, a, b)
    calc, expr = annotate(a, op, b, result, "$" if money else "")
    return Step(op, (a, b), result, expr, sentence, line_fmt.format(calc=calc))


def divisors(v: int, lo: int, hi: int) -> list[int]:
    return [k for k in range(lo, hi + 1) if v % k == 0 and v // k >= MIN_VALUE]


# Number pickers: each draws one number of a step from the current value, or returns None
# (drawing nothing) when no number fits.


def add_amount(rng: random.Random, v: int, lo: int = 2, hi: int = 60, top: int = MAX_VALUE) -> int | None:
    """A number from ``lo`` to ``hi`` to add to ``v`` without passing ``top``."""
    hi = min(hi, top - v)
    return rng.randint(lo, hi) if hi >= lo else None


def sub_amount(rng: random.Random, v: int, hi: int = 60) -> int | None:
    """A number from MIN_VALUE to ``hi`` to take from ``v``, leaving at least MIN_VALUE."""
    hi = min(hi, v - MIN_VALUE)
    return rng.randint(MIN_VALUE, hi) if hi >= MIN_VALUE else None


def pick_factor(rng: random.Random, v: int, hi: int) -> int | None:
    """A factor from 2 to ``hi`` that keeps ``v`` times it within MAX_VALUE."""
    ok = [k for k in range(2, hi + 1) if k * v <= MAX_VALUE]
    return rng.choice(ok) if ok else None


def pick_divisor(rng: random.Random, v: int, lo: int, hi: int) -> int | None:
    """A divisor from ``lo`` to ``hi`` that divides ``v`` evenly into at least MIN_VALUE."""
    ok = divisors(v, lo, hi)
    return rng.choice(ok) if ok else None


def pick_fraction(rng: random.Random, v: int) -> int | None:
    """The denominator of a fraction word (half = 2, one third = 3, ...) that divides ``v`` evenly."""
    ok = [k for k in FRACTIONS if v % k == 0 and v // k >= MIN_VALUE]
    return rng.choice(ok) if ok else None


def pick_percent(rng: random.Random, v: int) -> int | None:
    ok = [p for p in PERCENTS if v * p % 100 == 0 and v * p // 100 >= MIN_VALUE]
    return rng.choice(ok) if ok else None
