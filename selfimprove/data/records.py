"""Source rows -> uniform question records, one row at a time.

A source (file, hub, shared copy) yields :class:`Row` objects; :func:`build_records` turns
them into question records. Each row is handled in isolation: whatever goes wrong with one row
(a missing field, no gold answer, an id that is not a non-empty string or is already taken,
text that cannot be written as UTF-8, an oversized row, or any unexpected exception) becomes
one ``location: reason`` line in the report and the next row is processed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from selfimprove.core.errors import DataError, UsageError
from selfimprove.grading.extract import find_last_boxed  # one box parser for data and grading

SPLITS = ("train", "test")
DATASET_TYPES = ("gsm8k", "math")
RECORD_FIELDS = ("id", "dataset", "dataset_type", "split", "question", "reference", "gold", "level", "subject")

#: A row whose question and reference together hold more characters than this is reported and
#: skipped (a question that long cannot fit any model's context; see also MAX_LINE_BYTES).
MAX_ROW_CHARS = 1_000_000

_CALC_ANNOTATION = re.compile(r"<<[^<>\n]*>>")


class DatasetError(UsageError):
    """A dataset spec cannot be used: unknown spec, missing file, unknown split or field."""


@dataclass(frozen=True)
class Row:
    """One source row: its index key, where it came from (for messages), and its content."""

    key: str  # row index (or source id) used in the record id
    where: str  # "path:line", "path:row 3", "repo[config]/split:row 3"
    data: dict | None
    problem: str | None = None  # set when the row could not even be parsed
    note: str | None = None  # reported, but the row is still used (e.g. bytes replaced)


@dataclass(frozen=True)
class Fields:
    """Which source column feeds each record field (None: not available)."""

    question: str
    reference: str
    gold: str | None = None  # None: derive from the reference
    level: str | None = None
    subject: str | None = None
    id: str | None = None
    split: str | None = None


class Note(str):
    """A report line about a row that was still used (e.g. bytes replaced), told apart from a
    skipped row's line by its type; ``id`` is the record it became."""

    id: str

    def __new__(cls, text: str, record_id: str) -> Note:
        note = super().__new__(cls, text)
        note.id = record_id
        return note


class BadRow(DataError):
    """A row cannot become a record; the message is the reason."""


# --------------------------------------------------------------------------------------------
# Field helpers


_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def gsm8k_gold(text: str) -> str | None:
    """The number after the last ``####`` with thousands commas removed, or None."""
    pos = text.rfind("####")
    if pos < 0:
        return None
    tail = text[pos + 4 :].strip().splitlines()[0] if text[pos + 4 :].strip() else ""
    tail = tail.replace(",", "").strip()
    if _NUMBER.fullmatch(tail):
        return tail
    m = re.match(r"\$?\s*(-?\d+(?:\.\d+)?)", tail)
    return m.group(1) if m else None


def parse_level(value: Any) -> int | None:
    """``3`` / ``"3"`` / ``"Level 3"`` -> 3; anything without a number (``"Level ?"``) -> None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    m = re.search(r"\d+", str(value))
    return int(m.group(0)) if m else None


def strip_calc_annotations(text: str) -> str:
    """Remove GSM8K calculator annotations: ``3 * 12 = <<3*12=36>>36`` -> ``3 * 12 = 36``."""
    return _CALC_ANNOTATION.sub("", text)


def as_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (int, float)):
        return str(value)
    return None


def check_writable(name: str, text: str) -> None:
    """Raise :class:`BadRow` when ``text`` holds a lone surrogate (not writable as UTF-8)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        bad = text[e.start]
        raise BadRow(
            f"field {name!r} holds a lone surrogate (U+{ord(bad):04X}) that cannot be written as UTF-8"
        ) from None


# --------------------------------------------------------------------------------------------
# One row -> one record


