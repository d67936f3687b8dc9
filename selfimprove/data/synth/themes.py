"""The three themes of the standard synthetic problems: objects, money and travel.

Each theme has *start* templates (a quantity from two numbers in the text), *follow-up*
templates (the current quantity and one new number) and *final* templates (allowed only as the
last step, they change what is asked). The order of the templates in each tuple is part of the
random stream: reordering them changes which problems a seed produces.

A template draws its numbers within the standard bounds (numbers below 1000) and builds its
step with the step functions of :mod:`.steps`, which the easy problems (:mod:`.easy`) share.

The module is longer than the usual 400 lines because it is one flat table of small templates
whose order is part of the seeded stream; keeping them together keeps that order in one place.
"""

from __future__ import annotations

from selfimprove.data.synth.problem import (
    Ctx,
    Result,
    State,
    Theme,
    add_amount,
    cap,
    pick_divisor,
    pick_factor,
    pick_fraction,
    pick_percent,
    sub_amount,
)
from selfimprove.data.synth.steps import advance, earns_more, gives_more, hourly_wage, times_as_many
from selfimprove.data.synth.vocabulary import FRACTIONS, GOODS, GROUPS, THINGS

# --------------------------------------------------------------------------------------------
# Theme: objects (counting things)


def _obj_start_containers(c: Ctx, s: None) -> Result:
    unit, cont1, cont, verb = c.item
    h = c.person()
    a, b = c.rng.randint(2, 9), c.rng.randint(3, 24)
    return advance(
        "*",
        a,
        b,
        f"{h.name} {verb} {a} {cont} of {unit}, and each {cont1} has {b} {unit}.",
        f"{h.name} {verb} {a} {cont} of {b} {unit}, so {{calc}} {unit}.",
        holder=h,
        unit=unit,
        question=f"How many {unit} does {h.name} have?",
    )


def _obj_start_days(c: Ctx, s: None) -> Result:
    unit, _, _, verb = c.item
    h = c.person()
    a, b = c.rng.randint(5, 120), c.rng.randint(5, 120)
    return advance(
        "+",
        a,
        b,
        f"{h.name} {verb} {a} {unit} on Monday and {b} {unit} on Tuesday.",
        f"{h.name} {verb} {{calc}} {unit} in total.",
        holder=h,
        unit=unit,
        question=f"How many {unit} does {h.name} have?",
    )


def _obj_start_rate(c: Ctx, s: None) -> Result:
    unit, _, _, verb = c.item
    h = c.person()
    a, b = c.rng.randint(2, 30), c.rng.randint(2, 12)
    return advance(
        "*",
        a,
        b,
        f"{h.name} {verb} {a} {unit} every day for {b} days.",
        f"In {b} days {h.name} {verb} {{calc}} {unit}.",
        holder=h,
        unit=unit,
        question=f"How many {unit} does {h.name} have?",
    )


def _obj_add(c: Ctx, s: State) -> Result:
    return gives_more(c, s, add_amount(c.rng, s.value))


def _obj_sub(c: Ctx, s: State) -> Result:
    n = sub_amount(c.rng, s.value)
    if n is None:
        return None
    h, o = s.holder, c.person()
    return advance(
        "-",
        s.value,
        n,
        f"{h.name} gives {n} {s.unit} to {o.name}.",
        f"{h.name} gives {n} away, so {h.subj} has {{calc}} {s.unit} left.",
        holder=h,
        unit=s.unit,
        question=f"How many {s.unit} does {h.name} have left?",
        packed=s.packed,
    )


def _obj_times(c: Ctx, s: State) -> Result:
    return times_as_many(c, s, pick_factor(c.rng, s.value, 5))


def _obj_more_fewer(c: Ctx, s: State) -> Result:
    h, o = s.holder, c.person()
    if c.rng.random() < 0.5:
        op, n, than = "+", add_amount(c.rng, s.value), "more"
    else:
        op, n, than = "-", sub_amount(c.rng, s.value), "fewer"
    if n is None:
        return None
    return advance(
        op,
        s.value,
        n,
        f"{o.name} has {n} {than} {s.unit} than {h.name}.",
        f"{o.name} has {{calc}} {s.unit}.",
        holder=o,
        unit=s.unit,
        question=f"How many {s.unit} does {o.name} have?",
        packed=s.packed,
    )


def _obj_fraction(c: Ctx, s: State) -> Result:
    k = pick_fraction(c.rng, s.value)
    if k is None:
        return None
    h, o = s.holder, c.person()
    return advance(
        "/",
        s.value,
        k,
        f"{o.name} has {FRACTIONS[k]} as many {s.unit} as {h.name}.",
        f"{o.name} has {{calc}} {s.unit}.",
        holder=o,
        unit=s.unit,
        question=f"How many {s.unit} does {o.name} have?",
        packed=s.packed,
    )


