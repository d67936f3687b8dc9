"""Assembling problems from theme templates: the seeded stream, split assignment, generate()."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence

from selfimprove.data.synth.problem import Ctx, Problem
from selfimprove.data.synth.themes import THEMES
from selfimprove.data.synth.vocabulary import ITEMS, MOVES

LEVELS = (1, 2, 3, 4, 5)
SPLITS = ("train", "test")
TEST_FRACTION_BUCKETS = 64  # out of 256: about a quarter of all question texts belong to test


def _try_problem(rng: random.Random, level: int) -> Problem | None:
    theme = rng.choices(THEMES, weights=[t.weight for t in THEMES])[0]
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
    return Problem(level, theme.name, question, tuple(steps))


def split_of(question: str) -> str:
    """The split a question text belongs to (fixed by its text, so splits never overlap)."""
    bucket = hashlib.sha256(question.encode("utf-8")).digest()[0]
    return "test" if bucket < TEST_FRACTION_BUCKETS else "train"


def _rng_for(split: str, seed: int) -> random.Random:
    digest = hashlib.sha256(f"mathcritique-synthetic/{split}/{seed}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def generate_problems(n: int, split: str, seed: int = 0, levels: Sequence[int] = LEVELS) -> list[Problem]:
    """``n`` distinct problems of ``split``, levels cycling through ``levels`` in order."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r} (expected one of {', '.join(SPLITS)})")
    levels = tuple(levels)
    if not levels or any(lv not in LEVELS for lv in levels):
        raise ValueError(f"levels must be a non-empty subset of {LEVELS}, got {levels!r}")
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    rng = _rng_for(split, seed)
    seen: set[str] = set()
    problems: list[Problem] = []
    while len(problems) < n:
        level = levels[len(problems) % len(levels)]
        for _ in range(10_000):
            p = _try_problem(rng, level)
            if p is not None and p.question not in seen and split_of(p.question) == split:
                break
        else:  # pragma: no cover - the problem space is far larger than any practical n
            raise RuntimeError(f"could not find a new level-{level} problem after 10000 tries")
        seen.add(p.question)
        problems.append(p)
    return problems


def generate(n: int, split: str, seed: int = 0, levels: Sequence[int] = LEVELS) -> list[dict]:
    """``n`` question records (dataset ``synthetic``, type ``gsm8k``), balanced over ``levels``.

    Deterministic in ``(n, split, seed, levels)``; records of different splits never share a
    question text; the result for ``n`` is a prefix of the result for any larger ``n``.
    """
    return [p.to_record(split, i) for i, p in enumerate(generate_problems(n, split, seed, levels))]
