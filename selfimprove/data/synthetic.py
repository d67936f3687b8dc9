"""Synthetic multi-step arithmetic word problems in GSM8K format.

The generator is the project's embedded default data: it needs no download, is deterministic
per seed, and produces problems whose difficulty is controlled exactly. A problem of level
``L`` (1-5) takes exactly ``L`` reasoning steps, and the steps form a chain: every step after
the first operates on the result of the step before it. The reference solution has one line
per step with a GSM8K calculator annotation and ends with ``#### N``::

    Maya buys 3 boxes of 12 pens, so 3 * 12 = <<3*12=36>>36 pens.
    Maya gives 5 pens to Liam, so she has 36 - 5 = <<36-5=31>>31 pens left.
    #### 31

Design (see ``docs/data.md`` for the full description):

* A problem follows one *theme* (objects, money or travel). A theme has *start* steps, which
  introduce a quantity from two numbers given in the text, and *follow-up* steps, which
  transform the current quantity with one new number (add, subtract, multiply, divide, or an
  integer percentage). Some follow-ups hand the quantity to another person ("Liam has 3
  times as many pens as Maya"); a few *final* follow-ups change what is asked ("How many
  pens does each friend get?") and may only be the last step.
* Every intermediate result is a non-negative integer below 1000; divisions and percentages
  are only chosen when they come out even.
* Every number a step uses is either stated in the question text or is an earlier result
  (fractions are written as words: half = 2, one third = 3, ...; percentages divide by 100).
* Train and test are disjoint by construction: each question text is assigned to one split
  by a hash of its text, and a split only keeps the questions assigned to it. The random
  stream is derived from ``(split, seed)``, and ``generate(n)`` is a prefix of
  ``generate(n + k)`` for the same arguments.

CLI: ``python -m selfimprove.synthetic --n 100 --split train --seed 0 --out FILE.jsonl``.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sys
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

LEVELS = (1, 2, 3, 4, 5)
SPLITS = ("train", "test")
MAX_VALUE = 999  # every number in a problem stays below 1000
MIN_VALUE = 2  # ... and at least 2, so that every unit noun reads right in the plural
TEST_FRACTION_BUCKETS = 64  # out of 256: about a quarter of all question texts belong to test

DATASET_NAME = "synthetic"

# --------------------------------------------------------------------------------------------
# Vocabulary


@dataclass(frozen=True)
class Person:
    name: str
    subj: str  # she / he
    obj: str  # her / him
    pos: str  # her / his


_FEMALE = ("Maya", "Sofia", "Ava", "Zoe", "Lena", "Priya", "Chloe", "Amara", "Nora", "Ines",
           "Hana", "Elif", "Grace", "Yara")
_MALE = ("Liam", "Noah", "Ethan", "Omar", "Mateo", "Kenji", "Diego", "Felix", "Ravi", "Tomas",
         "Jonah", "Kofi", "Arjun", "Oscar")
PEOPLE = tuple(Person(n, "she", "her", "her") for n in _FEMALE) + tuple(
    Person(n, "he", "him", "his") for n in _MALE)

# (plural item, container singular, container plural, verb)
ITEMS = (
    ("pens", "box", "boxes", "buys"),
    ("stickers", "sheet", "sheets", "collects"),
    ("apples", "basket", "baskets", "picks"),
    ("cookies", "tray", "trays", "bakes"),
    ("marbles", "bag", "bags", "collects"),
    ("eggs", "carton", "cartons", "collects"),
    ("seashells", "bucket", "buckets", "gathers"),
    ("trading cards", "pack", "packs", "buys"),
    ("cupcakes", "tray", "trays", "bakes"),
    ("beads", "jar", "jars", "buys"),
    ("tomatoes", "crate", "crates", "picks"),
    ("paper cranes", "string", "strings", "folds"),
)
GOODS = ("cups of lemonade", "bracelets", "drawings", "muffins", "potted plants", "birdhouses")
THINGS = ("a book", "a scarf", "a board game", "a kite", "a lunch box", "a pair of gloves",
          "a puzzle", "a backpack", "art supplies", "a concert ticket")
CHORES = ("walking dogs", "washing cars", "mowing lawns", "babysitting", "raking leaves",
          "tutoring")
GROUPS = (("friends", "friend"), ("cousins", "cousin"), ("teammates", "teammate"),
          ("classmates", "classmate"))
# (3rd person verb, base verb, unit, speed range, leg range)
MOVES = (
    ("drives", "drive", "miles", (20, 70), (10, 150)),
    ("cycles", "cycle", "kilometers", (8, 25), (5, 60)),
    ("walks", "walk", "kilometers", (2, 6), (2, 15)),
    ("runs", "run", "kilometers", (6, 14), (2, 25)),
    ("sails", "sail", "miles", (5, 20), (5, 60)),
)
FRACTIONS = {2: "half", 3: "one third", 4: "one quarter", 5: "one fifth"}
PERCENTS = (10, 20, 25, 30, 40, 50, 60, 70, 75, 80, 90)

# --------------------------------------------------------------------------------------------
# Problem structure


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

    @property
    def answer(self) -> int:
        return self.steps[-1].result

    @property
    def reference(self) -> str:
        return "\n".join(s.line for s in self.steps) + f"\n#### {self.answer}"

    def to_record(self, split: str, index: int) -> dict:
        """The uniform question record (see ``selfimprove.datasets``)."""
        return {
            "id": f"{DATASET_NAME}/{split}/{index}",
            "dataset": DATASET_NAME,
            "dataset_type": "gsm8k",
            "split": split,
            "question": self.question,
            "reference": self.reference,
            "gold": str(self.answer),
            "level": self.level,
            "subject": self.theme,
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


def _annotate(a: int, op: str, b: int, result: int, prefix: str = "") -> tuple[str, str]:
    """``("a * b = <<a*b=c>>c", "a*b")``; ``%`` is written ``a * b / 100``."""
    if op == "%":
        expr, shown = f"{a}*{b}/100", f"{a} * {b} / 100"
    else:
        expr, shown = f"{a}{op}{b}", f"{a} {op} {b}"
    return f"{shown} = {prefix}<<{expr}={result}>>{result}", expr


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


@dataclass
class _State:
    """The quantity the chain is currently about."""

    value: int
    holder: Person
    unit: str  # plural noun for counts and distances; "" for money
    question: str  # the final question if the chain stopped here
    packed: bool = False  # objects already packed into containers


@dataclass
class _Ctx:
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
_Result = Optional[tuple[Step, _State]]
Template = Callable[[_Ctx, Optional[_State]], _Result]


def _step(op: str, a: int, b: int, sentence: str, line_fmt: str, money: bool = False) -> Step:
    """Build a step; ``line_fmt`` contains ``{calc}`` where the annotated calculation goes."""
    result = apply_op(op, a, b)
    calc, expr = _annotate(a, op, b, result, "$" if money else "")
    return Step(op, (a, b), result, expr, sentence, line_fmt.format(calc=calc))


def _divisors(v: int, lo: int, hi: int) -> list[int]:
    return [k for k in range(lo, hi + 1) if v % k == 0 and v // k >= MIN_VALUE]


def _add_amount(rng: random.Random, v: int, lo: int = 2, hi: int = 60) -> int | None:
    hi = min(hi, MAX_VALUE - v)
    return rng.randint(lo, hi) if hi >= lo else None


def _sub_amount(rng: random.Random, v: int, hi: int = 60) -> int | None:
    hi = min(hi, v - MIN_VALUE)
    return rng.randint(MIN_VALUE, hi) if hi >= MIN_VALUE else None


def _pick_percent(rng: random.Random, v: int) -> int | None:
    ok = [p for p in PERCENTS if v * p % 100 == 0 and v * p // 100 >= MIN_VALUE]
    return rng.choice(ok) if ok else None


# --------------------------------------------------------------------------------------------
# Theme: objects (counting things)


def _obj_start_containers(c: _Ctx, s: None) -> _Result:
    unit, cont1, cont, verb = c.item
    h = c.person()
    a, b = c.rng.randint(2, 9), c.rng.randint(3, 24)
    st = _step("*", a, b, f"{h.name} {verb} {a} {cont} of {unit}, and each {cont1} has {b} {unit}.",
               f"{h.name} {verb} {a} {cont} of {b} {unit}, so {{calc}} {unit}.")
    return st, _State(st.result, h, unit, f"How many {unit} does {h.name} have?")


def _obj_start_days(c: _Ctx, s: None) -> _Result:
    unit, _, _, verb = c.item
    h = c.person()
    a, b = c.rng.randint(5, 120), c.rng.randint(5, 120)
    st = _step("+", a, b, f"{h.name} {verb} {a} {unit} on Monday and {b} {unit} on Tuesday.",
               f"{h.name} {verb} {{calc}} {unit} in total.")
    return st, _State(st.result, h, unit, f"How many {unit} does {h.name} have?")


def _obj_start_rate(c: _Ctx, s: None) -> _Result:
    unit, _, _, verb = c.item
    h = c.person()
    a, b = c.rng.randint(2, 30), c.rng.randint(2, 12)
    st = _step("*", a, b, f"{h.name} {verb} {a} {unit} every day for {b} days.",
               f"In {b} days {h.name} {verb} {{calc}} {unit}.")
    return st, _State(st.result, h, unit, f"How many {unit} does {h.name} have?")


def _obj_add(c: _Ctx, s: _State) -> _Result:
    n = _add_amount(c.rng, s.value)
    if n is None:
        return None
    h, o = s.holder, c.person()
    st = _step("+", s.value, n, f"Then {o.name} gives {h.name} {n} more {s.unit}.",
               f"{h.name} now has {{calc}} {s.unit}.")
    return st, _State(st.result, h, s.unit, f"How many {s.unit} does {h.name} have now?", s.packed)


def _obj_sub(c: _Ctx, s: _State) -> _Result:
    n = _sub_amount(c.rng, s.value)
    if n is None:
        return None
    h, o = s.holder, c.person()
    st = _step("-", s.value, n, f"{h.name} gives {n} {s.unit} to {o.name}.",
               f"{h.name} gives {n} away, so {h.subj} has {{calc}} {s.unit} left.")
    return st, _State(st.result, h, s.unit, f"How many {s.unit} does {h.name} have left?",
                      s.packed)


def _obj_times(c: _Ctx, s: _State) -> _Result:
    ks = [k for k in range(2, 6) if k * s.value <= MAX_VALUE]
    if not ks:
        return None
    k, h, o = c.rng.choice(ks), s.holder, c.person()
    st = _step("*", s.value, k, f"{o.name} has {k} times as many {s.unit} as {h.name}.",
               f"{o.name} has {{calc}} {s.unit}.")
    return st, _State(st.result, o, s.unit, f"How many {s.unit} does {o.name} have?", s.packed)


def _obj_more_fewer(c: _Ctx, s: _State) -> _Result:
    h, o = s.holder, c.person()
    if c.rng.random() < 0.5:
        n = _add_amount(c.rng, s.value)
        if n is None:
            return None
        st = _step("+", s.value, n, f"{o.name} has {n} more {s.unit} than {h.name}.",
                   f"{o.name} has {{calc}} {s.unit}.")
    else:
        n = _sub_amount(c.rng, s.value)
        if n is None:
            return None
        st = _step("-", s.value, n, f"{o.name} has {n} fewer {s.unit} than {h.name}.",
                   f"{o.name} has {{calc}} {s.unit}.")
    return st, _State(st.result, o, s.unit, f"How many {s.unit} does {o.name} have?", s.packed)


def _obj_fraction(c: _Ctx, s: _State) -> _Result:
    ks = [k for k in FRACTIONS if s.value % k == 0 and s.value // k >= MIN_VALUE]
    if not ks:
        return None
    k, h, o = c.rng.choice(ks), s.holder, c.person()
    st = _step("/", s.value, k, f"{o.name} has {FRACTIONS[k]} as many {s.unit} as {h.name}.",
               f"{o.name} has {{calc}} {s.unit}.")
    return st, _State(st.result, o, s.unit, f"How many {s.unit} does {o.name} have?", s.packed)


def _obj_pack(c: _Ctx, s: _State) -> _Result:
    if s.packed:
        return None
    unit, _, cont, _ = c.item
    ks = _divisors(s.value, 2, 12)
    if not ks:
        return None
    k, h = c.rng.choice(ks), s.holder
    new_unit = f"{cont} of {unit}"
    st = _step("/", s.value, k, f"{h.name} packs all of {h.pos} {unit} into {cont} of {k}.",
               f"{_cap(h.subj)} fills {{calc}} {cont}.")
    return st, _State(st.result, h, new_unit, f"How many {cont} does {h.name} fill?", True)


def _obj_keep_percent(c: _Ctx, s: _State) -> _Result:
    p = _pick_percent(c.rng, s.value)
    if p is None:
        return None
    h, o = s.holder, c.person()
    st = _step("%", s.value, p,
               f"{h.name} keeps {p}% of {h.pos} {s.unit} and gives the rest to {o.name}.",
               f"{h.name} keeps {{calc}} {s.unit}.")
    return st, _State(st.result, h, s.unit, f"How many {s.unit} does {h.name} keep?", s.packed)


def _obj_share_final(c: _Ctx, s: _State) -> _Result:
    ks = _divisors(s.value, 2, 9)
    if not ks:
        return None
    k, h = c.rng.choice(ks), s.holder
    many, one = c.rng.choice(GROUPS)
    st = _step("/", s.value, k,
               f"{h.name} shares all of {h.pos} {s.unit} equally among {k} {many}.",
               f"Each {one} gets {{calc}} {s.unit}.")
    return st, _State(st.result, h, s.unit, f"How many {s.unit} does each {one} get?", s.packed)


# --------------------------------------------------------------------------------------------
# Theme: money (earning, shopping, sharing)


def _money_start_wage(c: _Ctx, s: None) -> _Result:
    h = c.person()
    a, b = c.rng.randint(5, 25), c.rng.randint(2, 12)
    chore = c.rng.choice(CHORES)
    st = _step("*", a, b, f"{h.name} earns ${a} per hour {chore} and works {b} hours.",
               f"{h.name} earns {{calc}}.", money=True)
    return st, _State(st.result, h, "", f"How much money does {h.name} earn?")


def _money_start_sales(c: _Ctx, s: None) -> _Result:
    h = c.person()
    goods = c.rng.choice(GOODS)
    a, b = c.rng.randint(3, 40), c.rng.randint(2, 15)
    st = _step("*", a, b, f"{h.name} sells {a} {goods} for ${b} each.",
               f"{h.name} makes {{calc}} from the {goods}.", money=True)
    return st, _State(st.result, h, "", f"How much money does {h.name} make?")


def _money_start_gift(c: _Ctx, s: None) -> _Result:
    h = c.person()
    a, b = c.rng.randint(10, 300), c.rng.randint(5, 100)
    st = _step("+", a, b, f"{h.name} has ${a} and gets ${b} for {h.pos} birthday.",
               f"{h.name} has {{calc}}.", money=True)
    return st, _State(st.result, h, "", f"How much money does {h.name} have?")


def _money_spend(c: _Ctx, s: _State) -> _Result:
    n = _sub_amount(c.rng, s.value, hi=80)
    if n is None:
        return None
    h = s.holder
    thing = c.rng.choice(THINGS)
    st = _step("-", s.value, n, f"{h.name} spends ${n} on {thing}.",
               f"After buying {thing}, {h.name} has {{calc}} left.", money=True)
    return st, _State(st.result, h, "", f"How much money does {h.name} have left?")


def _money_earn(c: _Ctx, s: _State) -> _Result:
    n = _add_amount(c.rng, s.value, lo=5, hi=80)
    if n is None:
        return None
    h = s.holder
    chore = c.rng.choice(CHORES)
    st = _step("+", s.value, n, f"Then {h.name} earns ${n} more {chore}.",
               f"{h.name} now has {{calc}}.", money=True)
    return st, _State(st.result, h, "", f"How much money does {h.name} have now?")


def _money_keep_percent(c: _Ctx, s: _State) -> _Result:
    p = _pick_percent(c.rng, s.value)
    if p is None:
        return None
    h = s.holder
    thing = c.rng.choice(THINGS)
    st = _step("%", s.value, p,
               f"{h.name} keeps {p}% of {h.pos} money and spends the rest on {thing}.",
               f"{h.name} keeps {{calc}}.", money=True)
    return st, _State(st.result, h, "", f"How much money does {h.name} have left?")


def _money_give_fraction_final(c: _Ctx, s: _State) -> _Result:
    ks = [k for k in FRACTIONS if s.value % k == 0 and s.value // k >= MIN_VALUE]
    if not ks:
        return None
    k, h, o = c.rng.choice(ks), s.holder, c.person()
    st = _step("/", s.value, k, f"{h.name} gives {FRACTIONS[k]} of {h.pos} money to {o.name}.",
               f"{o.name} gets {{calc}}.", money=True)
    return st, _State(st.result, o, "", f"How much money does {o.name} get?")


def _money_times(c: _Ctx, s: _State) -> _Result:
    ks = [k for k in range(2, 6) if k * s.value <= MAX_VALUE]
    if not ks:
        return None
    k, h, o = c.rng.choice(ks), s.holder, c.person()
    st = _step("*", s.value, k, f"{o.name} has {k} times as much money as {h.name}.",
               f"{o.name} has {{calc}}.", money=True)
    return st, _State(st.result, o, "", f"How much money does {o.name} have?")


def _money_split_final(c: _Ctx, s: _State) -> _Result:
    ks = _divisors(s.value, 2, 9)
    if not ks:
        return None
    k, h = c.rng.choice(ks), s.holder
    many, one = c.rng.choice(GROUPS)
    st = _step("/", s.value, k, f"{h.name} splits all of {h.pos} money equally among {k} {many}.",
               f"Each {one} gets {{calc}}.", money=True)
    return st, _State(st.result, h, "", f"How much money does each {one} get?")


# --------------------------------------------------------------------------------------------
# Theme: travel (speed, distance, time)


def _travel_start_speed(c: _Ctx, s: None) -> _Result:
    verb, base, unit, (slo, shi), _ = c.move
    h = c.person()
    a, b = c.rng.randint(slo, shi), c.rng.randint(2, 8)
    st = _step("*", a, b, f"{h.name} {verb} at {a} {unit} per hour for {b} hours.",
               f"{h.name} {verb} {{calc}} {unit}.")
    return st, _State(st.result, h, unit, f"How many {unit} does {h.name} {base}?")


def _travel_start_legs(c: _Ctx, s: None) -> _Result:
    verb, base, unit, _, (llo, lhi) = c.move
    h = c.person()
    a, b = c.rng.randint(llo, lhi), c.rng.randint(llo, lhi)
    st = _step("+", a, b, f"{h.name} {verb} {a} {unit} in the morning and {b} {unit} in the "
                          f"afternoon.",
               f"{h.name} {verb} {{calc}} {unit} in total.")
    return st, _State(st.result, h, unit, f"How many {unit} does {h.name} {base} in total?")


def _travel_more(c: _Ctx, s: _State) -> _Result:
    verb, base, unit, _, (llo, lhi) = c.move
    n = _add_amount(c.rng, s.value, lo=llo + 1, hi=lhi)
    if n is None:
        return None
    h = s.holder
    when = c.rng.choice(("Then", "After a short break,", "Later"))
    st = _step("+", s.value, n, f"{when} {h.subj} {verb} {n} more {unit}.",
               f"Altogether {h.name} {verb} {{calc}} {unit}.")
    return st, _State(st.result, h, unit, f"How many {unit} does {h.name} {base} altogether?")


def _travel_times(c: _Ctx, s: _State) -> _Result:
    verb, base, unit, _, _ = c.move
    ks = [k for k in range(2, 5) if k * s.value <= MAX_VALUE]
    if not ks:
        return None
    k, h, o = c.rng.choice(ks), s.holder, c.person()
    st = _step("*", s.value, k, f"{o.name} {verb} {k} times as far as {h.name}.",
               f"{o.name} {verb} {{calc}} {unit}.")
    return st, _State(st.result, o, unit, f"How many {unit} does {o.name} {base}?")


def _travel_fraction(c: _Ctx, s: _State) -> _Result:
    verb, base, unit, _, _ = c.move
    ks = [k for k in FRACTIONS if s.value % k == 0 and s.value // k >= MIN_VALUE]
    if not ks:
        return None
    k, h, o = c.rng.choice(ks), s.holder, c.person()
    st = _step("/", s.value, k, f"{o.name} {verb} {FRACTIONS[k]} as far as {h.name}.",
               f"{o.name} {verb} {{calc}} {unit}.")
    return st, _State(st.result, o, unit, f"How many {unit} does {o.name} {base}?")


def _travel_less(c: _Ctx, s: _State) -> _Result:
    verb, base, unit, _, _ = c.move
    n = _sub_amount(c.rng, s.value, hi=40)
    if n is None:
        return None
    h, o = s.holder, c.person()
    st = _step("-", s.value, n, f"{o.name} {verb} {n} {unit} less than {h.name}.",
               f"{o.name} {verb} {{calc}} {unit}.")
    return st, _State(st.result, o, unit, f"How many {unit} does {o.name} {base}?")


def _travel_time_final(c: _Ctx, s: _State) -> _Result:
    verb, base, unit, (slo, shi), _ = c.move
    ks = _divisors(s.value, max(2, slo), shi)
    if not ks:
        return None
    k, h, o = c.rng.choice(ks), s.holder, c.person()
    st = _step("/", s.value, k,
               f"{o.name} {verb} the same distance as {h.name} at {k} {unit} per hour.",
               f"{o.name} needs {{calc}} hours.")
    return st, _State(st.result, o, "hours", f"How many hours does {o.name} need?")


# --------------------------------------------------------------------------------------------
# Assembly


@dataclass(frozen=True)
class _Theme:
    name: str
    weight: int
    starts: tuple
    follow: tuple
    final: tuple  # follow-ups allowed only as the last step


THEMES = (
    _Theme("objects", 5, (_obj_start_containers, _obj_start_days, _obj_start_rate),
           (_obj_add, _obj_sub, _obj_times, _obj_more_fewer, _obj_fraction, _obj_pack,
            _obj_keep_percent),
           (_obj_share_final,)),
    _Theme("money", 3, (_money_start_wage, _money_start_sales, _money_start_gift),
           (_money_spend, _money_earn, _money_keep_percent, _money_times),
           (_money_split_final, _money_give_fraction_final)),
    _Theme("travel", 2, (_travel_start_speed, _travel_start_legs),
           (_travel_more, _travel_times, _travel_fraction, _travel_less),
           (_travel_time_final,)),
)


def _try_problem(rng: random.Random, level: int) -> Problem | None:
    theme = rng.choices(THEMES, weights=[t.weight for t in THEMES])[0]
    ctx = _Ctx(rng, theme.name, set(), item=rng.choice(ITEMS), move=rng.choice(MOVES))
    out = rng.choice(theme.starts)(ctx, None)
    if out is None:
        return None
    steps, state = [out[0]], out[1]
    while len(steps) < level:
        last = len(steps) == level - 1
        candidates = list(theme.follow) + (list(theme.final) if last else [])
        rng.shuffle(candidates)
        for template in candidates:
            out = template(ctx, state)
            if out is not None:
                break
        else:
            return None
        steps.append(out[0])
        state = out[1]
    question = " ".join(s.sentence for s in steps) + " " + state.question
    return Problem(level, theme.name, question, tuple(steps))


def split_of(question: str) -> str:
    """The split a question text belongs to (fixed by its text, so splits never overlap)."""
    bucket = hashlib.sha256(question.encode("utf-8")).digest()[0]
    return "test" if bucket < TEST_FRACTION_BUCKETS else "train"


def _rng_for(split: str, seed: int) -> random.Random:
    digest = hashlib.sha256(f"mathcritique-synthetic/{split}/{seed}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def generate_problems(n: int, split: str, seed: int = 0,
                      levels: Sequence[int] = LEVELS) -> list[Problem]:
    """``n`` distinct problems of ``split``, levels cycling through ``levels`` in order."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r} (expected one of {', '.join(SPLITS)})")
    levels = tuple(levels)
    if not levels or any(lv not in LEVELS for lv in levels):
        raise ValueError(f"levels must be a non-empty subset of {LEVELS}, got {levels!r}")
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    rng = _rng_for(split, seed)
    seen: set[str] = set()
    problems: list[Problem] = []
    while len(problems) < n:
        level = levels[len(problems) % len(levels)]
        for _ in range(10_000):
            p = _try_problem(rng, level)
            if p is not None and p.question not in seen and split_of(p.question) == split:
                break
        else:  # pragma: no cover - the problem space is far larger than any practical n
            raise RuntimeError(f"could not find a new level-{level} problem after 10000 tries")
        seen.add(p.question)
        problems.append(p)
    return problems