def _obj_pack(c: Ctx, s: State) -> Result:
    if s.packed:
        return None
    unit, _, cont, _ = c.item
    k = pick_divisor(c.rng, s.value, 2, 12)
    if k is None:
        return None
    h = s.holder
    return advance(
        "/",
        s.value,
        k,
        f"{h.name} packs all of {h.pos} {unit} into {cont} of {k}.",
        f"{cap(h.subj)} fills {{calc}} {cont}.",
        holder=h,
        unit=f"{cont} of {unit}",
        question=f"How many {cont} does {h.name} fill?",
        packed=True,
    )


def _obj_keep_percent(c: Ctx, s: State) -> Result:
    p = pick_percent(c.rng, s.value)
    if p is None:
        return None
    h, o = s.holder, c.person()
    return advance(
        "%",
        s.value,
        p,
        f"{h.name} keeps {p}% of {h.pos} {s.unit} and gives the rest to {o.name}.",
        f"{h.name} keeps {{calc}} {s.unit}.",
        holder=h,
        unit=s.unit,
        question=f"How many {s.unit} does {h.name} keep?",
        packed=s.packed,
    )


def _obj_share_final(c: Ctx, s: State) -> Result:
    k = pick_divisor(c.rng, s.value, 2, 9)
    if k is None:
        return None
    h = s.holder
    many, one = c.rng.choice(GROUPS)
    return advance(
        "/",
        s.value,
        k,
        f"{h.name} shares all of {h.pos} {s.unit} equally among {k} {many}.",
        f"Each {one} gets {{calc}} {s.unit}.",
        holder=h,
        unit=s.unit,
        question=f"How many {s.unit} does each {one} get?",
        packed=s.packed,
    )


# --------------------------------------------------------------------------------------------
# Theme: money (earning, shopping, sharing)


def _money_start_wage(c: Ctx, s: None) -> Result:
    return hourly_wage(c, rate=(5, 25), hours=(2, 12))


def _money_start_sales(c: Ctx, s: None) -> Result:
    h = c.person()
    goods = c.rng.choice(GOODS)
    a, b = c.rng.randint(3, 40), c.rng.randint(2, 15)
    return advance(
        "*",
        a,
        b,
        f"{h.name} sells {a} {goods} for ${b} each.",
        f"{h.name} makes {{calc}} from the {goods}.",
        holder=h,
        unit="",
        question=f"How much money does {h.name} make?",
    )


def _money_start_gift(c: Ctx, s: None) -> Result:
    h = c.person()
    a, b = c.rng.randint(10, 300), c.rng.randint(5, 100)
    return advance(
        "+",
        a,
        b,
        f"{h.name} has ${a} and gets ${b} for {h.pos} birthday.",
        f"{h.name} has {{calc}}.",
        holder=h,
        unit="",
        question=f"How much money does {h.name} have?",
    )


def _money_spend(c: Ctx, s: State) -> Result:
    n = sub_amount(c.rng, s.value, hi=80)
    if n is None:
        return None
    h = s.holder
    thing = c.rng.choice(THINGS)
    return advance(
        "-",
        s.value,
        n,
        f"{h.name} spends ${n} on {thing}.",
        f"After buying {thing}, {h.name} has {{calc}} left.",
        holder=h,
        unit="",
        question=f"How much money does {h.name} have left?",
    )


def _money_earn(c: Ctx, s: State) -> Result:
    return earns_more(c, s, add_amount(c.rng, s.value, lo=5, hi=80))


def _money_keep_percent(c: Ctx, s: State) -> Result:
    p = pick_percent(c.rng, s.value)
    if p is None:
        return None
    h = s.holder
    thing = c.rng.choice(THINGS)
    return advance(
        "%",
        s.value,
        p,
        f"{h.name} keeps {p}% of {h.pos} money and spends the rest on {thing}.",
        f"{h.name} keeps {{calc}}.",
        holder=h,
        unit="",
        question=f"How much money does {h.name} have left?",
    )


def _money_give_fraction_final(c: Ctx, s: State) -> Result:
    k = pick_fraction(c.rng, s.value)
    if k is None:
        return None
    h, o = s.holder, c.person()
    return advance(
        "/",
        s.value,
        k,
        f"{h.name} gives {FRACTIONS[k]} of {h.pos} money to {o.name}.",
        f"{o.name} gets {{calc}}.",
        holder=o,
        unit="",
        question=f"How much money does {o.name} get?",
    )


def _money_times(c: Ctx, s: State) -> Result:
    return times_as_many(c, s, pick_factor(c.rng, s.value, 5))


def _money_split_final(c: Ctx, s: State) -> Result:
    k = pick_divisor(c.rng, s.value, 2, 9)
    if k is None:
        return None
    h = s.holder
    many, one = c.rng.choice(GROUPS)
    return advance(
        "/",
        s.value,
        k,
        f"{h.name} splits all of {h.pos} money equally among {k} {many}.",
        f"Each {one} gets {{calc}}.",
        holder=h,
        unit="",
        question=f"How much money does each {one} get?",
    )


