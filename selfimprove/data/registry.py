"""The named datasets, as declarative entries: what each name loads, from where, with which fields.

A spec such as ``gsm8k`` or ``math500-local`` names one :class:`Entry`; ``file:`` specs are not
in the registry (their fields come from the spec's mapping or are inferred from the file).
Adding a dataset that fits an existing kind is one more entry here.
"""

from __future__ import annotations

from dataclasses import dataclass

from selfimprove.data.records import Fields

GSM8K_FIELDS = Fields(question="question", reference="answer")
MATH_FIELDS = Fields(question="problem", reference="solution", level="level", subject="type")
MATH500_FIELDS = Fields(
    question="problem", reference="solution", gold="answer", level="level", subject="subject", id="unique_id"
)

GSM8K_HUB = ("openai/gsm8k", "main")
MATH_HUB_PRIMARY = "EleutherAI/hendrycks_math"
MATH_HUB_FALLBACK = ("DigitalLearningGmbH/MATH-lighteval", "default")
MATH500_HUB = "HuggingFaceH4/MATH-500"
MATH_SUBJECTS = (
    "algebra",
    "counting_and_probability",
    "geometry",
    "intermediate_algebra",
    "number_theory",
    "prealgebra",
    "precalculus",
)


@dataclass(frozen=True)
class Entry:
    """One named dataset.

    ``kind`` is ``synthetic`` (built-in generator), ``hub`` (``datasets.load_dataset``),
    ``math-hub`` (MATH: seven subject configs, with a fallback mirror) or ``local`` (a file
    under the data folder, :data:`selfimprove.data.paths.LOCAL_FILES`).
    """

    name: str
    kind: str
    dataset: str  # short name in records and ids
    dtype: str  # gsm8k | math
    splits: tuple[str, ...]
    description: str
    fields: Fields | None = None
    repo: str | None = None
    config: str | None = None
    local: str | None = None  # key of paths.LOCAL_FILES
    difficulty: str = "standard"  # synthetic entries


ENTRIES: dict[str, Entry] = {
    e.name: e
    for e in (
        Entry(
            "synthetic",
            "synthetic",
            "synthetic",
            "gsm8k",
            ("train", "test"),
            "built-in synthetic multi-step arithmetic problems (GSM8K format, levels 1-5); "
            "N defaults to 200 train / 100 test",
        ),
        Entry(
            "synthetic-easy",
            "synthetic",
            "synthetic-easy",
            "gsm8k",
            ("train", "test"),
            "easy synthetic problems (1-2 steps, numbers below 50; same as synthetic[:N]?difficulty=easy)",
            difficulty="easy",
        ),
        Entry(
            "gsm8k",
            "hub",
            "gsm8k",
            "gsm8k",
            ("train", "test"),
            "GSM8K from the Hugging Face hub (openai/gsm8k, config main)",
            GSM8K_FIELDS,
            *GSM8K_HUB,
        ),
        Entry(
            "math",
            "math-hub",
            "math",
            "math",
            ("train", "test"),
            f"MATH from the Hugging Face hub ({MATH_HUB_PRIMARY}, falling back to {MATH_HUB_FALLBACK[0]})",
            MATH_FIELDS,
        ),
        Entry(
            "math500",
            "hub",
            "math500",
            "math",
            ("test",),
            f"MATH-500 from the Hugging Face hub ({MATH500_HUB}; test only)",
            MATH500_FIELDS,
            MATH500_HUB,
        ),
        Entry(
            "gsm8k-local",
            "local",
            "gsm8k",
            "gsm8k",
            ("train", "test"),
            "a local GSM8K copy, $DATA_DIR/gsm8k/{split}.jsonl (default data/)",
            GSM8K_FIELDS,
            local="gsm8k",
        ),
        Entry(
            "math500-local",
            "local",
            "math500",
            "math",
            ("test",),
            "a local MATH-500 copy, $DATA_DIR/math500/test.jsonl (default data/; test only)",
            MATH500_FIELDS,
            local="math500",
        ),
    )
}
