"""The programmatic mistake inserter: one deterministic, exactly located mistake in a solution line.

For RG3 on the embedded model, whose own rewrites are weak, this changes the last inline
equation of a chosen line (``a op b = c``) in one of three ways, each a type of the one list in
:data:`selfimprove.critic.prompts.MISTAKE_TYPES`:

* ``calculation error``: the result ``c`` becomes ``c ± d`` (d from 1 to 9), so the line's own
  arithmetic is wrong;
* ``wrong operation``: the operator changes (``+`` <-> ``-``, ``*`` -> ``+``, ``/`` -> ``-``)
  and the result is recomputed, so the arithmetic is right but the step is not;
* ``misused quantity``: one operand becomes another number of the question (or a neighbour of
  itself) and the result is recomputed.

The last two are only detectable with the true step values (synthetic records), so for records
without them only calculation errors are inserted. Results stay non-negative whole numbers and
always differ from the original. The choice of line, type and change comes from a
``random.Random`` the caller seeds, so a run is reproducible.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from selfimprove.critic.arith import (
    Equation,
    evaluate,
    find_equations,
    format_value,
    number_value,
    numbers_in,
    tokenize,
)

PROGRAMMATIC_TYPES = ("calculation error", "wrong operation", "misused quantity")
ARITHMETIC_ONLY = ("calculation error",)
_SWAP = {"+": "-", "-": "+", "*": "+", "x": "+", "×": "+", "/": "-", "÷": "-"}


@dataclass(frozen=True)
class Insertion:
    step: int  # 0-based line index
    mistake_type: str
    line: str  # the rewritten line
    original: str
    old_value: Fraction
    new_value: Fraction


def _whole(v: Fraction | None) -> bool:
    return v is not None and v.denominator == 1 and v >= 0


def _write(v: Fraction, like: str) -> str:
    return ("$" if like.lstrip().startswith("$") else "") + format_value(v)


def _replace(line: str, spans: list[tuple[tuple[int, int], str]]) -> str:
    for (a, b), text in sorted(spans, reverse=True):
        line = line[:a] + text + line[b:]
    return line


def _calculation(line: str, eq: Equation, rng: random.Random, avoid: set[Fraction]) -> tuple[str, Fraction] | None:
    deltas = [d for d in range(-9, 10) if d and eq.stated + d >= 0 and eq.stated + d not in avoid]
    if not deltas:
        return None
    new = eq.stated + rng.choice(deltas)
    return _replace(line, [(eq.result_span, _write(new, eq.stated_text))]), new


def _binary(eq: Equation) -> bool:
    return len(eq.operand_spans) == 2 and len(eq.operators) == 1


def _operation(line: str, eq: Equation, avoid: set[Fraction]) -> tuple[str, Fraction] | None:
    if not _binary(eq):
        return None
    op, a, b = eq.operators[0]
    new_op = _SWAP.get(op)
    if new_op is None:
        return None
    (a0, a1), (b0, b1) = eq.operand_spans
    value = evaluate(f"{line[a0:a1]} {new_op} {line[b0:b1]}")
    if not _whole(value) or value == eq.stated or value in avoid:
        return None
    assert value is not None
    return _replace(line, [((a, b), new_op), (eq.result_span, _write(value, eq.stated_text))]), value


def _quantity(
    line: str, eq: Equation, rng: random.Random, question: str, avoid: set[Fraction]
) -> tuple[str, Fraction] | None:
    if not _binary(eq):
        return None
    op = eq.operators[0][0]
    spans = list(eq.operand_spans)
    rng.shuffle(spans)
    for a, b in spans:
        old = evaluate(line[a:b].replace("$", ""))
        if old is None:
            continue
        pool = sorted({v for v in numbers_in(question) if v != old and _whole(v)})
        pool += [old + d for d in (-2, -1, 1, 2) if old + d > 0 and old + d not in pool]
        rng.shuffle(pool)
        for cand in pool:
            (a0, a1), (b0, b1) = eq.operand_spans
            left = format_value(cand) if (a, b) == (a0, a1) else line[a0:a1].replace("$", "")
            right = format_value(cand) if (a, b) == (b0, b1) else line[b0:b1].replace("$", "")
            value = evaluate(f"{left} {op} {right}")
            if _whole(value) and value != eq.stated and value not in avoid:
                assert value is not None
                prefix = "$" if line[a:b].startswith("$") else ""
                return _replace(
                    line, [((a, b), prefix + format_value(cand)), (eq.result_span, _write(value, eq.stated_text))]
                ), value
    return None


def candidate_steps(lines: Sequence[str]) -> list[int]:
    """Lines with an inline equation whose result is a whole number (where a mistake can go)."""
    out = []
    for i, line in enumerate(lines):
        eqs = [e for e in find_equations(line) if e.kind == "inline"]
        if eqs and _whole(eqs[-1].stated) and eqs[-1].correct:
            out.append(i)
    return out


def insert_mistake(
    lines: Sequence[str],
    rng: random.Random,
    question: str = "",
    types: Sequence[str] = PROGRAMMATIC_TYPES,
    step: int | None = None,
    avoid: Sequence[Fraction] = (),
) -> Insertion | None:
    """Insert one mistake into ``lines`` (a correct solution, one step per line).

    ``step`` fixes the line (0-based; else chosen among :func:`candidate_steps`); the type is
    drawn from ``types`` and falls back to a calculation error where it does not apply. The new
    result is never one of ``avoid`` (pass the true step values, so that the mistake stays
    detectable where it was put) nor a number of the question. None when no line has an
    equation to change."""
    cands = candidate_steps(lines)
    if step is not None:
        cands = [step] if step in cands else []
    if not cands:
        return None
    t = rng.choice(cands)
    line = lines[t]
    eq = [e for e in find_equations(line) if e.kind == "inline"][-1]
    kinds = [k for k in types if k in PROGRAMMATIC_TYPES] or list(ARITHMETIC_ONLY)
    kind = rng.choice(kinds)
    banned = set(avoid) | set(numbers_in(question))
    done = None
    if kind == "wrong operation":
        done = _operation(line, eq, banned)
    elif kind == "misused quantity":
        done = _quantity(line, eq, rng, question, banned)
    if done is None:
        kind = "calculation error"
        done = _calculation(line, eq, rng, banned)
    if done is None:
        return None
    new_line, value = done
    return Insertion(t, kind, new_line, line, eq.stated, value)


def carry_forward(lines: Sequence[str], ins: Insertion) -> list[str] | None:
    """The solution after an inserted mistake, continued the way a consistent solver would: the
    lines before step ``ins.step`` as they were, the rewritten line, then every later line with
    the wrong value carried forward (an operand that held a changed value is rewritten and the
    equation recomputed; a bare number that held one, such as the final answer, is rewritten).

    RG3 without sampling: the path is complete, its first error is at ``ins.step`` and its
    later steps follow from it. Which lines are wrong is decided afterwards by the annotator,
    not here, so a value that also appears by coincidence elsewhere cannot mislabel a path. None
    when a carried value would make a later result negative or uncomputable (the caller draws
    another mistake)."""
    changed: dict[Fraction, Fraction] = {ins.old_value: ins.new_value}
    out = [*lines[: ins.step], ins.line]
    for line in lines[ins.step + 1 :]:
        spans: list[tuple[tuple[int, int], str]] = []
        covered: list[tuple[int, int]] = []
        updates: dict[Fraction, Fraction] = {}
        for eq in find_equations(line):
            covered.append(eq.span)
            lhs = line[eq.span[0] : eq.result_span[0]].rstrip().removesuffix("=")
            shift = eq.span[0]
            edits = []
            for a, b in eq.operand_spans:
                v = number_value(line[a:b])
                if v is not None and v in changed:
                    edits.append(((a - shift, b - shift), _write(changed[v], line[a:b])))
            if not edits:
                continue
            value = evaluate(_replace(lhs, edits).replace("$", ""))
            spans += [((a + shift, b + shift), text) for (a, b), text in edits]
            if value is None or value < 0:
                return None
            if eq.correct:
                spans.append((eq.result_span, _write(value, eq.stated_text)))
                updates[eq.stated] = value
        for tok in tokenize(line):
            inside = any(a <= tok.start and tok.end <= b for a, b in covered)
            v = number_value(tok.text) if tok.kind == "num" and not inside else None
            if v is not None and v in changed:
                spans.append(((tok.start, tok.end), _write(changed[v], tok.text)))
        changed.update(updates)
        out.append(_replace(line, spans))
    return out
