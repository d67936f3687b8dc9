"""The three themes of the standard synthetic problems: objects, money and travel.

Each theme has *start* templates (a quantity from two numbers in the text), *follow-up*
templates (the current quantity and one new number) and *final* templates (allowed only as the
last step, they change what is asked). The order of the templates in each tuple is part of the
random stream: reordering them changes which problems a seed produces.

The module is longer than the usual 400 lines because it is one flat table of small templates
whose order is part of the seeded stream; keeping them together keeps that order in one place.
"""

from __future__ import annotations

from dataclasses import dataclass

from selfimprove.data.synth.problem import (
    MAX_VALUE,
    MIN_VALUE,
    Ctx,
    Result,
    State,
    add_amount,
    cap,
    divisors,
    make_step,
    pick_percent,
    sub_amount,
)
from selfimprove.data.synth.vocabulary import CHORES, FRACTIONS, GOODS, GROUPS, THINGS

# --------------------------------------------------------------------------------------------
# Theme: objects (counting things)


def _obj_start_containers(c: Ctx, s: None) -> Result:
    unit, cont1, cont, verb = c.item
    h = c.person()
    a, b = c.rng.randint(2, 9), c.rng.randint(3, 24)
    st = make_step(
        "*",
        a,
        b,
        f"{h.name} {verb} {a} {cont} of {unit}, and each {cont1} has {b} {unit}.",
        f"{h.name} {verb} {a} {cont} of {b} {unit}, so {{calc}} {unit}.",
    )
    return st, State(st.result, h, unit, f"How many {unit} does {h.name} have?")


def _obj_start_days(c: Ctx, s: None) -> Result:
    unit, _, _, verb = c.item
    h = c.person()
    a, b = c.rng.randint(5, 120), c.rng.randint(5, 120)
    st = make_step(
        "+",
        a,
        b,
        f"{h.name} {verb} {a} {unit} on Monday and {b} {unit} on Tuesday.",
        f"{h.name} {verb} {{calc}} {unit} in total.",
    )
    return st, State(st.result, h, unit, f"How many {unit} does {h.name} have?")


def _obj_start_rate(c: Ctx, s: None) -> Result:
    unit, _, _, verb = c.item
    h = c.person()
    a, b = c.rng.randint(2, 30), c.rng.randint(2, 12)
    st = make_step(
        "*",
        a,
        b,
        f"{h.name} {verb} {a} {unit} every day for {b} days.",
        f"In {b} days {h.name} {verb} {{calc}} {unit}.",
    )
    return st, State(st.result, h, unit, f"How many {unit} does {h.name} have?")


def _obj_add(c: Ctx, s: State) -> Result:
    n = add_amount(c.rng, s.value)
    if n is None:
        return None
    h, o = s.holder, c.person()
    st = make_step(
        "+", s.value, n, f"Then {o.name} gives {h.name} {n} more {s.unit}.", f"{h.name} now has {{calc}} {s.unit}."
    )
    return st, State(st.result, h, s.unit, f"How many {s.unit} does {h.name} have now?", s.packed)


def _obj_sub(c: Ctx, s: State) -> Result:
    n = sub_amount(c.rng, s.value)
    if n is None:
        return None
    h, o = s.holder, c.person()
    st = make_step(
        "-",
        s.value,
        n,
        f"{h.name} gives {n} {s.unit} to {o.name}.",
        f"{h.name} gives {n} away, so {h.subj} has {{calc}} {s.unit} left.",
    )
    return st, State(st.result, h, s.unit, f"How many {s.unit} does {h.name} have left?", s.packed)


def _obj_times(c: Ctx, s: State) -> Result:
    ks = [k for k in range(2, 6) if k * s.value <= MAX_VALUE]
    if not ks:
        return None
    k, h, o = c.rng.choice(ks), s.holder, c.person()
    st = make_step(
        "*", s.value, k, f"{o.name} has {k} times as many {s.unit} as {h.name}.", f"{o.name} has {{calc}} {s.unit}."
    )
    return st, State(st.result, o, s.unit, f"How many {s.unit} does {o.name} have?", s.packed)


