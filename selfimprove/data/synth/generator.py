"""Assembling problems from theme templates: the seeded stream, split assignment, generate().

Two difficulties share this machinery: ``standard`` (levels 1-5, numbers below 1000, the
themes of :mod:`.themes`) and ``easy`` (levels 1-2, numbers below 50, the themes of
:mod:`.easy`). Each has its own random stream, so adding the easy setting left every standard
problem unchanged.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence

from selfimprove.data.synth.easy import EASY_LEVELS, EASY_THEMES
from selfimprove.data.synth.problem import DATASET_NAME, EASY_DATASET_NAME, Ctx, Problem, Theme
from selfimprove.data.synth.themes import THEMES
from selfimprove.data.synth.vocabulary import ITEMS, MOVES

LEVELS = (1, 2, 3, 4, 5)
SPLITS = ("train", "test")
TEST_FRACTION_BUCKETS = 64  # out of 256: about a quarter of all question texts belong to test

DIFFICULTIES = ("standard", "easy")
#: difficulty -> (themes, allowed levels, dataset name, random-stream tag)
_SETTINGS: dict[str, tuple[tuple[Theme, ...], tuple[int, ...], str, str]] = {
    "standard": (THEMES, LEVELS, DATASET_NAME, "mathcritique-synthetic"),
    "easy": (EASY_THEMES, EASY_LEVELS, EASY_DATASET_NAME, "mathcritique-synthetic-easy"),
}


def levels_of(difficulty: str) -> tuple[int, ...]:
    """The levels (= numbers of steps) a difficulty allows."""
    return _settings(difficulty)[1]


def dataset_name(difficulty: str) -> str:
    """``synthetic`` for the standard problems, ``synthetic-easy`` for the easy ones."""
    return _settings(difficulty)[2]


def _settings(difficulty: str) -> tuple[tuple[Theme, ...], tuple[int, ...], str, str]:
    if difficulty not in _SETTINGS:
        raise ValueError(f"unknown difficulty {difficulty!r} (expected one of {', '.join(DIFFICULTIES)})")
    return _SETTINGS[difficulty]


def _try_problem(
    rng: random.Random, level: int, themes: Sequence[Theme] = THEMES, dataset: str = DATASET_NAME
) -> Problem | None:
    theme = rng.choices(themes, weights=[t.weight for t in themes])[0]
    ctx = Ctx(rng, theme.name, set(), item=rng.choice(ITEMS), move=rng.choice(MOVES))
    out = rng.choice(theme.starts)(ctx, None)
    if out is None:
        return None
    steps, state = [out[0]], out[1]
    while len(steps) < level:
        last = len(steps) == level - 1
        candidates = list(theme.follow) + (list(theme.final) if last else [])
        rng.shuffle(candidates)
        for template in candidates:
            out = template(ctx, state)
            if out is not None:
                break
        else:
            return None
        steps.append(out[0])
        state = out[1]
    question = " ".join(s.sentence for s in steps) + " " + state.question
    return Problem(level, theme.name, question, tuple(steps), dataset)


def split_of(question: str) -> str:
    """The split a question text belongs to (fixed by its text, so splits never overlap)."""
    bucket = hashlib.sha256(question.encode("utf-8")).digest()[0]
    return "test" if bucket < TEST_FRACTION_BUCKETS else "train"


def _rng_for(split: str, seed: int, tag: str = "mathcritique-synthetic") -> random.Random:
    digest = hashlib.sha256(f"{tag}/{split}/{seed}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def generate_problems(
    n: int, split: str, seed: int = 0, levels: Sequence[int] | None = None, difficulty: str = "standard"
) -> list[Problem]:
    """``n`` distinct problems of ``split``, levels cycling through ``levels`` in order.

    ``levels`` defaults to every level of the difficulty (standard: 1-5; easy: 1-2).
    """
    themes, allowed, dataset, tag = _settings(difficulty)
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r} (expected one of {', '.join(SPLITS)})")
    levels = allowed if levels is None else tuple(levels)
    if not levels or any(lv not in allowed for lv in levels):
        raise ValueError(f"levels must be a non-empty subset of {allowed} ({difficulty}), got {levels!r}")
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    rng = _rng_for(split, seed, tag)
    seen: set[str] = set()
    problems: list[Problem] = []
    while len(problems) < n:
        level = levels[len(problems) % len(levels)]
        for _ in range(10_000):
            p = _try_problem(rng, level, themes, dataset)
            if p is not None and p.question not in seen and split_of(p.question) == split:
                break
        else:  # pragma: no cover - the problem space is far larger than any practical n
            raise RuntimeError(f"could not find a new level-{level} problem after 10000 tries")
        seen.add(p.question)
        problems.append(p)
    return problems


def generate(
    n: int, split: str, seed: int = 0, levels: Sequence[int] | None = None, difficulty: str = "standard"
) -> list[dict]:
    """``n`` question records (type ``gsm8k``), balanced over ``levels``.

    The dataset is ``synthetic`` (standard) or ``synthetic-easy``. Deterministic in
    ``(n, split, seed, levels, difficulty)``; records of different splits never share a question
    text; the result for ``n`` is a prefix of the result for any larger ``n``.
    """
    problems = generate_problems(n, split, seed, levels, difficulty)
    return [p.to_record(split, i) for i, p in enumerate(problems)]