def make_record(row: dict, key: str, fields: Fields, dtype: str, dataset: str, split: str) -> dict:
    """The question record of one source row; raises :class:`BadRow` with the reason."""

    def text_field(name: str, column: str) -> str:
        if column not in row or row[column] is None:
            raise BadRow(f"missing field {column!r} ({name})")
        value = as_text(row[column])
        if value is None or not value.strip():
            raise BadRow(f"field {column!r} ({name}) is empty or not text")
        check_writable(column, value)
        return value

    question = text_field("question", fields.question).strip()
    reference = text_field("reference", fields.reference)
    if len(question) + len(reference) > MAX_ROW_CHARS:
        raise BadRow(
            f"question and reference hold {len(question) + len(reference):,} characters (limit {MAX_ROW_CHARS:,})"
        )
    if fields.gold is not None:
        gold = text_field("gold", fields.gold).strip()
        if dtype == "gsm8k":
            parsed = gsm8k_gold(gold) if "####" in gold else gold.replace(",", "")
            if parsed is None:
                raise BadRow(f"no final answer after '####' in field {fields.gold!r}")
            gold = parsed
    elif dtype == "gsm8k":
        found = gsm8k_gold(reference)
        if found is None:
            raise BadRow("no final answer: the reference has no '#### <number>' line")
        gold = found
    else:
        boxed = find_last_boxed(reference)
        if not boxed:
            raise BadRow("no final answer: the reference has no complete \\boxed{...}")
        gold = boxed
    if fields.id is not None:
        raw = row.get(fields.id)
        if not isinstance(raw, str):
            kind = "missing" if raw is None else f"not a string ({type(raw).__name__})"
            raise BadRow(f"id field {fields.id!r} is {kind}")
        if not raw.strip():
            raise BadRow(f"id field {fields.id!r} is empty")
        check_writable(fields.id, raw)
        key = raw.strip()
    level = parse_level(row.get(fields.level)) if fields.level else None
    subject = as_text(row.get(fields.subject)) if fields.subject else None
    if subject:
        check_writable(fields.subject or "subject", subject)
    return {
        "id": f"{dataset}/{split}/{key}",
        "dataset": dataset,
        "dataset_type": dtype,
        "split": split,
        "question": question,
        "reference": reference,
        "gold": gold,
        "level": level,
        "subject": subject.strip() if subject else None,
    }


def build_records(
    rows: Iterable[Row], fields: Fields, dtype: str, dataset: str, split: str
) -> tuple[list[dict], list[str]]:
    """Records of every usable row, and one ``location: reason`` line per problem: a skipped row's
    line is a plain string, a used row's (bytes replaced) a :class:`Note`.

    A row whose id is already taken is reported (naming the first row) and skipped.
    """
    records: list[dict] = []
    problems: list[str] = []
    seen: dict[str, str] = {}
    for r in rows:
        if r.problem is not None:
            problems.append(f"{r.where}: {r.problem}")
            continue
        try:
            data = r.data or {}
            if fields.split is not None:
                if fields.split not in data:
                    raise BadRow(f"missing field {fields.split!r} (split)")
                if str(data[fields.split]).strip() != split:
                    continue
            rec = make_record(data, r.key, fields, dtype, dataset, split)
        except BadRow as e:
            problems.append(f"{r.where}: {e}")
            continue
        except Exception as e:  # noqa: BLE001 - one bad row never takes the load down
            problems.append(f"{r.where}: cannot use this row ({type(e).__name__}: {e})")
            continue
        if rec["id"] in seen:
            problems.append(f"{r.where}: duplicate id {rec['id']!r} (first at {seen[rec['id']]})")
            continue
        seen[rec["id"]] = r.where
        records.append(rec)
        if r.note is not None:  # reported once the row is known to be used
            problems.append(Note(f"{r.where}: {r.note}", rec["id"]))
    return records, problems


def strip_record_annotations(rec: dict) -> dict:
    """A copy of a record with calculator annotations removed from its reference and steps."""
    out = dict(rec, reference=strip_calc_annotations(rec["reference"]))
    if isinstance(rec.get("steps"), list):
        out["steps"] = [dict(st, text=strip_calc_annotations(st["text"])) for st in rec["steps"]]
    return out
