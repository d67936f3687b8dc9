"""The step functions the standard and the easy problems are both built from.

A template (:mod:`.themes` for the standard problems, :mod:`.easy` for the easy ones) draws the
numbers of its step within its difficulty's bounds (the pickers of :mod:`.problem`) and hands
them to a function here, which draws the people and words it still needs and returns
``(step, new state)``:

* :func:`advance` writes any step: the calculation and its solution line, and the state the
  chain continues from (a step about money has ``unit == ""`` and ``$`` in its annotation);
* the steps both difficulties have are written once: :func:`gives_more`, :func:`times_as_many`,
  :func:`hourly_wage` and :func:`earns_more`.

Each function draws from the random stream in a fixed order (the numbers it is given first,
then people, then words), which is part of the problems a seed produces.
"""

from __future__ import annotations

from selfimprove.data.synth.problem import Ctx, Result, State, make_step
from selfimprove.data.synth.vocabulary import CHORES, Person


def advance(
    op: str,
    a: int,
    b: int,
    sentence: str,
    line: str,
    *,
    holder: Person,
    unit: str,
    question: str,
    packed: bool = False,
) -> Result:
    """The step ``a <op> b`` (``line`` has ``{calc}`` where the calculation goes) and the new state.

    ``holder``, ``unit`` (``""`` for money), ``question`` and ``packed`` describe the quantity
    the chain is about after this step; its value is the step's result.
    """
    st = make_step(op, a, b, sentence, line, money=not unit)
    return st, State(st.result, holder, unit, question, packed)


def much(unit: str) -> str:
    """``many pens``, or ``much money`` for money."""
    return f"many {unit}" if unit else "much money"


def result_in(unit: str) -> str:
    """Where the result goes in a solution line: ``{calc} pens``, or ``{calc}`` for money."""
    return f"{{calc}} {unit}" if unit else "{calc}"


def ask(unit: str, who: str, verb: str) -> str:
    """``How many pens does Maya have?``, or ``How much money does Maya have?``."""
    return f"How {much(unit)} does {who} {verb}?"


def gives_more(c: Ctx, s: State, n: int | None) -> Result:
    """``Then Liam gives Maya n more pens.``: someone new adds ``n`` to the holder's count."""
    if n is None:
        return None
    h, o = s.holder, c.person()
    return advance(
        "+",
        s.value,
        n,
        f"Then {o.name} gives {h.name} {n} more {s.unit}.",
        f"{h.name} now has {{calc}} {s.unit}.",
        holder=h,
        unit=s.unit,
        question=f"How many {s.unit} does {h.name} have now?",
        packed=s.packed,
    )


def times_as_many(c: Ctx, s: State, k: int | None) -> Result:
    """``Liam has k times as many pens as Maya.`` (``as much money``): the quantity passes to someone new."""
    if k is None:
        return None
    h, o = s.holder, c.person()
    return advance(
        "*",
        s.value,
        k,
        f"{o.name} has {k} times as {much(s.unit)} as {h.name}.",
        f"{o.name} has {result_in(s.unit)}.",
        holder=o,
        unit=s.unit,
        question=ask(s.unit, o.name, "have"),
        packed=s.packed,
    )


def hourly_wage(c: Ctx, rate: tuple[int, int], hours: tuple[int, int]) -> Result:
    """``Maya earns $a per hour walking dogs and works b hours.``: a start, ``a`` in ``rate``, ``b`` in ``hours``."""
    h = c.person()
    a, b = c.rng.randint(*rate), c.rng.randint(*hours)
    chore = c.rng.choice(CHORES)
    return advance(
        "*",
        a,
        b,
        f"{h.name} earns ${a} per hour {chore} and works {b} hours.",
        f"{h.name} earns {{calc}}.",
        holder=h,
        unit="",
        question=f"How much money does {h.name} earn?",
    )


def earns_more(c: Ctx, s: State, n: int | None) -> Result:
    """``Then Maya earns $n more walking dogs.``: the holder's money grows by ``n``."""
    if n is None:
        return None
    h = s.holder
    chore = c.rng.choice(CHORES)
    return advance(
        "+",
        s.value,
        n,
        f"Then {h.name} earns ${n} more {chore}.",
        f"{h.name} now has {{calc}}.",
        holder=h,
        unit="",
        question=f"How much money does {h.name} have now?",
    )
