"""Load any supported dataset into uniform question records.

Every stage of the pipeline consumes *question records*::

    {"id": "gsm8k/test/0", "dataset": "gsm8k", "dataset_type": "gsm8k", "split": "test",
     "question": "...", "reference": "... #### 18", "gold": "18", "level": None, "subject": None}

* ``id`` is ``<dataset>/<split>/<k>``, where ``k`` is the row index in the source, or the
  source's own unique id when it has one (MATH-500's ``unique_id``). Ids are unique within a
  load; a duplicate raises :class:`DatasetError` (a ``ValueError``) naming it.
* ``gold`` is the bare final answer: for GSM8K-type data the number after ``####`` without
  thousands separators; for MATH-type data the dataset's ``answer`` field when it has one,
  else the content of the last ``\\boxed{...}`` of the solution (braces balanced).

A dataset is named by a *spec* string (``known_specs()`` lists them; ``docs/data.md`` has the
full description):

``synthetic[:N]``, ``synthetic-easy[:N]`` (= ``synthetic[:N]?difficulty=easy``)
    the built-in generator (:mod:`selfimprove.data.synthetic`); N defaults to 200 (train) /
    100 (test).
``gsm8k``, ``math``, ``math500``
    Hugging Face datasets via ``datasets.load_dataset`` (downloaded on first use).
``gsm8k-local``, ``math500-local``
    the shared copies under ``<project root>/../shared/data`` when that folder exists.
``file:PATH[?key=value&...]`` (or a bare ``PATH`` ending in .jsonl/.json/.parquet)
    a local file with an optional field mapping, e.g.
    ``file:data/x.jsonl?type=math&question=problem&gold=answer&id=unique_id``.

Malformed rows (invalid JSON, missing fields, no findable gold answer) do not abort a load:
:func:`load_questions_with_report` returns the good records together with one
``location: reason`` line per bad row, and :func:`load_questions` prints those lines to
stderr and raises only when no usable record remains. Spec errors (unknown spec, missing
file, unknown split, unknown field in a mapping) raise :class:`DatasetError` at once;
:func:`check_spec` finds them without loading or downloading anything.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from selfimprove.grading.extract import find_last_boxed  # one box parser for data and grading

SPLITS = ("train", "test")
DATASET_TYPES = ("gsm8k", "math")
FILE_SUFFIXES = (".jsonl", ".json", ".parquet")

#: Keys accepted in a ``file:`` spec's query string.
#: ``type`` and ``name`` set the dataset type and short name; the others name source columns.
MAPPING_KEYS = ("type", "name", "question", "reference", "gold", "level", "subject", "id",
                "split")
RECORD_FIELDS = ("id", "dataset", "dataset_type", "split", "question", "reference", "gold",
                 "level", "subject")

SYNTHETIC_DEFAULT_SIZE = {"train": 200, "test": 100}
SYNTHETIC_DIFFICULTIES = ("standard", "easy")

GSM8K_HUB = ("openai/gsm8k", "main")
MATH_HUB_PRIMARY = "EleutherAI/hendrycks_math"
MATH_HUB_FALLBACK = ("DigitalLearningGmbH/MATH-lighteval", "default")
MATH500_HUB = "HuggingFaceH4/MATH-500"
MATH_SUBJECTS = ("algebra", "counting_and_probability", "geometry", "intermediate_algebra",
                 "number_theory", "prealgebra", "precalculus")

PROJECT_ROOT = Path(__file__).resolve().parents[2]


class DatasetError(ValueError):
    """A dataset spec cannot be used: unknown spec, missing file, unknown split or field."""


# --------------------------------------------------------------------------------------------
# Spec parsing


@dataclass(frozen=True)
class Spec:
    """A parsed dataset spec."""

    text: str
    kind: str  # "synthetic" | "hub" | "shared" | "file"
    name: str  # dataset short name used in records and ids
    size: int | None = None  # synthetic:N
    path: Path | None = None  # file specs
    mapping: dict = field(default_factory=dict)  # file specs: key -> value
    difficulty: str = "standard"  # synthetic specs: standard | easy


_HUB_NAMES = ("gsm8k", "math", "math500")
_SHARED_NAMES = ("gsm8k-local", "math500-local")


def known_specs() -> dict[str, str]:
    """Spec forms and what they load, for ``--help`` texts."""
    return {
        "synthetic[:N]": "built-in synthetic multi-step arithmetic problems (GSM8K format, "
                         "levels 1-5); N defaults to 200 train / 100 test",
        "synthetic-easy[:N]": "easy synthetic problems (1-2 steps, numbers below 50; same as "
                              "synthetic[:N]?difficulty=easy)",
        "gsm8k": "GSM8K from the Hugging Face hub (openai/gsm8k, config main)",
        "math": "MATH from the Hugging Face hub (EleutherAI/hendrycks_math, falling back to "
                "DigitalLearningGmbH/MATH-lighteval)",
        "math500": "MATH-500 from the Hugging Face hub (HuggingFaceH4/MATH-500; test only)",
        "gsm8k-local": "the shared GSM8K copy, ../shared/data/gsm8k/{split}.jsonl",
        "math500-local": "the shared MATH-500 copy, ../shared/data/math500/test.jsonl "
                         "(test only)",
        "file:PATH[?key=col&...]": "a local .jsonl/.json/.parquet file; keys: "
                                   + ", ".join(MAPPING_KEYS) + " (see docs/data.md)",
    }


def _specs_hint() -> str:
    return "known specs: " + ", ".join(known_specs())


def shared_data_dir() -> Path:
    """``<project root>/../shared/data``, where shared copies of real datasets may live."""
    return PROJECT_ROOT.parent / "shared" / "data"


def _file_name(path: Path) -> str:
    """Default short name for a file: its stem, or its folder's name if the stem is a split."""
    stem = path.name
    for suffix in FILE_SUFFIXES:
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
    if stem.lower() in ("train", "test", "validation", "val", "dev") and path.parent.name:
        return path.parent.resolve().name
    return stem


