"""Hugging Face hub datasets -> rows (``datasets.load_dataset``; downloaded and cached on first use).

Tests replace :func:`hub_rows` (``monkeypatch.setattr(hub, "hub_rows", fake)``), so nothing here
touches the network under test.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from selfimprove.data.records import DatasetError, Row
from selfimprove.data.registry import MATH_HUB_FALLBACK, MATH_HUB_PRIMARY, MATH_SUBJECTS, Entry


def hub_rows(repo: str, config: str | None, split: str) -> Iterable[dict]:
    """Rows of one split of a hub dataset."""
    try:
        from datasets import load_dataset
    except ImportError:
        raise DatasetError(f"loading {repo} needs the `datasets` package (pip install datasets)") from None
    return load_dataset(repo, config, split=split)


def _subject_slug(subject: Any) -> str:
    text = str(subject or "unknown").strip().lower()
    return re.sub(r"[^a-z0-9]+", "_", text.replace("&", "and")).strip("_")


def _as_dict(row: Any) -> dict | None:
    return dict(row) if isinstance(row, dict) else None


def math_rows(spec: str, split: str) -> list[Row]:
    """MATH rows keyed ``<subject>/<index within subject>`` from the first mirror that works."""
    errors = []
    rows: list[Row] = []
    try:
        for subject in MATH_SUBJECTS:
            for i, row in enumerate(hub_rows(MATH_HUB_PRIMARY, subject, split)):
                data = _as_dict(row)
                where = f"{MATH_HUB_PRIMARY}[{subject}]/{split}:row {i}"
                rows.append(Row(f"{subject}/{i}", where, data, None if data is not None else "not a mapping"))
        return rows
    except DatasetError:
        raise
    except Exception as e:  # noqa: BLE001 - any hub failure: try the next mirror
        errors.append(f"{MATH_HUB_PRIMARY}: {e}")
    repo, config = MATH_HUB_FALLBACK
    try:
        rows = []
        counts: dict[str, int] = {}
        for i, row in enumerate(hub_rows(repo, config, split)):
            data = _as_dict(row)
            slug = _subject_slug((data or {}).get("type"))
            counts[slug] = counts.get(slug, -1) + 1
            where = f"{repo}/{split}:row {i}"
            rows.append(Row(f"{slug}/{counts[slug]}", where, data, None if data is not None else "not a mapping"))
        return rows
    except Exception as e:  # noqa: BLE001
        errors.append(f"{repo}: {e}")
    raise DatasetError(f"dataset spec {spec!r}: no MATH mirror could be loaded ({'; '.join(errors)})")


def entry_rows(entry: Entry, spec: str, split: str) -> list[Row]:
    """Rows of a ``hub`` or ``math-hub`` registry entry."""
    if entry.kind == "math-hub":
        return math_rows(spec, split)
    assert entry.repo is not None, entry
    try:
        data = hub_rows(entry.repo, entry.config, split)
        rows = []
        for i, row in enumerate(data):
            d = _as_dict(row)
            rows.append(Row(str(i), f"{entry.repo}/{split}:row {i}", d, None if d is not None else "not a mapping"))
        return rows
    except DatasetError:
        raise
    except Exception as e:  # noqa: BLE001 - network, cache or format problems
        raise DatasetError(f"dataset spec {spec!r}: could not load {entry.repo} ({split}): {e}") from None
