"""Local dataset files (.jsonl, .json array, .parquet) -> rows, with per-row isolation.

What one bad row gets (a ``path:line: reason`` report, and the load goes on):

* a line longer than :data:`MAX_LINE_BYTES` (skipped without being held in memory);
* bytes that are not UTF-8 (decoded with U+FFFD replacement; the row is kept and reported);
* invalid JSON, JSON nested deeper than :data:`MAX_JSON_DEPTH`, a value that is not an object;
* anything :func:`selfimprove.data.records.build_records` rejects (fields, ids, surrogates).

A ``.json`` array element with invalid JSON is skipped up to its matching bracket; only a
file whose structure cannot be followed at all (no array, unterminated element) is an error.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

from selfimprove.data.records import DatasetError, Fields, Row

MAX_LINE_BYTES = 1 << 20  # 1 MiB: longer JSONL lines are reported and skipped
MAX_JSON_DEPTH = 64  # rows are flat objects; deeper nesting is reported, never parsed
_WS = re.compile(r"\s*")


def json_depth_exceeds(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the JSON text nests arrays/objects deeper than ``limit`` (linear scan)."""
    if text.count("[") + text.count("{") <= limit:
        return False
    depth, in_string, escaped = 0, False, False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > limit:
                return True
        elif ch in "]}":
            depth -= 1
    return False


def _decode(raw: bytes) -> tuple[str, str | None]:
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError as e:
        return raw.decode(
            "utf-8", errors="replace"
        ), f"invalid UTF-8 bytes (first at byte {e.start}) replaced with U+FFFD; row kept"


def _parse_object(text: str) -> tuple[dict | None, str | None]:
    """``(object, None)`` or ``(None, reason)`` for one JSON text."""
    if json_depth_exceeds(text):
        return None, f"JSON nested deeper than {MAX_JSON_DEPTH} levels"
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        return None, f"invalid JSON ({e.msg})"
    except RecursionError:
        return None, "JSON nested too deep"
    if not isinstance(obj, dict):
        return None, "not a JSON object"
    return obj, None


def _lines(path: Path, max_bytes: int) -> Iterator[tuple[int, bytes | None, int]]:
    """``(line number, bytes or None when too long, size)``; long lines are drained, not kept."""
    with open(path, "rb") as f:
        lineno = 0
        while True:
            chunk = f.readline(max_bytes + 1)
            if not chunk:
                return
            lineno += 1
            if len(chunk) > max_bytes and not chunk.endswith(b"\n"):
                size = len(chunk)
                while True:
                    more = f.readline(1 << 20)
                    size += len(more)
                    if not more or more.endswith(b"\n"):
                        break
                yield lineno, None, size
            else:
                yield lineno, chunk, len(chunk)


def jsonl_rows(path: Path, max_bytes: int | None = None) -> Iterator[Row]:
    """One row per non-blank line; ``k`` counts non-blank lines (bad ones included)."""
    max_bytes = MAX_LINE_BYTES if max_bytes is None else max_bytes
    k = 0
    for lineno, raw, size in _lines(path, max_bytes):
        where = f"{path}:{lineno}"
        if raw is None:
            yield Row(str(k), where, None, f"line of {size:,} bytes is longer than the limit ({max_bytes:,})")
            k += 1
            continue
        if not raw.strip():
            continue
        text, note = _decode(raw)
        obj, problem = _parse_object(text)
        yield Row(str(k), where, obj, problem, None if problem else note)
        k += 1


def _skip_value(text: str, i: int) -> int:
    """End index of the bracketed or scalar JSON value starting at ``i`` (-1: unterminated)."""
    depth, in_string, escaped = 0, False, False
    for j in range(i, len(text)):
        ch = text[j]
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
                if depth == 0:
                    return j + 1
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            if depth == 0:
                return j  # a scalar ended at the array's close
            depth -= 1
            if depth == 0:
                return j + 1
        elif ch == "," and depth == 0:
            return j
    return -1