def _parse_mapping(spec: str, query: str) -> dict:
    mapping: dict[str, str] = {}
    for part in query.split("&"):
        if not part:
            continue
        key, eq, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if key not in MAPPING_KEYS:
            raise DatasetError(f"dataset spec {spec!r}: unknown field {key!r} in the mapping "
                               f"(allowed: {', '.join(MAPPING_KEYS)})")
        if not eq or not value:
            raise DatasetError(f"dataset spec {spec!r}: mapping entry {part!r} needs a value "
                               f"({key}=...)")
        if key in mapping:
            raise DatasetError(f"dataset spec {spec!r}: field {key!r} is mapped twice")
        mapping[key] = value
    if "type" in mapping and mapping["type"] not in DATASET_TYPES:
        raise DatasetError(f"dataset spec {spec!r}: type must be one of "
                           f"{', '.join(DATASET_TYPES)}, got {mapping['type']!r}")
    return mapping


def _parse_synthetic(spec: str, text: str) -> Spec:
    """``synthetic[-easy][:N][?difficulty=standard|easy]``."""
    head, _, query = text.partition("?")
    base, colon, raw = head.partition(":")
    if base not in ("synthetic", "synthetic-easy"):
        raise DatasetError(f"unknown dataset spec {spec!r}; {_specs_hint()}")
    size = None
    if colon:
        if not raw.isdigit() or int(raw) < 1:
            raise DatasetError(f"dataset spec {spec!r}: N in synthetic:N must be a "
                               f"positive integer")
        size = int(raw)
    difficulty = "easy" if base == "synthetic-easy" else "standard"
    for part in query.split("&") if query else ():
        key, eq, value = part.partition("=")
        if key.strip() != "difficulty" or not eq:
            raise DatasetError(f"dataset spec {spec!r}: synthetic specs take only "
                               f"difficulty=standard|easy, got {part!r}")
        value = value.strip()
        if value not in SYNTHETIC_DIFFICULTIES:
            raise DatasetError(f"dataset spec {spec!r}: difficulty must be one of "
                               f"{', '.join(SYNTHETIC_DIFFICULTIES)}, got {value!r}")
        if base == "synthetic-easy" and value != "easy":
            raise DatasetError(f"dataset spec {spec!r}: synthetic-easy is difficulty=easy")
        difficulty = value
    name = "synthetic-easy" if difficulty == "easy" else "synthetic"
    return Spec(text, "synthetic", name, size=size, difficulty=difficulty)


