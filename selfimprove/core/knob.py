"""The knob machinery: value parsers, checks, and the :func:`knob` field that declares one knob.

A knob is an environment variable of the drivers. Its declaration (one dataclass field of
:class:`~selfimprove.core.config.Config` or of one of its driver tables) carries the default, the
parser, the check, the meaning and the drivers that have it; :mod:`selfimprove.core.config` loads
and checks them all in one pass.
"""

from __future__ import annotations

import math
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

# the drivers (a knob's scopes); "stage" is a stage started by hand, which sees every knob
INFERENCE, EVALUATE, CRITIC, SELFTALK, STAGE = "inference", "evaluate", "critic", "selftalk", "stage"
SCOPES = (INFERENCE, EVALUATE, CRITIC, SELFTALK)
ALL = frozenset(SCOPES)
SELFIMPROVE = frozenset({INFERENCE, EVALUATE})
ONLY_INFERENCE, ONLY_EVALUATE = frozenset({INFERENCE}), frozenset({EVALUATE})
ONLY_CRITIC, ONLY_SELFTALK = frozenset({CRITIC}), frozenset({SELFTALK})


# ---------------------------------------------------------------------- value types and checks
def as_int(s: str) -> int:
    return int(s.strip())


def as_float(s: str) -> float:
    v = float(s.strip())
    if not math.isfinite(v):
        raise ValueError
    return v


def as_flag(s: str) -> bool:
    if s.strip() not in ("0", "1"):
        raise ValueError
    return s.strip() == "1"


def as_ints(s: str) -> tuple[int, ...]:
    return tuple(int(t) for t in s.split())


def as_words(s: str) -> tuple[str, ...]:
    return tuple(s.split())


EMPTY: dict[Callable[[str], Any], Any] = {str: "", as_words: ()}
TYPE_NAMES: dict[Callable[[str], Any], str] = {
    as_int: "an integer",
    as_float: "a number",
    as_flag: "0 or 1",
    as_ints: "integers separated by spaces",
}


# Upper bounds of the count knobs: a typo with extra zeros (sample_num=10000000000) is refused
# before any stage allocates its per-item lists, not after it has exhausted memory.
MAX_ITERATIONS = 100  # iterations, critique-refine rounds, rewrites of a step
MAX_PER_ITEM = 1024  # samples per question, refinements per critique, chains, paths, processes
MAX_ITEMS = 1_000_000  # questions per dataset, responses per class, rows, items per chunk
MAX_TOKENS = 1_048_576  # new tokens, context length


def at_least(lo: float, at_most: int | None = None, unit: str = "") -> Callable[[Any], str | None]:
    """``v >= lo``; with ``at_most`` (every count knob) also ``v <= at_most``, counted in ``unit``."""

    def check(v: Any) -> str | None:
        if v is None:
            return None
        if v < lo:
            return f"must be >= {lo:g}"
        if at_most is not None and v > at_most:
            what = f" {unit}" if unit else ""
            return f"must be between {lo:g} and {at_most}{what} (a larger value would not fit one machine)"
        return None

    return check


def in_range(lo: float, hi: float) -> Callable[[Any], str | None]:
    return lambda v: None if lo < v <= hi else f"must be in ({lo:g}, {hi:g}]"


def one_of(*choices: Any) -> Callable[[Any], str | None]:
    return lambda v: None if v in choices else f"must be one of {', '.join(map(str, choices))}"


def iterations(v: tuple[int, ...] | None) -> str | None:
    if not v:
        return None
    if min(v) < 0:
        return "iterations must be >= 0"
    return None if max(v) <= MAX_ITERATIONS else f"iterations must be between 0 and {MAX_ITERATIONS}"


def key_values(v: str) -> str | None:
    bad = [t for t in v.split() if "=" not in t or t.startswith("=")]
    return f"expects key=value items separated by spaces (bad: {' '.join(bad)})" if bad else None


@dataclass(frozen=True)
class Knob:
    env: str  # the environment variable (and shell variable) name
    default: Any
    meaning: str
    parse: Callable[[str], Any] = str
    check: Callable[[Any], str | None] | None = None
    scopes: frozenset[str] = SELFIMPROVE  # drivers that have this knob
    export: frozenset[str] = frozenset()  # drivers that export it (stages and evaluate-all.sh inherit it)
    empty: bool = False  # an empty value is a value (None/""), not "use the default"
    derive: Callable[[dict[str, Any]], Any] | None = None  # default computed from other knobs
    per_scope: Mapping[str, Any] = field(default_factory=dict)  # a different default in one driver


def knob(env: str, default: Any, meaning: str, **kw: Any) -> Any:
    return field(default=default, metadata={"knob": Knob(env, default, meaning, **kw)})


def gpu_profile(_: dict) -> str:
    if shutil.which("nvidia-smi"):
        try:
            ok = subprocess.run(["nvidia-smi", "-L"], capture_output=True, timeout=20).returncode == 0
        except (OSError, subprocess.SubprocessError):
            ok = False
        return "gpu" if ok else "cpu"
    return "cpu"