def _bad_byte_lines(data: bytes) -> list[int]:
    bad = []
    for n, line in enumerate(data.split(b"\n"), 1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            bad.append(n)
    return bad


def json_rows(path: Path, spec: str) -> Iterator[Row]:
    """Elements of a top-level JSON array, each with the line on which it starts."""
    data = path.read_bytes()
    text, note = _decode(data)
    bad_lines = set(_bad_byte_lines(data)) if note else set()
    decoder = json.JSONDecoder()

    def fail(pos: int, msg: str) -> DatasetError:
        return DatasetError(f"dataset spec {spec!r}: {path}:{text.count(chr(10), 0, pos) + 1}: {msg}")

    i = _WS.match(text, 0).end()  # type: ignore[union-attr]  # \s* always matches
    if not text.startswith("[", i):
        raise fail(i, "expected a JSON array of objects")
    i = _WS.match(text, i + 1).end()  # type: ignore[union-attr]
    line, counted_to, k = 1, 0, 0
    if text.startswith("]", i):
        return
    while True:
        line += text.count("\n", counted_to, i)
        counted_to = i
        where = f"{path}:{line}"
        obj: dict | None = None
        try:
            value, end = decoder.raw_decode(text, i)
            problem = None if isinstance(value, dict) else "not a JSON object"
            obj = value if problem is None else None
        except (json.JSONDecodeError, RecursionError) as e:
            problem = f"invalid JSON ({e.msg})" if isinstance(e, json.JSONDecodeError) else "JSON nested too deep"
            end = _skip_value(text, i)
            if end < 0:
                raise fail(i, f"{problem}; cannot find the end of this element") from None
        end_line = line + text.count("\n", i, end)
        row_note = None
        if not problem and any(line <= n <= end_line for n in bad_lines):
            row_note = "invalid UTF-8 bytes replaced with U+FFFD; row kept"
        yield Row(str(k), where, obj, problem, row_note)
        k += 1
        i = _WS.match(text, end).end()  # type: ignore[union-attr]
        if text.startswith(",", i):
            i = _WS.match(text, i + 1).end()  # type: ignore[union-attr]
        elif text.startswith("]", i):
            return
        else:
            raise fail(i, "expected ',' or ']' in the JSON array")


def parquet_rows(path: Path, spec: str) -> Iterator[Row]:
    try:
        import pyarrow.parquet as pq
    except ImportError:  # pragma: no cover - pyarrow comes with `datasets`
        raise DatasetError(f"dataset spec {spec!r}: reading parquet needs pyarrow") from None
    try:
        table = pq.read_table(path)
    except Exception as e:  # noqa: BLE001 - any reader failure means an unreadable file
        raise DatasetError(f"dataset spec {spec!r}: cannot read parquet file {path}: {e}") from None
    for k, row in enumerate(table.to_pylist()):
        yield Row(str(k), f"{path}:row {k}", row)


def read_rows(path: Path, spec: str) -> list[Row]:
    """All rows of a local file, by its suffix; raises :class:`DatasetError` for a missing file."""
    if not path.is_file():
        raise DatasetError(f"dataset spec {spec!r}: file {path} not found")
    if path.name.endswith(".parquet"):
        return list(parquet_rows(path, spec))
    if path.name.endswith(".jsonl"):
        return list(jsonl_rows(path))
    return list(json_rows(path, spec))


def file_fields(spec: str, path: Path, mapping: dict, rows: list[Row]) -> tuple[Fields, str]:
    """Resolve the field mapping and dataset type of a file against the columns it has."""
    columns: set[str] = set()
    for r in rows:
        if r.data is not None:
            columns.update(r.data)
    m = mapping
    for key in ("question", "reference", "gold", "level", "subject", "id", "split"):
        if key in m and m[key] not in columns:
            raise DatasetError(
                f"dataset spec {spec!r}: unknown field {m[key]!r} (mapped to {key}); {path} has fields: "
                f"{', '.join(sorted(columns)) or '(none)'}"
            )

    def first(*names: str) -> str | None:
        return next((n for n in names if n in columns), None)

    question = m.get("question") or first("question", "problem")
    reference = m.get("reference") or first("solution", "answer")
    if columns and (question is None or reference is None):
        missing = "question" if question is None else "reference"
        raise DatasetError(
            f"dataset spec {spec!r}: no {missing} field found in {path}; map one with {missing}=<field> "
            f"(fields: {', '.join(sorted(columns))})"
        )
    dtype = m.get("type")
    if dtype is None:
        sample = [r.data.get(reference) for r in rows if r.data is not None][:50]
        texts = [s for s in sample if isinstance(s, str)]
        if not texts:
            raise DatasetError(f"dataset spec {spec!r}: cannot infer the dataset type; add type=gsm8k or type=math")
        dtype = "gsm8k" if any("####" in s for s in texts) else "math"
    gold = m.get("gold")
    if gold is None and dtype == "math" and reference != "answer" and "answer" in columns:
        gold = "answer"
    fields = Fields(
        question=question or "question",
        reference=reference or "reference",
        gold=gold,
        level=m.get("level") or first("level"),
        subject=m.get("subject") or first("subject", "type"),
        id=m.get("id") or first("unique_id"),
        split=m.get("split"),
    )
    return fields, dtype