def parse_spec(spec: str) -> Spec:
    """Parse a spec string (no file access beyond what the syntax needs)."""
    if not isinstance(spec, str) or not spec.strip():
        raise DatasetError(f"empty dataset spec; {_specs_hint()}")
    text = spec.strip()
    if re.match(r"synthetic(-easy)?($|[:?])", text):
        return _parse_synthetic(spec, text)
    if text in _HUB_NAMES:
        return Spec(text, "hub", text)
    if text in _SHARED_NAMES:
        return Spec(text, "shared", text.removesuffix("-local"))
    is_file = text.startswith("file:")
    body = text[len("file:"):] if is_file else text
    path_text, _, query = body.partition("?")
    if is_file or path_text.endswith(FILE_SUFFIXES):
        if not path_text:
            raise DatasetError(f"dataset spec {spec!r}: missing file path after 'file:'")
        if not path_text.endswith(FILE_SUFFIXES):
            raise DatasetError(f"dataset spec {spec!r}: file must end in "
                               f"{', '.join(FILE_SUFFIXES)}")
        mapping = _parse_mapping(spec, query)
        path = Path(path_text).expanduser()
        return Spec(text, "file", mapping.get("name") or _file_name(path), path=path,
                    mapping=mapping)
    raise DatasetError(f"unknown dataset spec {spec!r}; {_specs_hint()}")


def _check_split(spec: Spec, split: str) -> None:
    if split not in SPLITS:
        raise DatasetError(f"dataset spec {spec.text!r}: unknown split {split!r} "
                           f"(expected one of {', '.join(SPLITS)})")
    if spec.name == "math500" and spec.kind in ("hub", "shared") and split != "test":
        raise DatasetError(f"dataset spec {spec.text!r}: MATH-500 has only a test split, "
                           f"not {split!r}")


def _shared_path(spec: Spec, split: str | None) -> Path:
    """The shared file for a ``*-local`` spec; raises when it is absent."""
    base = shared_data_dir()
    if spec.name == "gsm8k":
        path = base / "gsm8k" / f"{split or 'test'}.jsonl"
    else:
        path = base / "math500" / "test.jsonl"
    if not path.is_file():
        raise DatasetError(f"dataset spec {spec.text!r}: shared data file {path} not found "
                           f"(the shared data folder is only present next to the project "
                           f"checkout; use the hub name {spec.name!r} or a file: spec instead)")
    return path


def check_spec(spec: str, split: str | None = None) -> None:
    """Validate a spec (and a split, if given) without loading or downloading anything.

    Raises :class:`DatasetError` for an unknown spec, a missing local file, a bad mapping or
    an unknown split, so that a pipeline can fail before spending compute.
    """
    parsed = parse_spec(spec)
    if split is not None:
        _check_split(parsed, split)
    if parsed.kind == "shared":
        _shared_path(parsed, split)
    elif parsed.kind == "file":
        if not parsed.path.is_file():
            raise DatasetError(f"dataset spec {spec!r}: file {parsed.path} not found")


# --------------------------------------------------------------------------------------------
# Gold answers


