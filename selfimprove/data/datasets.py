"""Load any supported dataset into uniform question records.

Every stage of the pipeline consumes *question records*::

    {"id": "gsm8k/test/0", "dataset": "gsm8k", "dataset_type": "gsm8k", "split": "test",
     "question": "...", "reference": "... #### 18", "gold": "18", "level": None, "subject": None}

Synthetic records also carry ``steps`` (the exact value of each reference line).

* ``id`` is ``<dataset>/<split>/<k>``, where ``k`` is the row index in the source, or the
  source's own unique id when it has one (MATH-500's ``unique_id``). Ids are unique within a
  load: a later row with a taken id is reported and skipped.
* ``gold`` is the bare final answer: for GSM8K-type data the number after ``####`` without
  thousands separators; for MATH-type data the dataset's ``answer`` field when it has one,
  else the content of the last ``\\boxed{...}`` of the solution (braces balanced).

A dataset is named by a *spec* string (grammar in :mod:`selfimprove.data.spec`; named datasets
in :mod:`selfimprove.data.registry`; ``known_specs()`` lists them; ``docs/data.md`` has the
full description): ``synthetic[:N]``, ``synthetic-easy[:N]``, ``gsm8k``, ``math``,
``math500``, ``gsm8k-local``, ``math500-local`` (files under ``$DATA_DIR``, default the
project's ``data/``), ``file:PATH[?key=value&...]``; every spec takes
``?annotations=strip`` to drop GSM8K calculator annotations from references.

Bad rows never abort a load: :func:`load_questions_with_report` returns the good records with
one ``location: reason`` line per problem, and :func:`load_questions` logs those lines as
warnings and raises only when no usable record remains. Spec errors (unknown spec, missing file,
unknown split, unknown field in a mapping) raise :class:`DatasetError` at once;
:func:`check_spec` finds them without loading or downloading anything.

The module keeps the names of the former single-module loader importable (re-exports).
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import cast

from selfimprove.core.records import Question
from selfimprove.data import paths
from selfimprove.data.paths import DEFAULT_DATA_DIR, PROJECT_ROOT
from selfimprove.data.records import (
    DATASET_TYPES,
    MAX_ROW_CHARS,
    RECORD_FIELDS,
    SPLITS,
    DatasetError,
    build_records,
    gsm8k_gold,
    parse_level,
    strip_calc_annotations,
    strip_record_annotations,
)
from selfimprove.data.registry import (
    ENTRIES,
    GSM8K_HUB,
    MATH500_HUB,
    MATH_HUB_FALLBACK,
    MATH_HUB_PRIMARY,
    MATH_SUBJECTS,
)
from selfimprove.data.sources import files, hub
from selfimprove.data.spec import FILE_SUFFIXES, MAPPING_KEYS, Spec, known_specs, parse_spec
from selfimprove.grading.extract import find_last_boxed

SYNTHETIC_DEFAULT_SIZE = {"train": 200, "test": 100}
SYNTHETIC_DIFFICULTIES = ("standard", "easy")

log = logging.getLogger(__name__)

__all__ = [
    "DATASET_TYPES",
    "FILE_SUFFIXES",
    "GSM8K_HUB",
    "MAPPING_KEYS",
    "MATH500_HUB",
    "MATH_HUB_FALLBACK",
    "MATH_HUB_PRIMARY",
    "MATH_SUBJECTS",
    "MAX_ROW_CHARS",
    "PROJECT_ROOT",
    "RECORD_FIELDS",
    "SPLITS",
    "SYNTHETIC_DEFAULT_SIZE",
    "DatasetError",
    "Spec",
    "check_spec",
    "DEFAULT_DATA_DIR",
    "find_last_boxed",
    "gsm8k_gold",
    "known_specs",
    "load_questions",
    "load_questions_with_report",
    "parse_level",
    "parse_spec",
    "strip_calc_annotations",
    "usable_records",
]


def _check_split(spec: Spec, split: str) -> None:
    if split not in SPLITS:
        raise DatasetError(f"dataset spec {spec.text!r}: unknown split {split!r} (expected one of {', '.join(SPLITS)})")
    entry = ENTRIES.get(spec.entry or "")
    if entry is not None and split not in entry.splits:
        only = "only a test split" if entry.splits == ("test",) else f"only {', '.join(entry.splits)}"
        raise DatasetError(f"dataset spec {spec.text!r}: {entry.dataset} has {only}, not {split!r}")


def _local_path(spec: Spec, split: str | None, data_dir: Path) -> Path:
    """The local file of a ``*-local`` spec under ``data_dir``; raises when it is absent."""
    entry = ENTRIES[spec.entry or ""]
    assert entry.local is not None
    path = paths.local_file(entry.local, split or "test", data_dir)
    if not path.is_file():
        raise DatasetError(
            f"dataset spec {spec.text!r}: local data file {path} not found (data folder: {paths.where_hint(data_dir)}); "
            f"put the file there, or use the hub name {entry.dataset!r} or a file: spec"
        )
    return path


def check_spec(spec: str, split: str | None = None, data_dir: Path = DEFAULT_DATA_DIR) -> None:
    """Validate a spec (and a split, if given) without loading or downloading anything;
    ``*-local`` specs are looked up under ``data_dir``.

    Raises :class:`DatasetError` for an unknown spec, a missing local file, a bad mapping or
    an unknown split, so that a pipeline can fail before spending compute.
    """
    parsed = parse_spec(spec)
    if split is not None:
        _check_split(parsed, split)
    if parsed.kind == "local":
        _local_path(parsed, split, data_dir)
    elif parsed.kind == "file":
        assert parsed.path is not None
        if not parsed.path.is_file():
            raise DatasetError(f"dataset spec {spec!r}: file {parsed.path} not found")


def _load_file(spec: Spec, split: str) -> tuple[list[dict], list[str]]:
    assert spec.path is not None
    rows = files.read_rows(spec.path, spec.text)
    if not rows:
        raise DatasetError(f"dataset spec {spec.text!r}: {spec.path} has no rows")
    if all(r.data is None for r in rows):  # nothing parsed: report every row
        return [], [f"{r.where}: {r.problem}" for r in rows]
    fields, dtype = files.file_fields(spec.text, spec.path, spec.mapping, rows)
    return build_records(rows, fields, dtype, spec.name, split)


def _load_named(spec: Spec, split: str, data_dir: Path) -> tuple[list[dict], list[str]]:
    entry = ENTRIES[spec.entry or ""]
    assert entry.fields is not None
    if entry.kind == "local":
        rows = files.read_rows(_local_path(spec, split, data_dir), spec.text)
    else:
        rows = hub.entry_rows(entry, spec.text, split)
    return build_records(rows, entry.fields, entry.dtype, entry.dataset, split)


def _select(records: list[dict], limit: int | None, seed: int, shuffle: bool) -> list[dict]:
    """Optionally shuffle (seeded by record id, stable across runs) and cut to ``limit``."""
    if shuffle:

        def key(rec: dict) -> bytes:
            return hashlib.sha256(f"{seed}/{rec['id']}".encode()).digest()

        records = sorted(records, key=key)
    return records if limit is None else records[:limit]


def load_questions_with_report(
    spec: str,
    split: str,
    limit: int | None = None,
    seed: int = 0,
    shuffle: bool = False,
    data_dir: Path = DEFAULT_DATA_DIR,
) -> tuple[list[dict], list[str]]:
    """Load question records and the list of problems found (``location: reason`` lines);
    ``*-local`` specs read their files under ``data_dir``.

    ``limit`` keeps the first ``limit`` records, or with ``shuffle=True`` a seeded random
    subset (the same for the same seed on every run and machine). Spec errors raise
    :class:`DatasetError`; malformed rows are skipped and reported.
    """
    parsed = parse_spec(spec)
    _check_split(parsed, split)
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise DatasetError(f"dataset spec {spec!r}: limit must be a positive integer or None, got {limit!r}")
    problems: list[str] = []
    if parsed.kind == "synthetic":
        from selfimprove.data import synthetic

        n = parsed.size or SYNTHETIC_DEFAULT_SIZE[split]
        if limit is not None and not shuffle:
            n = min(n, limit)  # generation is prefix-stable: same records as slicing
        records = synthetic.generate(n, split, seed=seed, difficulty=parsed.difficulty)
    elif parsed.kind == "file":
        records, problems = _load_file(parsed, split)
    else:
        records, problems = _load_named(parsed, split, data_dir)
    if parsed.annotations == "strip":
        records = [strip_record_annotations(r) for r in records]
    return _select(records, limit, seed, shuffle), problems


def usable_records(spec: str, split: str, records: list[dict], problems: list[str]) -> list[dict]:
    """``records``, or :class:`DatasetError` when a load left none usable."""
    if not records:
        detail = f" ({len(problems)} malformed rows)" if problems else ""
        raise DatasetError(f"dataset spec {spec!r}: no usable {split} records{detail}")
    return records


def load_questions(
    spec: str,
    split: str,
    limit: int | None = None,
    seed: int = 0,
    shuffle: bool = False,
    data_dir: Path = DEFAULT_DATA_DIR,
) -> list[Question]:
    """Load question records; log each malformed row (a warning) and skip it.

    Raises :class:`DatasetError` for spec errors and when no usable record remains.
    """
    records, problems = load_questions_with_report(spec, split, limit, seed, shuffle, data_dir)
    for line in problems:
        log.warning("%s", line)
    # every record kept is one :func:`build_records` (or the synthetic generator) made: RECORD_FIELDS
    return cast("list[Question]", usable_records(spec, split, records, problems))