def _obj_more_fewer(c: Ctx, s: State) -> Result:
    h, o = s.holder, c.person()
    if c.rng.random() < 0.5:
        n = add_amount(c.rng, s.value)
        if n is None:
            return None
        st = make_step(
            "+", s.value, n, f"{o.name} has {n} more {s.unit} than {h.name}.", f"{o.name} has {{calc}} {s.unit}."
        )
    else:
        n = sub_amount(c.rng, s.value)
        if n is None:
            return None
        st = make_step(
            "-", s.value, n, f"{o.name} has {n} fewer {s.unit} than {h.name}.", f"{o.name} has {{calc}} {s.unit}."
        )
    return st, State(st.result, o, s.unit, f"How many {s.unit} does {o.name} have?", s.packed)


def _obj_fraction(c: Ctx, s: State) -> Result:
    ks = [k for k in FRACTIONS if s.value % k == 0 and s.value // k >= MIN_VALUE]
    if not ks:
        return None
    k, h, o = c.rng.choice(ks), s.holder, c.person()
    st = make_step(
        "/",
        s.value,
        k,
        f"{o.name} has {FRACTIONS[k]} as many {s.unit} as {h.name}.",
        f"{o.name} has {{calc}} {s.unit}.",
    )
    return st, State(st.result, o, s.unit, f"How many {s.unit} does {o.name} have?", s.packed)


def _obj_pack(c: Ctx, s: State) -> Result:
    if s.packed:
        return None
    unit, _, cont, _ = c.item
    ks = divisors(s.value, 2, 12)
    if not ks:
        return None
    k, h = c.rng.choice(ks), s.holder
    new_unit = f"{cont} of {unit}"
    st = make_step(
        "/",
        s.value,
        k,
        f"{h.name} packs all of {h.pos} {unit} into {cont} of {k}.",
        f"{cap(h.subj)} fills {{calc}} {cont}.",
    )
    return st, State(st.result, h, new_unit, f"How many {cont} does {h.name} fill?", True)


def _obj_keep_percent(c: Ctx, s: State) -> Result:
    p = pick_percent(c.rng, s.value)
    if p is None:
        return None
    h, o = s.holder, c.person()
    st = make_step(
        "%",
        s.value,
        p,
        f"{h.name} keeps {p}% of {h.pos} {s.unit} and gives the rest to {o.name}.",
        f"{h.name} keeps {{calc}} {s.unit}.",
    )
    return st, State(st.result, h, s.unit, f"How many {s.unit} does {h.name} keep?", s.packed)


def _obj_share_final(c: Ctx, s: State) -> Result:
    ks = divisors(s.value, 2, 9)
    if not ks:
        return None
    k, h = c.rng.choice(ks), s.holder
    many, one = c.rng.choice(GROUPS)
    st = make_step(
        "/",
        s.value,
        k,
        f"{h.name} shares all of {h.pos} {s.unit} equally among {k} {many}.",
        f"Each {one} gets {{calc}} {s.unit}.",
    )
    return st, State(st.result, h, s.unit, f"How many {s.unit} does each {one} get?", s.packed)


# --------------------------------------------------------------------------------------------
# Theme: money (earning, shopping, sharing)


def _money_start_wage(c: Ctx, s: None) -> Result:
    h = c.person()
    a, b = c.rng.randint(5, 25), c.rng.randint(2, 12)
    chore = c.rng.choice(CHORES)
    st = make_step(
        "*", a, b, f"{h.name} earns ${a} per hour {chore} and works {b} hours.", f"{h.name} earns {{calc}}.", money=True
    )
    return st, State(st.result, h, "", f"How much money does {h.name} earn?")


def _money_start_sales(c: Ctx, s: None) -> Result:
    h = c.person()
    goods = c.rng.choice(GOODS)
    a, b = c.rng.randint(3, 40), c.rng.randint(2, 15)
    st = make_step(
        "*",
        a,
        b,
        f"{h.name} sells {a} {goods} for ${b} each.",
        f"{h.name} makes {{calc}} from the {goods}.",
        money=True,
    )
    return st, State(st.result, h, "", f"How much money does {h.name} make?")


def _money_start_gift(c: Ctx, s: None) -> Result:
    h = c.person()
    a, b = c.rng.randint(10, 300), c.rng.randint(5, 100)
    st = make_step(
        "+", a, b, f"{h.name} has ${a} and gets ${b} for {h.pos} birthday.", f"{h.name} has {{calc}}.", money=True
    )
    return st, State(st.result, h, "", f"How much money does {h.name} have?")


def _money_spend(c: Ctx, s: State) -> Result:
    n = sub_amount(c.rng, s.value, hi=80)
    if n is None:
        return None
    h = s.holder
    thing = c.rng.choice(THINGS)
    st = make_step(
        "-",
        s.value,
        n,
        f"{h.name} spends ${n} on {thing}.",
        f"After buying {thing}, {h.name} has {{calc}} left.",
        money=True,
    )
    return st, State(st.result, h, "", f"How much money does {h.name} have left?")


def _money_earn(c: Ctx, s: State) -> Result:
    n = add_amount(c.rng, s.value, lo=5, hi=80)
    if n is None:
        return None
    h = s.holder
    chore = c.rng.choice(CHORES)
    st = make_step(
        "+", s.value, n, f"Then {h.name} earns ${n} more {chore}.", f"{h.name} now has {{calc}}.", money=True
    )
    return st, State(st.result, h, "", f"How much money does {h.name} have now?")


def _money_keep_percent(c: Ctx, s: State) -> Result:
    p = pick_percent(c.rng, s.value)
    if p is None:
        return None
    h = s.holder
    thing = c.rng.choice(THINGS)
    st = make_step(
        "%",
        s.value,
        p,
        f"{h.name} keeps {p}% of {h.pos} money and spends the rest on {thing}.",
        f"{h.name} keeps {{calc}}.",
        money=True,
    )
    return st, State(st.result, h, "", f"How much money does {h.name} have left?")


def _money_give_fraction_final(c: Ctx, s: State) -> Result:
    ks = [k for k in FRACTIONS if s.value % k == 0 and s.value // k >= MIN_VALUE]
    if not ks:
        return None
    k, h, o = c.rng.choice(ks), s.holder, c.person()
    st = make_step(
        "/",
        s.value,
        k,
        f"{h.name} gives {FRACTIONS[k]} of {h.pos} money to {o.name}.",
        f"{o.name} gets {{calc}}.",
        money=True,
    )
    return st, State(st.result, o, "", f"How much money does {o.name} get?")


def _money_times(c: Ctx, s: State) -> Result:
    ks = [k for k in range(2, 6) if k * s.value <= MAX_VALUE]
    if not ks:
        return None
    k, h, o = c.rng.choice(ks), s.holder, c.person()
    st = make_step(
        "*", s.value, k, f"{o.name} has {k} times as much money as {h.name}.", f"{o.name} has {{calc}}.", money=True
    )
    return st, State(st.result, o, "", f"How much money does {o.name} have?")


def _money_split_final(c: Ctx, s: State) -> Result:
    ks = divisors(s.value, 2, 9)
    if not ks:
        return None
    k, h = c.rng.choice(ks), s.holder
    many, one = c.rng.choice(GROUPS)
    st = make_step(
        "/",
        s.value,
        k,
        f"{h.name} splits all of {h.pos} money equally among {k} {many}.",
        f"Each {one} gets {{calc}}.",
        money=True,
    )
    return st, State(st.result, h, "", f"How much money does each {one} get?")


# --------------------------------------------------------------------------------------------
# Theme: travel (speed, distance, time)


def _travel_start_speed(c: Ctx, s: None) -> Result:
    verb, base, unit, (slo, shi), _ = c.move
    h = c.person()
    a, b = c.rng.randint(slo, shi), c.rng.randint(2, 8)
    st = make_step(
        "*", a, b, f"{h.name} {verb} at {a} {unit} per hour for {b} hours.", f"{h.name} {verb} {{calc}} {unit}."
    )
    return st, State(st.result, h, unit, f"How many {unit} does {h.name} {base}?")


def _travel_start_legs(c: Ctx, s: None) -> Result:
    verb, base, unit, _, (llo, lhi) = c.move
    h = c.person()
    a, b = c.rng.randint(llo, lhi), c.rng.randint(llo, lhi)
    st = make_step(
        "+",
        a,
        b,
        f"{h.name} {verb} {a} {unit} in the morning and {b} {unit} in the afternoon.",
        f"{h.name} {verb} {{calc}} {unit} in total.",
    )
    return st, State(st.result, h, unit, f"How many {unit} does {h.name} {base} in total?")


def _travel_more(c: Ctx, s: State) -> Result:
    verb, base, unit, _, (llo, lhi) = c.move
    n = add_amount(c.rng, s.value, lo=llo + 1, hi=lhi)
    if n is None:
        return None
    h = s.holder
    when = c.rng.choice(("Then", "After a short break,", "Later"))
    st = make_step(
        "+", s.value, n, f"{when} {h.subj} {verb} {n} more {unit}.", f"Altogether {h.name} {verb} {{calc}} {unit}."
    )
    return st, State(st.result, h, unit, f"How many {unit} does {h.name} {base} altogether?")


def _travel_times(c: Ctx, s: State) -> Result:
    verb, base, unit, _, _ = c.move
    ks = [k for k in range(2, 5) if k * s.value <= MAX_VALUE]
    if not ks:
        return None
    k, h, o = c.rng.choice(ks), s.holder, c.person()
    st = make_step(
        "*", s.value, k, f"{o.name} {verb} {k} times as far as {h.name}.", f"{o.name} {verb} {{calc}} {unit}."
    )
    return st, State(st.result, o, unit, f"How many {unit} does {o.name} {base}?")


def _travel_fraction(c: Ctx, s: State) -> Result:
    verb, base, unit, _, _ = c.move
    ks = [k for k in FRACTIONS if s.value % k == 0 and s.value // k >= MIN_VALUE]
    if not ks:
        return None
    k, h, o = c.rng.choice(ks), s.holder, c.person()
    st = make_step(
        "/", s.value, k, f"{o.name} {verb} {FRACTIONS[k]} as far as {h.name}.", f"{o.name} {verb} {{calc}} {unit}."
    )
    return st, State(st.result, o, unit, f"How many {unit} does {o.name} {base}?")


def _travel_less(c: Ctx, s: State) -> Result:
    verb, base, unit, _, _ = c.move
    n = sub_amount(c.rng, s.value, hi=40)
    if n is None:
        return None
    h, o = s.holder, c.person()
    st = make_step(
        "-", s.value, n, f"{o.name} {verb} {n} {unit} less than {h.name}.", f"{o.name} {verb} {{calc}} {unit}."
    )
    return st, State(st.result, o, unit, f"How many {unit} does {o.name} {base}?")


def _travel_time_final(c: Ctx, s: State) -> Result:
    verb, base, unit, (slo, shi), _ = c.move
    ks = divisors(s.value, max(2, slo), shi)
    if not ks:
        return None
    k, h, o = c.rng.choice(ks), s.holder, c.person()
    st = make_step(
        "/",
        s.value,
        k,
        f"{o.name} {verb} the same distance as {h.name} at {k} {unit} per hour.",
        f"{o.name} needs {{calc}} hours.",
    )
    return st, State(st.result, o, "hours", f"How many hours does {o.name} need?")


# --------------------------------------------------------------------------------------------
# The theme table


@dataclass(frozen=True)
class Theme:
    name: str
    weight: int
    starts: tuple
    follow: tuple
    final: tuple  # follow-ups allowed only as the last step


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