_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def gsm8k_gold(text: str) -> str | None:
    """The number after the last ``####`` with thousands commas removed, or None."""
    pos = text.rfind("####")
    if pos < 0:
        return None
    tail = text[pos + 4:].strip().splitlines()[0] if text[pos + 4:].strip() else ""
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


def _as_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (int, float)):
        return str(value)
    return None


# --------------------------------------------------------------------------------------------
# Rows -> records


@dataclass(frozen=True)
class _Row:
    """One source row: its index key, where it came from (for messages), and its content."""

    key: str  # row index (or source id) used in the record id
    where: str  # "path:line", "path:row 3", "repo[config]/split:row 3"
    data: dict | None
    problem: str | None = None  # set when the row could not even be parsed


@dataclass(frozen=True)
class _Fields:
    """Which source column feeds each record field (None: not available)."""

    question: str
    reference: str
    gold: str | None = None  # None: derive from the reference
    level: str | None = None
    subject: str | None = None
    id: str | None = None
    split: str | None = None


class _BadRow(Exception):
    pass


def _record(row: dict, key: str, fields: _Fields, dtype: str, dataset: str, split: str) -> dict:
    def text_field(name: str, column: str) -> str:
        if column not in row or row[column] is None:
            raise _BadRow(f"missing field {column!r} ({name})")
        value = _as_text(row[column])
        if value is None or not value.strip():
            raise _BadRow(f"field {column!r} ({name}) is empty or not text")
        return value

    question = text_field("question", fields.question).strip()
    reference = text_field("reference", fields.reference)
    if fields.gold is not None:
        gold = text_field("gold", fields.gold).strip()
        if dtype == "gsm8k":
            parsed = gsm8k_gold(gold) if "####" in gold else gold.replace(",", "")
            if parsed is None:
                raise _BadRow(f"no final answer after '####' in field {fields.gold!r}")
            gold = parsed
    elif dtype == "gsm8k":
        gold = gsm8k_gold(reference)
        if gold is None:
            raise _BadRow("no final answer: the reference has no '#### <number>' line")
    else:
        gold = find_last_boxed(reference)
        if not gold:
            raise _BadRow("no final answer: the reference has no complete \\boxed{...}")
    if fields.id is not None:
        key = _as_text(row.get(fields.id))
        if not key or not key.strip():
            raise _BadRow(f"missing field {fields.id!r} (id)")
        key = key.strip()
    level = parse_level(row.get(fields.level)) if fields.level else None
    subject = _as_text(row.get(fields.subject)) if fields.subject else None
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


def _build(rows: Iterable[_Row], fields: _Fields, dtype: str, dataset: str, split: str,
           source: str) -> tuple[list[dict], list[str]]:
    records: list[dict] = []
    problems: list[str] = []
    seen: dict[str, str] = {}
    for r in rows:
        if r.problem is not None:
            problems.append(f"{r.where}: {r.problem}")
            continue
        if fields.split is not None:
            if fields.split not in r.data:
                problems.append(f"{r.where}: missing field {fields.split!r} (split)")
                continue
            if str(r.data[fields.split]).strip() != split:
                continue
        try:
            rec = _record(r.data, r.key, fields, dtype, dataset, split)
        except _BadRow as e:
            problems.append(f"{r.where}: {e}")
            continue
        if rec["id"] in seen:
            raise DatasetError(f"dataset spec {source!r}: duplicate id {rec['id']!r} "
                               f"({seen[rec['id']]} and {r.where})")
        seen[rec["id"]] = r.where
        records.append(rec)
    return records, problems


# --------------------------------------------------------------------------------------------
# Local files


def _jsonl_rows(path: Path) -> Iterator[_Row]:
    k = 0
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                yield _Row(str(k), where, None, f"invalid JSON ({e.msg})")
            else:
                if isinstance(obj, dict):
                    yield _Row(str(k), where, obj)
                else:
                    yield _Row(str(k), where, None, "not a JSON object")
            k += 1


