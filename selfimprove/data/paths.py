"""Where local data lives: under a data folder the caller names (the knob DATA_DIR, resolved by
the command; default the project's ``data/``, :data:`DEFAULT_DATA_DIR`).

Layout expected under the data folder (every part optional)::

    gsm8k/train.jsonl, gsm8k/test.jsonl                  GSM8K (question, answer)
    math500/test.jsonl                                    MATH-500 (problem, solution, answer, ...)
    mathcritique-samples/gsm8k-critique-refine-100.json   the paper's released feedback examples
    mathcritique-samples/math-critique-refine-100.json    (LLaMA-Factory alpaca rows)

``scripts/fetch_feedback.py`` places the two feedback files; ``data/README.md`` says where the
others come from.
"""

from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA_DIR = PROJECT_ROOT / "data"

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


def where_hint(folder: Path) -> str:
    """Which data folder was used, for error messages."""
    if Path(folder) == DEFAULT_DATA_DIR:
        return f"the project's data/ folder ({DEFAULT_DATA_DIR}); set DATA_DIR to use another"
    return f"DATA_DIR={folder}"


def local_file(name: str, split: str, folder: Path = DEFAULT_DATA_DIR) -> Path:
    """The local copy of dataset ``name`` (``gsm8k`` or ``math500``) for ``split`` under ``folder``."""
    template, _ = LOCAL_FILES[name]
    return Path(folder) / template.format(split=split)
