"""Templates of the *easy* synthetic problems: one or two steps, small numbers, + - and small x.

Made for the embedded demo: a 135M model fine-tuned for a few minutes should solve some of
them. Every number in an easy problem (given or intermediate) is an integer from 2 to 49, all
numbers are written as digits, and the operations are addition, subtraction, and
multiplication by a one-digit factor. Two themes: objects and money.

A template draws its numbers within these bounds and builds its step with the step functions
of :mod:`.steps`, the same as the standard problems (:mod:`.themes`): a step both have (gives
more, times as many, hourly wage, earns more) reads the same in both.
"""

from __future__ import annotations

from selfimprove.data.synth.problem import Ctx, Result, State, Theme, add_amount, cap, sub_amount
from selfimprove.data.synth.steps import advance, earns_more, gives_more, hourly_wage, times_as_many
from selfimprove.data.synth.vocabulary import THINGS

EASY_LEVELS = (1, 2)
EASY_MAX = 49  # every number stays below 50
EASY_MIN = 2  # ... and at least 2 (plural nouns)
EASY_STEP = 19  # a follow-up adds or removes at most this much


def _more(c: Ctx, v: int) -> int | None:
    """A follow-up's amount to add to ``v`` (None when even EASY_MIN would pass EASY_MAX)."""
    return add_amount(c.rng, v, lo=EASY_MIN, hi=EASY_STEP, top=EASY_MAX)


def _less(c: Ctx, v: int) -> int | None:
    """A follow-up's amount to take from ``v`` (None when it would leave less than EASY_MIN)."""
    return sub_amount(c.rng, v, hi=EASY_STEP)


def _start_gaining(c: Ctx) -> tuple[int, int]:
    """A start's amount (at most 30) and an amount added to it."""
    a = c.rng.randint(EASY_MIN, 30)
    return a, c.rng.randint(EASY_MIN, min(EASY_STEP, EASY_MAX - a))


def _start_losing(c: Ctx) -> tuple[int, int]:
    """A start's amount (at least 6) and an amount taken from it."""
    a = c.rng.randint(6, EASY_MAX)
    return a, c.rng.randint(EASY_MIN, min(EASY_STEP, a - EASY_MIN))


# --------------------------------------------------------------------------------------------
# Objects


def _obj_start_more(c: Ctx, s: None) -> Result:
    unit = c.item[0]
    h, o = c.person(), c.person()
    a, b = _start_gaining(c)
    return advance(
        "+",
        a,
        b,
        f"{h.name} has {a} {unit}. {o.name} gives {h.obj} {b} more {unit}.",
        f"{h.name} has {{calc}} {unit} now.",
        holder=h,
        unit=unit,
        question=f"How many {unit} does {h.name} have now?",
    )


def _obj_start_give(c: Ctx, s: None) -> Result:
    unit = c.item[0]
    h, o = c.person(), c.person()
    a, b = _start_losing(c)
    return advance(
        "-",
        a,
        b,
        f"{h.name} has {a} {unit}. {cap(h.subj)} gives {b} {unit} to {o.name}.",
        f"{h.name} has {{calc}} {unit} left.",
        holder=h,
        unit=unit,
        question=f"How many {unit} does {h.name} have left?",
    )


def _obj_start_groups(c: Ctx, s: None) -> Result:
    unit, cont1, cont, verb = c.item
    h = c.person()
    a, b = c.rng.randint(2, 5), c.rng.randint(2, 9)
    return advance(
        "*",
        a,
        b,
        f"{h.name} {verb} {a} {cont} with {b} {unit} in each {cont1}.",
        f"{h.name} {verb} {{calc}} {unit}.",
        holder=h,
        unit=unit,
        question=f"How many {unit} does {h.name} have?",
    )


def _obj_more(c: Ctx, s: State) -> Result:
    return gives_more(c, s, _more(c, s.value))


def _obj_give(c: Ctx, s: State) -> Result:
    n = _less(c, s.value)
    if n is None:
        return None
    h, o = s.holder, c.person()
    return advance(
        "-",
        s.value,
        n,
        f"Then {h.name} gives {n} {s.unit} to {o.name}.",
        f"{h.name} has {{calc}} {s.unit} left.",
        holder=h,
        unit=s.unit,
        question=f"How many {s.unit} does {h.name} have left?",
    )


def _obj_double(c: Ctx, s: State) -> Result:
    return times_as_many(c, s, 2 if 2 * s.value <= EASY_MAX else None)


# --------------------------------------------------------------------------------------------
# Money


def _money_start_gift(c: Ctx, s: None) -> Result:
    h, o = c.person(), c.person()
    a, b = _start_gaining(c)
    return advance(
        "+",
        a,
        b,
        f"{h.name} has ${a}. {o.name} gives {h.obj} ${b}.",
        f"{h.name} has {{calc}} now.",
        holder=h,
        unit="",
        question=f"How much money does {h.name} have now?",
    )


def _money_start_spend(c: Ctx, s: None) -> Result:
    h = c.person()
    a, b = _start_losing(c)
    thing = c.rng.choice(THINGS)
    return advance(
        "-",
        a,
        b,
        f"{h.name} has ${a} and spends ${b} on {thing}.",
        f"{h.name} has {{calc}} left.",
        holder=h,
        unit="",
        question=f"How much money does {h.name} have left?",
    )


def _money_start_wage(c: Ctx, s: None) -> Result:
    return hourly_wage(c, rate=(2, 9), hours=(2, 5))


def _money_earn(c: Ctx, s: State) -> Result:
    return earns_more(c, s, _more(c, s.value))


def _money_spend(c: Ctx, s: State) -> Result:
    n = _less(c, s.value)
    if n is None:
        return None
    h = s.holder
    thing = c.rng.choice(THINGS)
    return advance(
        "-",
        s.value,
        n,
        f"Then {h.name} spends ${n} on {thing}.",
        f"{h.name} has {{calc}} left.",
        holder=h,
        unit="",
        question=f"How much money does {h.name} have left?",
    )


EASY_THEMES = (
    Theme(
        "objects",
        3,
        (_obj_start_more, _obj_start_give, _obj_start_groups),
        (_obj_more, _obj_give, _obj_double),
        (),
    ),
    Theme(
        "money",
        2,
        (_money_start_gift, _money_start_spend, _money_start_wage),
        (_money_earn, _money_spend),
        (),
    ),
)
