"""Where local data lives: the project's ``data/`` folder, or ``$DATA_DIR`` when set.

Layout expected under the data folder (every part optional)::

    gsm8k/train.jsonl, gsm8k/test.jsonl                  GSM8K (question, answer)
    math500/test.jsonl                                    MATH-500 (problem, solution, answer, ...)
    mathcritique-samples/gsm8k-critique-refine-100.json   the paper's released feedback examples
    mathcritique-samples/math-critique-refine-100.json    (LLaMA-Factory alpaca rows)

``scripts/fetch_feedback.py`` places the two feedback files; ``data/README.md`` says where the
others come from.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR_ENV = "DATA_DIR"

FEEDBACK_SUBDIR = "mathcritique-samples"
#: dataset type -> the released feedback file for it
FEEDBACK_FILES = {
    "gsm8k": "gsm8k-critique-refine-100.json",
    "math": "math-critique-refine-100.json",
}
#: ``*-local`` spec name -> (file under the data folder, with ``{split}``; splits it has)
LOCAL_FILES = {
    "gsm8k": ("gsm8k/{split}.jsonl", ("train", "test")),
    "math500": ("math500/test.jsonl", ("test",)),
}


def data_dir() -> Path:
    """``$DATA_DIR`` when set and non-empty, else ``<project root>/data``."""
    env = os.environ.get(DATA_DIR_ENV, "").strip()
    return Path(env).expanduser() if env else PROJECT_ROOT / "data"


def shared_data_dir() -> Path:
    """Former name of :func:`data_dir` (kept for callers of the old API)."""
    return data_dir()


def where_hint() -> str:
    """How the data folder was chosen, for error messages."""
    env = os.environ.get(DATA_DIR_ENV, "").strip()
    if env:
        return f"{DATA_DIR_ENV}={env}"
    return f"the project's data/ folder ({PROJECT_ROOT / 'data'}); set {DATA_DIR_ENV} to use another"


def local_file(name: str, split: str) -> Path:
    """The local copy of dataset ``name`` (``gsm8k`` or ``math500``) for ``split``."""
    template, _ = LOCAL_FILES[name]
    return data_dir() / template.format(split=split)
