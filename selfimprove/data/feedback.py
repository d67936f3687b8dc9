"""The paper's released feedback examples: where they are, and checking their shape.

The authors released 100 GSM8K and 100 MATH "GPT-4 feedback" examples (iteration 0 of
critique-in-the-loop training) as LLaMA-Factory *alpaca* rows: ``instruction`` holds the
question, a flawed solution and a step-level critique in the refinement prompt, ``output`` the
refined solution, ``input`` is empty. They live in ``<data folder>/mathcritique-samples/``
(see :mod:`selfimprove.data.paths`); ``scripts/fetch_feedback.py`` places them there.

Command: ``python -m selfimprove feedback gsm8k math`` prints the files for those dataset types,
one per line (exit 1, with the reason, when none is found; :mod:`selfimprove.stages.feedback`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path

from selfimprove.core.errors import DataError
from selfimprove.data.paths import DEFAULT_DATA_DIR, FEEDBACK_FILES, FEEDBACK_SUBDIR, where_hint

log = logging.getLogger(__name__)
ALPACA_TEXT_KEYS = ("instruction", "input", "output", "system")


class FeedbackError(DataError):
    """A feedback file is missing or does not have the alpaca shape."""


class FeedbackFilesMissing(FeedbackError, FileNotFoundError):
    """None of the requested feedback files is present; the message says where they go."""


def feedback_files(dataset_types: Iterable[str], base: Path = DEFAULT_DATA_DIR) -> list[Path]:
    """The released feedback files for the training datasets' types.

    ``gsm8k`` -> ``gsm8k-critique-refine-100.json`` and ``math`` ->
    ``math-critique-refine-100.json``, under ``<base>/mathcritique-samples/`` (``base``: the data
    folder). Each type counts once, in the order given, so training on both
    types gets both files. A type whose file is absent is left out with a warning (logged);
    when no file is found, :class:`FeedbackFilesMissing` names the files looked for and how to
    get them.
    """
    folder = Path(base) / FEEDBACK_SUBDIR
    wanted: list[str] = []
    for t in dataset_types:
        if t not in FEEDBACK_FILES:
            raise ValueError(f"unknown dataset type {t!r} (expected one of {', '.join(FEEDBACK_FILES)})")
        if t not in wanted:
            wanted.append(t)
    paths = [folder / FEEDBACK_FILES[t] for t in wanted]
    found = [p for p in paths if p.is_file()]
    hint = "place them with: python scripts/fetch_feedback.py --from DIR (or --url URL)"
    if not found:
        looked = ", ".join(map(str, paths)) or "(no dataset types given)"
        raise FeedbackFilesMissing(
            f"no feedback file found (looked for {looked}; data folder: {where_hint(base)}); {hint}"
        )
    for p in paths:
        if p not in found:
            log.warning("feedback file %s not found; training without it (%s)", p, hint)
    return found


def check_alpaca_rows(rows: object, source: str) -> list[str]:
    """Problems with an alpaca feedback file's content (empty list: the shape is right).

    The file must be a non-empty JSON array of objects, each with a non-empty string
    ``instruction`` and ``output``; ``input`` and ``system``, when present, are strings.
    """
    if not isinstance(rows, list):
        return [f"{source}: expected a JSON array of alpaca rows, got {type(rows).__name__}"]
    if not rows:
        return [f"{source}: the array is empty"]
    problems = []
    for i, row in enumerate(rows):
        where = f"{source}[{i}]"
        if not isinstance(row, dict):
            problems.append(f"{where}: expected an object, got {type(row).__name__}")
            continue
        for key in ("instruction", "output"):
            value = row.get(key)
            if not isinstance(value, str) or not value.strip():
                problems.append(f"{where}: {key!r} must be a non-empty string")
        for key in ("input", "system"):
            if key in row and not isinstance(row[key], str):
                problems.append(f"{where}: {key!r} must be a string")
        for key in ALPACA_TEXT_KEYS:
            value = row.get(key)
            if isinstance(value, str):
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError:
                    problems.append(f"{where}: {key!r} holds a lone surrogate")
    return problems


def parse_feedback(data: bytes, source: str) -> list[dict]:
    """Decode and check one feedback file's bytes; :class:`FeedbackError` says what is wrong."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise FeedbackError(f"{source}: not UTF-8 (byte {e.start})") from None
    try:
        rows = json.loads(text)
    except json.JSONDecodeError as e:
        raise FeedbackError(f"{source}:{e.lineno}: invalid JSON ({e.msg})") from None
    except RecursionError:
        raise FeedbackError(f"{source}: JSON nested too deep") from None
    problems = check_alpaca_rows(rows, source)
    if problems:
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise FeedbackError("; ".join(problems[:5]) + more)
    return rows  # checked above: a list of dicts
