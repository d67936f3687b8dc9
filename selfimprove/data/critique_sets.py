"""Datasets for the critique model: MathCritique-76k critiques and ProcessBench step labels.

Both loaders return plain dict records and a list of ``location: reason`` problems, with the
same per-row isolation as the question loaders (a bad row is reported, the load goes on).
``source`` is a local file (``.jsonl`` / ``.json`` array / ``.parquet``) or, for ProcessBench,
a folder holding ``<split>.json`` (the hub repository's layout); ``None`` loads from the
Hugging Face hub through ``datasets`` (tests replace :func:`selfimprove.data.sources.hub.hub_rows`).

**ProcessBench** (``Qwen/ProcessBench``; splits ``gsm8k`` 400, ``math`` 1000,
``olympiadbench`` 1000, ``omnimath`` 1000)::

    {"id": "processbench/gsm8k/gsm8k-0", "source_id": "gsm8k-0", "dataset": "processbench",
     "split": "gsm8k", "generator": "Qwen2-7B-Instruct", "problem": "...",
     "steps": ["step 1", "step 2", ...], "final_answer_correct": false, "label": 1}

``label`` is the index of the first wrong step, or -1 when every step is right.

**MathCritique** (the paper's critique data, hub id ``MathCritique/MathCritique-76k``)::

    {"id": "mathcritique/train/0", "dataset": "mathcritique", "split": "train", "question": "...",
     "solution": "...", "critique": "...", "refinement": "..." | None, "correct": bool | None,
     "format": "columns" | "alpaca"}

Rows are read by column name (first match wins; see :data:`CRITIQUE_COLUMNS`) or, for alpaca
rows (``instruction``/``output``, the layout of the released feedback examples), by splitting
the refinement prompt: question before ``Assistant:``, solution up to ``<|end_of_text|>``, the
critique after the refinement request, the refinement in ``output``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from selfimprove.data.records import BadRow, DatasetError, Row, check_writable
from selfimprove.data.sources import files, hub
from selfimprove.data.spec import FILE_SUFFIXES

PROCESSBENCH_HUB = "Qwen/ProcessBench"
PROCESSBENCH_SPLITS = ("gsm8k", "math", "olympiadbench", "omnimath")
MATHCRITIQUE_HUB = "MathCritique/MathCritique-76k"

#: record field -> source columns tried in order (MathCritique rows with named columns)
CRITIQUE_COLUMNS = {
    "question": ("question", "problem", "query"),
    "solution": ("solution", "response", "model_solution", "answer"),
    "critique": ("critique", "feedback", "critic", "critique_text"),
    "refinement": ("refinement", "refined_solution", "refined_response", "refine", "revision"),
    "correct": ("correct", "is_correct", "correctness", "label"),
}
_TRUE = ("true", "correct", "yes", "1")
_FALSE = ("false", "wrong", "incorrect", "no", "0")
_FORMAT_REQUEST = re.compile(r"\s*Please also give your final number in the format of .*\Z", re.S)


def _text(row: dict, column: str) -> str:
    value = row.get(column)
    if not isinstance(value, str) or not value.strip():
        raise BadRow(f"field {column!r} must be a non-empty string")
    check_writable(column, value)
    return value


def _rows(source: Path, label: str) -> list[Row]:
    if not source.is_file():
        raise DatasetError(f"{label}: file {source} not found")
    if not source.name.endswith(FILE_SUFFIXES):
        raise DatasetError(f"{label}: {source} must end in .jsonl, .json or .parquet")
    return files.read_rows(source, label)


def _hub(repo: str, config: str | None, split: str) -> list[Row]:
    try:
        data = hub.hub_rows(repo, config, split)
        rows = []
        for i, r in enumerate(data):
            ok = isinstance(r, dict)
            rows.append(
                Row(str(i), f"{repo}/{split}:row {i}", dict(r) if ok else None, None if ok else "not a mapping")
            )
        return rows
    except DatasetError:
        raise
    except Exception as e:  # noqa: BLE001 - network, cache or format problems
        raise DatasetError(
            f"could not load {repo} ({split}) from the hub: {e}; pass a local copy as source=PATH"
        ) from None


def _collect(rows: list[Row], make: Callable[[Row], dict]) -> tuple[list[dict], list[str]]:
    records: list[dict] = []
    problems: list[str] = []
    seen: dict[str, str] = {}
    for r in rows:
        if r.problem is not None:
            problems.append(f"{r.where}: {r.problem}")
            continue
        if r.note is not None:
            problems.append(f"{r.where}: {r.note}")
        try:
            rec = make(r)
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
    return records, problems


# --------------------------------------------------------------------------------------------
# ProcessBench


def _processbench_record(r: Row, split: str) -> dict:
    row = r.data or {}
    sid = row.get("id")
    if not isinstance(sid, str) or not sid.strip():
        raise BadRow("field 'id' must be a non-empty string")
    check_writable("id", sid)
    problem = _text(row, "problem")
    steps = row.get("steps")
    if not isinstance(steps, list) or not steps or not all(isinstance(s, str) for s in steps):
        raise BadRow("field 'steps' must be a non-empty list of strings")
    for s in steps:
        check_writable("steps", s)
    label = row.get("label")
    if isinstance(label, bool) or not isinstance(label, int) or not -1 <= label < len(steps):
        raise BadRow(f"field 'label' must be -1 or a step index below {len(steps)}, got {label!r}")
    final = row.get("final_answer_correct")
    if not isinstance(final, bool):
        raise BadRow(f"field 'final_answer_correct' must be true or false, got {final!r}")
    generator = row.get("generator")
    if generator is not None and not isinstance(generator, str):
        raise BadRow("field 'generator' must be a string")
    return {
        "id": f"processbench/{split}/{sid.strip()}",
        "source_id": sid.strip(),
        "dataset": "processbench",
        "split": split,
        "generator": generator,
        "problem": problem,
        "steps": list(steps),
        "final_answer_correct": final,
        "label": label,
    }


def load_processbench(split: str, source: str | Path | None = None) -> tuple[list[dict], list[str]]:
    """ProcessBench records of one split and the problems found (see the module docstring)."""
    if split not in PROCESSBENCH_SPLITS:
        raise DatasetError(f"ProcessBench has splits {', '.join(PROCESSBENCH_SPLITS)}, not {split!r}")
    if source is None:
        rows = _hub(PROCESSBENCH_HUB, None, split)
    else:
        path = Path(source).expanduser()
        if path.is_dir():
            candidates = [path / f"{split}{suffix}" for suffix in FILE_SUFFIXES]
            path = next((c for c in candidates if c.is_file()), path / f"{split}.json")
        rows = _rows(path, "ProcessBench")
    return _collect(rows, lambda r: _processbench_record(r, split))


# --------------------------------------------------------------------------------------------
# MathCritique


def split_alpaca_feedback(instruction: str, output: str) -> dict[str, str]:
    """Question, solution, critique and refinement of one alpaca feedback row.

    Layout: ``<question> [format request]\\n\\nAssistant:<solution>\\n<|end_of_text|>\\nHuman:
    <refinement request>\\n\\n<critique>``, ``output`` = the refined solution.
    """
    head, sep, rest = instruction.partition("\n\nAssistant:")
    if not sep:
        raise BadRow("alpaca row without '\\n\\nAssistant:' after the question")
    solution, sep, human = rest.partition("\nHuman:")
    if not sep:
        raise BadRow("alpaca row without '\\nHuman:' before the critique")
    _, sep, critique = human.partition("\n\n")
    if not sep or not critique.strip():
        raise BadRow("alpaca row without a critique after the refinement request")
    question = _FORMAT_REQUEST.sub("", head).strip()
    solution = solution.replace("<|end_of_text|>", "").strip()
    if not question or not solution or not output.strip():
        raise BadRow("alpaca row with an empty question, solution or output")
    return {"question": question, "solution": solution, "critique": critique.strip(), "refinement": output.strip()}


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    text = value.strip().lower() if isinstance(value, str) else None
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise BadRow(f"correctness value {value!r} is not true/false")


def _critique_record(r: Row, dataset: str, split: str) -> dict:
    row = r.data or {}
    if "instruction" in row and "output" in row and not any(c in row for c in CRITIQUE_COLUMNS["critique"]):
        parts = split_alpaca_feedback(_text(row, "instruction"), _text(row, "output"))
        fields: dict[str, Any] = {**parts, "correct": None, "format": "alpaca"}
    else:

        def pick(name: str, required: bool) -> Any:
            column = next((c for c in CRITIQUE_COLUMNS[name] if row.get(c) is not None), None)
            if column is None:
                if required:
                    raise BadRow(f"no {name} field (tried {', '.join(CRITIQUE_COLUMNS[name])})")
                return None
            return row[column] if name == "correct" else _text(row, column)

        fields = {
            "question": pick("question", True),
            "solution": pick("solution", True),
            "critique": pick("critique", True),
            "refinement": pick("refinement", False),
            "correct": _as_bool(pick("correct", False)),
            "format": "columns",
        }
    key = row.get("id")
    key = key.strip() if isinstance(key, str) and key.strip() else r.key
    return {"id": f"{dataset}/{split}/{key}", "dataset": dataset, "split": split, **fields}


def load_critiques(
    source: str | Path | None = None, split: str = "train", dataset: str = "mathcritique"
) -> tuple[list[dict], list[str]]:
    """MathCritique critique records and the problems found (see the module docstring)."""
    rows = _hub(MATHCRITIQUE_HUB, None, split) if source is None else _rows(Path(source).expanduser(), "MathCritique")
    return _collect(rows, lambda r: _critique_record(r, dataset, split))