# --------------------------------------------------------------------------------------------
# Theme: travel (speed, distance, time)


def _travel_start_speed(c: Ctx, s: None) -> Result:
    verb, base, unit, (slo, shi), _ = c.move
    h = c.person()
    a, b = c.rng.randint(slo, shi), c.rng.randint(2, 8)
    return advance(
        "*",
        a,
        b,
        f"{h.name} {verb} at {a} {unit} per hour for {b} hours.",
        f"{h.name} {verb} {{calc}} {unit}.",
        holder=h,
        unit=unit,
        question=f"How many {unit} does {h.name} {base}?",
    )


def _travel_start_legs(c: Ctx, s: None) -> Result:
    verb, base, unit, _, (llo, lhi) = c.move
    h = c.person()
    a, b = c.rng.randint(llo, lhi), c.rng.randint(llo, lhi)
    return advance(
        "+",
        a,
        b,
        f"{h.name} {verb} {a} {unit} in the morning and {b} {unit} in the afternoon.",
        f"{h.name} {verb} {{calc}} {unit} in total.",
        holder=h,
        unit=unit,
        question=f"How many {unit} does {h.name} {base} in total?",
    )


def _travel_more(c: Ctx, s: State) -> Result:
    verb, base, unit, _, (llo, lhi) = c.move
    n = add_amount(c.rng, s.value, lo=llo + 1, hi=lhi)
    if n is None:
        return None
    h = s.holder
    when = c.rng.choice(("Then", "After a short break,", "Later"))
    return advance(
        "+",
        s.value,
        n,
        f"{when} {h.subj} {verb} {n} more {unit}.",
        f"Altogether {h.name} {verb} {{calc}} {unit}.",
        holder=h,
        unit=unit,
        question=f"How many {unit} does {h.name} {base} altogether?",
    )


def _travel_times(c: Ctx, s: State) -> Result:
    verb, base, unit, _, _ = c.move
    k = pick_factor(c.rng, s.value, 4)
    if k is None:
        return None
    h, o = s.holder, c.person()
    return advance(
        "*",
        s.value,
        k,
        f"{o.name} {verb} {k} times as far as {h.name}.",
        f"{o.name} {verb} {{calc}} {unit}.",
        holder=o,
        unit=unit,
        question=f"How many {unit} does {o.name} {base}?",
    )


def _travel_fraction(c: Ctx, s: State) -> Result:
    verb, base, unit, _, _ = c.move
    k = pick_fraction(c.rng, s.value)
    if k is None:
        return None
    h, o = s.holder, c.person()
    return advance(
        "/",
        s.value,
        k,
        f"{o.name} {verb} {FRACTIONS[k]} as far as {h.name}.",
        f"{o.name} {verb} {{calc}} {unit}.",
        holder=o,
        unit=unit,
        question=f"How many {unit} does {o.name} {base}?",
    )


def _travel_less(c: Ctx, s: State) -> Result:
    verb, base, unit, _, _ = c.move
    n = sub_amount(c.rng, s.value, hi=40)
    if n is None:
        return None
    h, o = s.holder, c.person()
    return advance(
        "-",
        s.value,
        n,
        f"{o.name} {verb} {n} {unit} less than {h.name}.",
        f"{o.name} {verb} {{calc}} {unit}.",
        holder=o,
        unit=unit,
        question=f"How many {unit} does {o.name} {base}?",
    )


def _travel_time_final(c: Ctx, s: State) -> Result:
    verb, base, unit, (slo, shi), _ = c.move
    k = pick_divisor(c.rng, s.value, max(2, slo), shi)
    if k is None:
        return None
    h, o = s.holder, c.person()
    return advance(
        "/",
        s.value,
        k,
        f"{o.name} {verb} the same distance as {h.name} at {k} {unit} per hour.",
        f"{o.name} needs {{calc}} hours.",
        holder=o,
        unit="hours",
        question=f"How many hours does {o.name} need?",
    )


# --------------------------------------------------------------------------------------------
# The theme table

THEMES = (
    Theme(
        "objects",
        5,
        (_obj_start_containers, _obj_start_days, _obj_start_rate),
        (_obj_add, _obj_sub, _obj_times, _obj_more_fewer, _obj_fraction, _obj_pack, _obj_keep_percent),
        (_obj_share_final,),
    ),
    Theme(
        "money",
        3,
        (_money_start_wage, _money_start_sales, _money_start_gift),
        (_money_spend, _money_earn, _money_keep_percent, _money_times),
        (_money_split_final, _money_give_fraction_final),
    ),
    Theme(
        "travel",
        2,
        (_travel_start_speed, _travel_start_legs),
        (_travel_more, _travel_times, _travel_fraction, _travel_less),
        (_travel_time_final,),
    ),
)
