"""Templates of the *easy* synthetic problems: one or two steps, small numbers, + - and small x.

Made for the embedded demo: a 135M model fine-tuned for a few minutes should solve some of
them. Every number in an easy problem (given or intermediate) is an integer from 2 to 49, all
numbers are written as digits, and the operations are addition, subtraction, and
multiplication by a one-digit factor. Two themes: objects and money.
"""

from __future__ import annotations

import random

from selfimprove.data.synth.problem import Ctx, Result, State, cap, make_step
from selfimprove.data.synth.themes import Theme
from selfimprove.data.synth.vocabulary import CHORES, THINGS

EASY_LEVELS = (1, 2)
EASY_MAX = 49  # every number stays below 50
EASY_MIN = 2  # ... and at least 2 (plural nouns)
EASY_STEP = 19  # a follow-up adds or removes at most this much


def _up_to(rng: random.Random, hi: int) -> int | None:
    """A number from EASY_MIN to ``hi`` (None when that range is empty)."""
    return rng.randint(EASY_MIN, hi) if hi >= EASY_MIN else None


# --------------------------------------------------------------------------------------------
# Objects


def _obj_start_more(c: Ctx, s: None) -> Result:
    unit = c.item[0]
    h, o = c.person(), c.person()
    a = c.rng.randint(EASY_MIN, 30)
    b = c.rng.randint(EASY_MIN, min(EASY_STEP, EASY_MAX - a))
    st = make_step(
        "+",
        a,
        b,
        f"{h.name} has {a} {unit}. {o.name} gives {h.obj} {b} more {unit}.",
        f"{h.name} has {{calc}} {unit} now.",
    )
    return st, State(st.result, h, unit, f"How many {unit} does {h.name} have now?")


def _obj_start_give(c: Ctx, s: None) -> Result:
    unit = c.item[0]
    h, o = c.person(), c.person()
    a = c.rng.randint(6, EASY_MAX)
    b = c.rng.randint(EASY_MIN, min(EASY_STEP, a - EASY_MIN))
    st = make_step(
        "-",
        a,
        b,
        f"{h.name} has {a} {unit}. {cap(h.subj)} gives {b} {unit} to {o.name}.",
        f"{h.name} has {{calc}} {unit} left.",
    )
    return st, State(st.result, h, unit, f"How many {unit} does {h.name} have left?")


def _obj_start_groups(c: Ctx, s: None) -> Result:
    unit, cont1, cont, verb = c.item
    h = c.person()
    a, b = c.rng.randint(2, 5), c.rng.randint(2, 9)
    st = make_step(
        "*",
        a,
        b,
        f"{h.name} {verb} {a} {cont} with {b} {unit} in each {cont1}.",
        f"{h.name} {verb} {{calc}} {unit}.",
    )
    return st, State(st.result, h, unit, f"How many {unit} does {h.name} have?")


def _obj_more(c: Ctx, s: State) -> Result:
    n = _up_to(c.rng, min(EASY_STEP, EASY_MAX - s.value))
    if n is None:
        return None
    h, o = s.holder, c.person()
    st = make_step(
        "+",
        s.value,
        n,
        f"Then {o.name} gives {h.name} {n} more {s.unit}.",
        f"{h.name} now has {{calc}} {s.unit}.",
    )
    return st, State(st.result, h, s.unit, f"How many {s.unit} does {h.name} have now?")


def _obj_give(c: Ctx, s: State) -> Result:
    n = _up_to(c.rng, min(EASY_STEP, s.value - EASY_MIN))
    if n is None:
        return None
    h, o = s.holder, c.person()
    st = make_step(
        "-",
        s.value,
        n,
        f"Then {h.name} gives {n} {s.unit} to {o.name}.",
        f"{h.name} has {{calc}} {s.unit} left.",
    )
    return st, State(st.result, h, s.unit, f"How many {s.unit} does {h.name} have left?")


def _obj_double(c: Ctx, s: State) -> Result:
    if 2 * s.value > EASY_MAX:
        return None
    h, o = s.holder, c.person()
    st = make_step(
        "*",
        s.value,
        2,
        f"{o.name} has 2 times as many {s.unit} as {h.name}.",
        f"{o.name} has {{calc}} {s.unit}.",
    )
    return st, State(st.result, o, s.unit, f"How many {s.unit} does {o.name} have?")


# --------------------------------------------------------------------------------------------
# Money


def _money_start_gift(c: Ctx, s: None) -> Result:
    h, o = c.person(), c.person()
    a = c.rng.randint(EASY_MIN, 30)
    b = c.rng.randint(EASY_MIN, min(EASY_STEP, EASY_MAX - a))
    st = make_step(
        "+",
        a,
        b,
        f"{h.name} has ${a}. {o.name} gives {h.obj} ${b}.",
        f"{h.name} has {{calc}} now.",
        money=True,
    )
    return st, State(st.result, h, "", f"How much money does {h.name} have now?")


def _money_start_spend(c: Ctx, s: None) -> Result:
    h = c.person()
    a = c.rng.randint(6, EASY_MAX)
    b = c.rng.randint(EASY_MIN, min(EASY_STEP, a - EASY_MIN))
    thing = c.rng.choice(THINGS)
    st = make_step(
        "-",
        a,
        b,
        f"{h.name} has ${a} and spends ${b} on {thing}.",
        f"{h.name} has {{calc}} left.",
        money=True,
    )
    return st, State(st.result, h, "", f"How much money does {h.name} have left?")


def _money_start_wage(c: Ctx, s: None) -> Result:
    h = c.person()
    a, b = c.rng.randint(2, 9), c.rng.randint(2, 5)
    chore = c.rng.choice(CHORES)
    st = make_step(
        "*",
        a,
        b,
        f"{h.name} earns ${a} per hour {chore} and works {b} hours.",
        f"{h.name} earns {{calc}}.",
        money=True,
    )
    return st, State(st.result, h, "", f"How much money does {h.name} earn?")


def _money_earn(c: Ctx, s: State) -> Result:
    n = _up_to(c.rng, min(EASY_STEP, EASY_MAX - s.value))
    if n is None:
        return None
    h = s.holder
    chore = c.rng.choice(CHORES)
    st = make_step(
        "+",
        s.value,
        n,
        f"Then {h.name} earns ${n} more {chore}.",
        f"{h.name} now has {{calc}}.",
        money=True,
    )
    return st, State(st.result, h, "", f"How much money does {h.name} have now?")


def _money_spend(c: Ctx, s: State) -> Result:
    n = _up_to(c.rng, min(EASY_STEP, s.value - EASY_MIN))
    if n is None:
        return None
    h = s.holder
    thing = c.rng.choice(THINGS)
    st = make_step(
        "-",
        s.value,
        n,
        f"Then {h.name} spends ${n} on {thing}.",
        f"{h.name} has {{calc}} left.",
        money=True,
    )
    return st, State(st.result, h, "", f"How much money does {h.name} have left?")


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