def generate(n: int, split: str, seed: int = 0, levels: Sequence[int] = LEVELS) -> list[dict]:
    """``n`` question records (dataset ``synthetic``, type ``gsm8k``), balanced over ``levels``.

    Deterministic in ``(n, split, seed, levels)``; records of different splits never share a
    question text; the result for ``n`` is a prefix of the result for any larger ``n``.
    """
    return [p.to_record(split, i) for i, p in enumerate(generate_problems(n, split, seed, levels))]


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m selfimprove.synthetic",
        description="Write synthetic multi-step arithmetic word problems (GSM8K format) as "
                    "question records in JSON Lines.")
    ap.add_argument("--n", type=int, default=100, help="number of problems (default 100)")
    ap.add_argument("--split", choices=SPLITS, default="train")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--levels", default="1,2,3,4,5",
                    help="comma-separated difficulty levels (= reasoning steps), default 1-5")
    ap.add_argument("--out", required=True, help="output JSONL file (written atomically)")
    args = ap.parse_args(argv)
    try:
        levels = tuple(int(x) for x in args.levels.split(",") if x.strip())
        records = generate(args.n, args.split, args.seed, levels)
    except ValueError as e:
        ap.error(str(e))
    from selfimprove.core.io import atomic_write_jsonl

    atomic_write_jsonl(args.out, records)
    print(f"wrote {len(records)} {args.split} problems to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
