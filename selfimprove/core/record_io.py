"""Typed readers and writers of a run's records: what is read is checked as it is read.

Each reader returns one kind of :mod:`selfimprove.core.records` (``read_questions`` ->
``list[Question]``, ``read_samples`` -> ``list[Sample]``, ...). Every line must be a JSON object
that carries the required fields (the kind's ``*_FIELDS`` tuple, or the ``required`` a caller
names: what it reads) with values of the basic types its ``TypedDict`` declares (``str``, ``bool``, ``int``
(never a ``bool``), ``list``, ``dict``, or ``None`` where the type allows it). The first line
that does not raises :class:`~selfimprove.core.errors.RecordError` whose message starts with
``path:line:`` and names the field; nothing is skipped. Fields beyond the required ones are
passed through as they are (producers add more, e.g. ``sampling`` or ``grader``).

The writers take the same types: :func:`write_records` writes a whole file atomically.
"""

from __future__ import annotations

import os
import types
from collections.abc import Iterable
from functools import cache
from typing import Any, Union, cast, get_args, get_origin, get_type_hints

from selfimprove.core.errors import RecordError
from selfimprove.core.io import atomic_write_jsonl, iter_jsonl
from selfimprove.core.records import (
    CHAIN_FIELDS,
    CRITIQUE_FIELDS,
    QUESTION_FIELDS,
    REFINEMENT_FIELDS,
    SAMPLE_FIELDS,
    ChainStep,
    Critique,
    Question,
    Record,
    Refinement,
    Sample,
)

__all__ = [
    "KINDS",
    "check_record",
    "read_chain_steps",
    "read_critiques",
    "read_questions",
    "read_records",
    "read_refinements",
    "read_samples",
    "write_records",
]

#: kind -> (its TypedDict, the fields a reader requires)
KINDS: dict[str, tuple[Any, tuple[str, ...]]] = {
    "question": (Question, QUESTION_FIELDS),
    "sample": (Sample, SAMPLE_FIELDS),
    "critique": (Critique, CRITIQUE_FIELDS),
    "refinement": (Refinement, REFINEMENT_FIELDS),
    "chain step": (ChainStep, CHAIN_FIELDS),
}


def _basic_types(hint: Any) -> tuple[type, ...]:
    """``str | None`` -> ``(str, NoneType)``; ``dict[str, Any]`` -> ``(dict,)``; ``Any`` -> ``(object,)``."""
    if hint is Any:
        return (object,)
    if hint is None or hint is type(None):
        return (type(None),)
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        return tuple(t for arg in get_args(hint) for t in _basic_types(arg))
    return (origin,) if isinstance(origin, type) else (hint,)


@cache
def field_types(kind: str) -> dict[str, tuple[type, ...]]:
    """The basic types each field of ``kind`` may hold, from its ``TypedDict``."""
    return {name: _basic_types(hint) for name, hint in get_type_hints(KINDS[kind][0]).items()}


def _type_name(allowed: tuple[type, ...]) -> str:
    return " or ".join("null" if t is type(None) else t.__name__ for t in allowed)


def check_record(rec: Any, kind: str, required: Iterable[str] | None = None) -> str | None:
    """What is wrong with ``rec`` as a ``kind`` record needing the fields ``required`` (default:
    the kind's ``*_FIELDS``), or None when nothing is."""
    if not isinstance(rec, dict):
        return f"expected a JSON object ({kind} record), not {type(rec).__name__}"
    fields = KINDS[kind][1] if required is None else tuple(required)
    missing = [f for f in fields if f not in rec]
    if missing:
        rid = f" {rec['id']!r}" if isinstance(rec.get("id"), str) else ""
        return f"{kind} record{rid} lacks field(s) {', '.join(missing)}"
    hints = field_types(kind)
    for f in fields:
        allowed, value = hints.get(f, (object,)), rec[f]
        int_not_bool = isinstance(value, bool) and bool not in allowed
        if int_not_bool or not isinstance(value, allowed):
            shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
            return f"{kind} field {f!r} must be {_type_name(allowed)}, not {type(value).__name__} {shown}"
    return None


def read_records(path: str | os.PathLike, kind: str, required: Iterable[str] | None = None) -> list[Any]:
    """The records of ``path``, each checked as a ``kind`` record needing the fields ``required``
    (default: the kind's ``*_FIELDS``); the first bad line raises :class:`RecordError` ``path:line: ...``."""
    if kind not in KINDS:
        raise ValueError(f"unknown record kind {kind!r} (known: {', '.join(KINDS)})")
    fields = KINDS[kind][1] if required is None else tuple(required)
    out = []
    for lineno, rec in iter_jsonl(path):
        problem = check_record(rec, kind, fields)
        if problem:
            raise RecordError(f"{path}:{lineno}: {problem}")
        out.append(rec)
    return out


def read_questions(path: str | os.PathLike, required: Iterable[str] | None = None) -> list[Question]:
    return cast("list[Question]", read_records(path, "question", required))


def read_samples(path: str | os.PathLike, required: Iterable[str] | None = None) -> list[Sample]:
    return cast("list[Sample]", read_records(path, "sample", required))


def read_critiques(path: str | os.PathLike, required: Iterable[str] | None = None) -> list[Critique]:
    return cast("list[Critique]", read_records(path, "critique", required))


def read_refinements(path: str | os.PathLike, required: Iterable[str] | None = None) -> list[Refinement]:
    return cast("list[Refinement]", read_records(path, "refinement", required))


def read_chain_steps(path: str | os.PathLike, required: Iterable[str] | None = None) -> list[ChainStep]:
    return cast("list[ChainStep]", read_records(path, "chain step", required))


def write_records(path: str | os.PathLike, records: Iterable[Record]) -> None:
    """Write typed records as one JSON Lines file, atomically."""
    atomic_write_jsonl(path, records)