def _json_rows(path: Path, spec: str) -> Iterator[_Row]:
    """Elements of a top-level JSON array, each with the line on which it starts."""
    text = path.read_text(encoding="utf-8")
    decoder = json.JSONDecoder()
    ws = re.compile(r"\s*")

    def fail(pos: int, msg: str) -> DatasetError:
        line = text.count("\n", 0, pos) + 1
        return DatasetError(f"dataset spec {spec!r}: {path}:{line}: {msg}")

    i = ws.match(text, 0).end()
    if not text.startswith("[", i):
        raise fail(i, "expected a JSON array of objects")
    i = ws.match(text, i + 1).end()
    line, counted_to, k = 1, 0, 0
    if text.startswith("]", i):
        return
    while True:
        line += text.count("\n", counted_to, i)
        counted_to = i
        try:
            obj, i = decoder.raw_decode(text, i)
        except json.JSONDecodeError as e:
            raise fail(e.pos, f"invalid JSON ({e.msg})") from None
        where = f"{path}:{line}"
        if isinstance(obj, dict):
            yield _Row(str(k), where, obj)
        else:
            yield _Row(str(k), where, None, "not a JSON object")
        k += 1
        i = ws.match(text, i).end()
        if text.startswith(",", i):
            i = ws.match(text, i + 1).end()
        elif text.startswith("]", i):
            return
        else:
            raise fail(i, "expected ',' or ']' in the JSON array")


def _parquet_rows(path: Path, spec: str) -> Iterator[_Row]:
    try:
        import pyarrow.parquet as pq
    except ImportError:  # pragma: no cover - pyarrow comes with `datasets`
        raise DatasetError(f"dataset spec {spec!r}: reading parquet needs pyarrow") from None
    try:
        table = pq.read_table(path)
    except Exception as e:  # noqa: BLE001 - any reader failure means an unreadable file
        raise DatasetError(f"dataset spec {spec!r}: cannot read parquet file {path}: {e}") from None
    for k, row in enumerate(table.to_pylist()):
        yield _Row(str(k), f"{path}:row {k}", row)


def _file_fields(spec: Spec, rows: list[_Row]) -> tuple[_Fields, str]:
    """Resolve the field mapping and dataset type of a file against the columns it has."""
    columns: set[str] = set()
    for r in rows:
        if r.data is not None:
            columns.update(r.data)
    m = spec.mapping
    for key in ("question", "reference", "gold", "level", "subject", "id", "split"):
        if key in m and m[key] not in columns:
            raise DatasetError(f"dataset spec {spec.text!r}: unknown field {m[key]!r} "
                               f"(mapped to {key}); {spec.path} has fields: "
                               f"{', '.join(sorted(columns)) or '(none)'}")

    def first(*names: str) -> str | None:
        return next((n for n in names if n in columns), None)

    question = m.get("question") or first("question", "problem")
    reference = m.get("reference") or first("solution", "answer")
    if columns and (question is None or reference is None):
        missing = "question" if question is None else "reference"
        raise DatasetError(f"dataset spec {spec.text!r}: no {missing} field found in "
                           f"{spec.path}; map one with {missing}=<field> (fields: "
                           f"{', '.join(sorted(columns))})")
    dtype = m.get("type")
    if dtype is None:
        sample = [r.data.get(reference) for r in rows if r.data is not None][:50]
        texts = [s for s in sample if isinstance(s, str)]
        if not texts:
            raise DatasetError(f"dataset spec {spec.text!r}: cannot infer the dataset type; "
                               f"add type=gsm8k or type=math")
        dtype = "gsm8k" if any("####" in s for s in texts) else "math"
    gold = m.get("gold")
    if gold is None and dtype == "math" and reference != "answer" and "answer" in columns:
        gold = "answer"
    fields = _Fields(
        question=question or "question",
        reference=reference or "reference",
        gold=gold,
        level=m.get("level") or first("level"),
        subject=m.get("subject") or first("subject", "type"),
        id=m.get("id") or first("unique_id"),
        split=m.get("split"),
    )
    return fields, dtype


