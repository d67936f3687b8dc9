"""The dataset spec grammar.

::

    spec     := NAME [":" N] ["?" options]            a registry name (selfimprove.data.registry)
              | "file:" PATH ["?" options]            a local .jsonl / .json / .parquet file
              | PATH ["?" options]                    the same, when PATH ends in one of those
    options  := KEY "=" VALUE ("&" KEY "=" VALUE)*

* ``N`` (a positive integer) is the number of problems of a synthetic spec.
* Every spec accepts ``annotations=keep|strip``: GSM8K calculator annotations ``<<3*12=36>>``
  are kept in references by default (as the released data has them); ``strip`` removes them
  from ``reference`` (and from synthetic ``steps`` texts).
* Synthetic specs accept ``difficulty=standard|easy`` (``synthetic-easy`` is
  ``synthetic?difficulty=easy``).
* ``file:`` specs accept the field mapping keys of :data:`MAPPING_KEYS`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from selfimprove.data.records import DATASET_TYPES, DatasetError
from selfimprove.data.registry import ENTRIES

FILE_SUFFIXES = (".jsonl", ".json", ".parquet")
#: Keys accepted in a ``file:`` spec's query string besides ``annotations``.
#: ``type`` and ``name`` set the dataset type and short name; the others name source columns.
MAPPING_KEYS = ("type", "name", "question", "reference", "gold", "level", "subject", "id", "split")
ANNOTATIONS = ("keep", "strip")
DIFFICULTIES = ("standard", "easy")


@dataclass(frozen=True)
class Spec:
    """A parsed dataset spec."""

    text: str
    kind: str  # "synthetic" | "hub" | "math-hub" | "local" | "file"
    name: str  # dataset short name used in records and ids
    size: int | None = None  # synthetic:N
    path: Path | None = None  # file specs
    mapping: dict = field(default_factory=dict)  # file specs: key -> value
    difficulty: str = "standard"  # synthetic specs
    annotations: str = "keep"  # keep | strip
    entry: str | None = None  # the registry name, for named specs


def known_specs() -> dict[str, str]:
    """Spec forms and what they load, for ``--help`` texts."""
    forms = {}
    for name, e in ENTRIES.items():
        forms[f"{name}[:N]" if e.kind == "synthetic" else name] = e.description
    forms["file:PATH[?key=col&...]"] = (
        "a local .jsonl/.json/.parquet file; keys: " + ", ".join(MAPPING_KEYS) + ", annotations (see docs/data.md)"
    )
    return forms


def specs_hint() -> str:
    return "known specs: " + ", ".join(known_specs())


def _file_name(path: Path) -> str:
    """Default short name for a file: its stem, or its folder's name if the stem is a split."""
    stem = path.name
    for suffix in FILE_SUFFIXES:
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
    if stem.lower() in ("train", "test", "validation", "val", "dev") and path.parent.name:
        return path.parent.resolve().name
    return stem


def _parse_query(spec: str, query: str, allowed: tuple[str, ...], what: str) -> dict[str, str]:
    options: dict[str, str] = {}
    for part in query.split("&"):
        if not part:
            continue
        key, eq, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if key not in allowed:
            raise DatasetError(
                f"dataset spec {spec!r}: unknown field {key!r} in the {what} (allowed: {', '.join(allowed)})"
            )
        if not eq or not value:
            raise DatasetError(f"dataset spec {spec!r}: {what} entry {part!r} needs a value ({key}=...)")
        if key in options:
            raise DatasetError(f"dataset spec {spec!r}: field {key!r} is given twice")
        options[key] = value
    if options.get("annotations", "keep") not in ANNOTATIONS:
        raise DatasetError(f"dataset spec {spec!r}: annotations must be keep or strip, got {options['annotations']!r}")
    return options


def _parse_named(spec: str, text: str) -> Spec:
    head, _, query = text.partition("?")
    name, colon, raw = head.partition(":")
    entry = ENTRIES[name]
    synthetic = entry.kind == "synthetic"
    size = None
    if colon:
        if not synthetic:
            raise DatasetError(f"dataset spec {spec!r}: ':N' is only for synthetic specs; use --limit for {name}")
        if not raw.isdigit() or int(raw) < 1:
            raise DatasetError(f"dataset spec {spec!r}: N in synthetic:N must be a positive integer")
        size = int(raw)
    allowed = ("difficulty", "annotations") if synthetic else ("annotations",)
    options = _parse_query(spec, query, allowed, "options")
    difficulty = entry.difficulty
    if "difficulty" in options:
        value = options["difficulty"]
        if value not in DIFFICULTIES:
            raise DatasetError(
                f"dataset spec {spec!r}: difficulty must be one of {', '.join(DIFFICULTIES)}, got {value!r}"
            )
        if entry.difficulty == "easy" and value != "easy":
            raise DatasetError(f"dataset spec {spec!r}: synthetic-easy is difficulty=easy")
        difficulty = value
    dataset = ENTRIES["synthetic-easy"].dataset if synthetic and difficulty == "easy" else entry.dataset
    return Spec(
        text,
        entry.kind,
        dataset,
        size=size,
        difficulty=difficulty,
        annotations=options.get("annotations", "keep"),
        entry=name,
    )


def parse_spec(spec: str) -> Spec:
    """Parse a spec string (no file access beyond what the syntax needs)."""
    if not isinstance(spec, str) or not spec.strip():
        raise DatasetError(f"empty dataset spec; {specs_hint()}")
    text = spec.strip()
    if text.partition("?")[0].partition(":")[0] in ENTRIES:
        return _parse_named(spec, text)
    is_file = text.startswith("file:")
    body = text[len("file:") :] if is_file else text
    path_text, _, query = body.partition("?")
    if is_file or path_text.endswith(FILE_SUFFIXES):
        if not path_text:
            raise DatasetError(f"dataset spec {spec!r}: missing file path after 'file:'")
        if not path_text.endswith(FILE_SUFFIXES):
            raise DatasetError(f"dataset spec {spec!r}: file must end in {', '.join(FILE_SUFFIXES)}")
        mapping = _parse_query(spec, query, (*MAPPING_KEYS, "annotations"), "mapping")
        annotations = mapping.pop("annotations", "keep")
        if "type" in mapping and mapping["type"] not in DATASET_TYPES:
            raise DatasetError(
                f"dataset spec {spec!r}: type must be one of {', '.join(DATASET_TYPES)}, got {mapping['type']!r}"
            )
        path = Path(path_text).expanduser()
        return Spec(
            text, "file", mapping.get("name") or _file_name(path), path=path, mapping=mapping, annotations=annotations
        )
    raise DatasetError(f"unknown dataset spec {spec!r}; {specs_hint()}")


def dataset_types(specs: list[str]) -> list[str]:
    """The dataset types (``gsm8k``, ``math``) of some dataset specs, each once, in order."""
    types = []
    for s in specs:
        p = parse_spec(s)
        t = ENTRIES[p.entry].dtype if p.entry in ENTRIES else p.mapping.get("type", "gsm8k")
        if t not in types:
            types.append(t)
    return types
