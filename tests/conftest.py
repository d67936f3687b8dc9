"""Shared fixtures: the real reference datasets, found in ``$DATA_DIR`` (default: the project's data/).

Tests that need real data take the ``data_dir`` fixture (or ``require_data`` for particular
files) and skip, naming ``DATA_DIR``, when the data is not there. ``.ci/run`` points
``DATA_DIR`` at ``../shared/data`` so CI runs them; a fresh clone skips them.

The paper's numbers as they were collected (``paper_numbers.json``, from which
``selfimprove/evaluation/paper_reference.json`` is transcribed) are found at ``$PAPER_NUMBERS``,
else in ``$PAPER_DIR``, by default ``../shared/paper`` beside the checkout; the
``paper_numbers_file`` fixture skips, naming the path, when the file is not there.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from selfimprove.core.config import env_data_folder as _data_dir

DATA_DIR_ENV = "DATA_DIR"

ROOT = Path(__file__).resolve().parent.parent
PAPER_NUMBERS_ENV, PAPER_DIR_ENV = "PAPER_NUMBERS", "PAPER_DIR"
DEFAULT_PAPER_DIR = ROOT.parent / "shared" / "paper"
#: what a complete data folder holds (see data/README.md)
DATA_LAYOUT = (
    "gsm8k/train.jsonl",
    "gsm8k/test.jsonl",
    "math500/test.jsonl",
    "mathcritique-samples/gsm8k-critique-refine-100.json",
    "mathcritique-samples/math-critique-refine-100.json",
)


def _skip_message(base: Path, missing: list[str]) -> str:
    return (
        f"real data not found: {', '.join(missing)} missing under {base} "
        f"(set {DATA_DIR_ENV} to a folder with the layout of data/README.md; .ci/run uses ../shared/data)"
    )


@pytest.fixture
def data_dir() -> Path:
    """The data folder, when it holds at least one dataset of the expected layout."""
    base = _data_dir()
    if not any((base / rel).is_file() for rel in DATA_LAYOUT):
        pytest.skip(_skip_message(base, list(DATA_LAYOUT)))
    return base


@pytest.fixture
def require_data() -> Callable[..., Path]:
    """``require_data("gsm8k/test.jsonl", ...)``: the data folder, or skip naming what is missing."""

    def need(*relpaths: str) -> Path:
        base = _data_dir()
        missing = [rel for rel in relpaths if not (base / rel).is_file()]
        if missing:
            pytest.skip(_skip_message(base, missing))
        return base

    return need


@pytest.fixture
def shared_data(data_dir: Path) -> Path:
    """Former name of ``data_dir``."""
    return data_dir


def paper_numbers_path() -> Path:
    """``$PAPER_NUMBERS``, else ``$PAPER_DIR/paper_numbers.json`` (default ``../shared/paper``)."""
    file = os.environ.get(PAPER_NUMBERS_ENV, "").strip()
    if file:
        return Path(file).expanduser()
    folder = os.environ.get(PAPER_DIR_ENV, "").strip()
    return (Path(folder).expanduser() if folder else DEFAULT_PAPER_DIR) / "paper_numbers.json"


@pytest.fixture
def paper_numbers_file() -> Path:
    """The collected paper numbers, or skip naming where they were looked for."""
    path = paper_numbers_path()
    if not path.is_file():
        pytest.skip(
            f"the paper's collected numbers not found: {path} "
            f"(set {PAPER_NUMBERS_ENV} to the file or {PAPER_DIR_ENV} to its folder; default ../shared/paper)"
        )
    return path