def _load_file(spec: Spec, path: Path, split: str) -> tuple[list[dict], list[str]]:
    if not path.is_file():
        raise DatasetError(f"dataset spec {spec.text!r}: file {path} not found")
    if path.name.endswith(".parquet"):
        rows = list(_parquet_rows(path, spec.text))
    elif path.name.endswith(".jsonl"):
        rows = list(_jsonl_rows(path))
    else:
        rows = list(_json_rows(path, spec.text))
    if not rows:
        raise DatasetError(f"dataset spec {spec.text!r}: {path} has no rows")
    if all(r.data is None for r in rows):  # nothing parsed: report every row
        return [], [f"{r.where}: {r.problem}" for r in rows]
    fields, dtype = _file_fields(spec, rows)
    return _build(rows, fields, dtype, spec.name, split, spec.text)


# --------------------------------------------------------------------------------------------
# Hugging Face hub


def _hub_rows(repo: str, config: str | None, split: str) -> Iterable[dict]:
    """Rows of one split of a hub dataset (tests replace this function)."""
    try:
        from datasets import load_dataset
    except ImportError:
        raise DatasetError(f"loading {repo} needs the `datasets` package "
                           f"(pip install datasets)") from None
    return load_dataset(repo, config, split=split)


def _subject_slug(subject: Any) -> str:
    text = str(subject or "unknown").strip().lower()
    return re.sub(r"[^a-z0-9]+", "_", text.replace("&", "and")).strip("_")


def _math_rows(spec: Spec, split: str) -> list[_Row]:
    """MATH rows keyed ``<subject>/<index within subject>`` from the first mirror that works."""
    errors = []
    try:
        rows = []
        for subject in MATH_SUBJECTS:
            for i, row in enumerate(_hub_rows(MATH_HUB_PRIMARY, subject, split)):
                rows.append(_Row(f"{subject}/{i}", f"{MATH_HUB_PRIMARY}[{subject}]/{split}:row {i}",
                                 dict(row)))
        return rows
    except DatasetError:
        raise
    except Exception as e:  # noqa: BLE001 - any hub failure: try the next mirror
        errors.append(f"{MATH_HUB_PRIMARY}: {e}")
    repo, config = MATH_HUB_FALLBACK
    try:
        rows, counts = [], {}
        for i, row in enumerate(_hub_rows(repo, config, split)):
            slug = _subject_slug(row.get("type"))
            counts[slug] = counts.get(slug, -1) + 1
            rows.append(_Row(f"{slug}/{counts[slug]}", f"{repo}/{split}:row {i}", dict(row)))
        return rows
    except Exception as e:  # noqa: BLE001
        errors.append(f"{repo}: {e}")
    raise DatasetError(f"dataset spec {spec.text!r}: no MATH mirror could be loaded "
                       f"({'; '.join(errors)})")


def _load_hub(spec: Spec, split: str) -> tuple[list[dict], list[str]]:
    if spec.name == "math":
        rows = _math_rows(spec, split)
        fields = _Fields(question="problem", reference="solution", level="level",
                         subject="type")
        return _build(rows, fields, "math", "math", split, spec.text)
    if spec.name == "gsm8k":
        repo, config = GSM8K_HUB
        fields, dtype = _Fields(question="question", reference="answer"), "gsm8k"
    else:
        repo, config = MATH500_HUB, None
        fields = _Fields(question="problem", reference="solution", gold="answer", level="level",
                         subject="subject", id="unique_id")
        dtype = "math"
    try:
        data = _hub_rows(repo, config, split)
        rows = [_Row(str(i), f"{repo}/{split}:row {i}", dict(row)) for i, row in enumerate(data)]
    except DatasetError:
        raise
    except Exception as e:  # noqa: BLE001 - network, cache or format problems
        raise DatasetError(f"dataset spec {spec.text!r}: could not load {repo} ({split}): {e}"
                           ) from None
    return _build(rows, fields, dtype, spec.name, split, spec.text)


# --------------------------------------------------------------------------------------------
# Public entry points


def _select(records: list[dict], limit: int | None, seed: int, shuffle: bool) -> list[dict]:
    """Optionally shuffle (seeded by record id, stable across runs) and cut to ``limit``."""
    if shuffle:
        def key(rec: dict) -> bytes:
            return hashlib.sha256(f"{seed}/{rec['id']}".encode("utf-8")).digest()
        records = sorted(records, key=key)
    return records if limit is None else records[:limit]


def load_questions_with_report(spec: str, split: str, limit: int | None = None, seed: int = 0,
                               shuffle: bool = False) -> tuple[list[dict], list[str]]:
    """Load question records and the list of problems found (``location: reason`` lines).

    ``limit`` keeps the first ``limit`` records, or with ``shuffle=True`` a seeded random
    subset (the same for the same seed on every run and machine). Spec errors raise
    :class:`DatasetError`; malformed rows are skipped and reported.
    """
    parsed = parse_spec(spec)
    _check_split(parsed, split)
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise DatasetError(f"dataset spec {spec!r}: limit must be a positive integer or None, "
                           f"got {limit!r}")
    if parsed.kind == "synthetic":
        from selfimprove.data import synthetic

        n = parsed.size or SYNTHETIC_DEFAULT_SIZE[split]
        if limit is not None and not shuffle:
            n = min(n, limit)  # generation is prefix-stable: same records as slicing
        records, problems = synthetic.generate(n, split, seed=seed, difficulty=parsed.difficulty), []
    elif parsed.kind == "hub":
        records, problems = _load_hub(parsed, split)
    elif parsed.kind == "shared":
        path = _shared_path(parsed, split)
        mapping = {"type": "gsm8k"} if parsed.name == "gsm8k" else {"type": "math",
                                                                     "id": "unique_id"}
        file_spec = Spec(parsed.text, "file", parsed.name, path=path, mapping=mapping)
        records, problems = _load_file(file_spec, path, split)
    else:
        records, problems = _load_file(parsed, parsed.path, split)
    return _select(records, limit, seed, shuffle), problems


def load_questions(spec: str, split: str, limit: int | None = None, seed: int = 0,
                   shuffle: bool = False) -> list[dict]:
    """Load question records; print each malformed row to stderr and skip it.

    Raises :class:`DatasetError` for spec errors and when no usable record remains.
    """
    records, problems = load_questions_with_report(spec, split, limit, seed, shuffle)
    for line in problems:
        print(line, file=sys.stderr)
    if not records:
        detail = f" ({len(problems)} malformed rows)" if problems else ""
        raise DatasetError(f"dataset spec {spec!r}: no usable {split} records{detail}")
    return records


def main(argv: Sequence[str] | None = None) -> int:
    specs = "\n".join(f"  {k:26s} {v}" for k, v in known_specs().items())
    ap = argparse.ArgumentParser(
        prog="python -m selfimprove.data.datasets",
        description="Load a dataset as question records (JSON Lines).",
        epilog="dataset specs:\n" + specs, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("spec")
    ap.add_argument("--split", default="test", choices=SPLITS)
    ap.add_argument("--limit", type=int)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--shuffle", action="store_true")
    ap.add_argument("--out", help="output JSONL (written atomically); default: stdout")
    args = ap.parse_args(argv)
    try:
        records = load_questions(args.spec, args.split, args.limit, args.seed, args.shuffle)
    except DatasetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.out:
        from selfimprove.core.io import atomic_write_jsonl

        atomic_write_jsonl(args.out, records)
        print(f"wrote {len(records)} records to {args.out}", file=sys.stderr)
    else:
        for rec in records:
            print(json.dumps(rec, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
