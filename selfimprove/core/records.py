"""Record types of a run and their ids: built and parsed here, nowhere else.

Every file of a run is JSON Lines keyed by a stable string ``id``; an id names where the record
comes from, so a rerun can tell what exists and what is missing:

==================  ==============================  ============================================
record              id                              example
==================  ==============================  ============================================
question            ``<qid>``                       ``gsm8k/train/12``
sample              ``<qid>/s<j>``                  ``gsm8k/train/12/s0``
critique            ``<sample id>/c<k>``            ``gsm8k/train/12/s0/c0``
refinement          ``<critique id>/r<k>``          ``gsm8k/train/12/s0/c0/r1``
chain step          ``<qid>/r<round>``              ``math500/test/7/r2`` (round 0 = greedy)
==================  ==============================  ============================================

A chain step's critique and refinement take the chain step's id as their sample id
(``<qid>/r<round>/c0``, ``<qid>/r<round>/c0/r0``). Question ids may contain ``/``; the parsers
therefore read an id from the right and are told which kind they parse.

The ``TypedDict`` classes document the fields each kind carries (``total=False``: producers add
more, e.g. ``sampling`` or ``grader``); the ``*_FIELDS`` tuples are what a reader requires.
"""

from __future__ import annotations

import re
from typing import Any, TypedDict

# ---------------------------------------------------------------------- record types


class Question(TypedDict, total=False):
    id: str
    dataset: str
    dataset_type: str  # "gsm8k" | "math": the answer format
    question: str
    reference: str | None
    gold: str
    level: int | None


class Sample(TypedDict, total=False):
    id: str  # <qid>/s<j>
    qid: str
    index: int  # j
    dataset: str | None
    dataset_type: str
    level: int | None
    question: str
    gold: str
    model: str
    sampling: dict[str, Any]
    response: str
    empty: bool
    pred: str | None
    correct: bool
    grader: str


class Critique(TypedDict, total=False):
    id: str  # <sample id>/c<k>
    sample_id: str
    qid: str
    critic_model: str
    sampling: dict[str, Any]
    critique: str
    verdict: str | None  # "correct" | "wrong" | None (format not followed)
    follows_format: bool
    step_verdicts: list[str]
    empty: bool


class Refinement(TypedDict, total=False):
    id: str  # <critique id>/r<k>
    critique_id: str
    sample_id: str
    qid: str
    dataset: str | None
    dataset_type: str
    level: int | None
    gold: str
    model: str
    sampling: dict[str, Any]
    response: str
    empty: bool
    shortcut: bool  # True: passes the shortcut barrier
    pred: str | None
    correct: bool
    grader: str
    kept: bool


class ChainStep(TypedDict, total=False):
    id: str  # <qid>/r<round>
    qid: str
    round: int
    sample_id: str
    response: str
    pred: str | None
    correct: bool
    verdict: str | None


QUESTION_FIELDS = ("id", "dataset_type", "question", "gold")
SAMPLE_FIELDS = ("id", "qid", "question", "response", "correct")
CRITIQUE_FIELDS = ("id", "sample_id", "critique")
REFINEMENT_FIELDS = ("id", "critique_id", "sample_id", "qid", "response")
CHAIN_FIELDS = ("id", "qid", "round", "response")

# ---------------------------------------------------------------------- id builders


def sample_id(qid: str, j: int) -> str:
    return f"{qid}/s{j}"


def critique_id(sample: str, k: int) -> str:
    return f"{sample}/c{k}"


def refinement_id(critique: str, k: int) -> str:
    return f"{critique}/r{k}"


def chain_id(qid: str, round_: int) -> str:
    return f"{qid}/r{round_}"


def sample_ids(qid: str, n: int) -> list[str]:
    return [sample_id(qid, j) for j in range(n)]


def critique_ids(sample: str, n: int) -> list[str]:
    return [critique_id(sample, k) for k in range(n)]


def refinement_ids(critique: str, n: int) -> list[str]:
    return [refinement_id(critique, k) for k in range(n)]


# ---------------------------------------------------------------------- id parsers


def _split(rid: str, tag: str, kind: str) -> tuple[str, int]:
    head, sep, num = rid.rpartition(f"/{tag}")
    if not sep or not head or not num.isdigit():
        raise ValueError(f"{rid!r} is not a {kind} id (expected '<...>/{tag}<number>')")
    return head, int(num)


def parse_sample_id(rid: str) -> tuple[str, int]:
    """``<qid>/s<j>`` -> ``(qid, j)``."""
    return _split(rid, "s", "sample")


def parse_critique_id(rid: str) -> tuple[str, int]:
    """``<sample id>/c<k>`` -> ``(sample id, k)``."""
    return _split(rid, "c", "critique")


def parse_refinement_id(rid: str) -> tuple[str, int]:
    """``<critique id>/r<k>`` -> ``(critique id, k)``."""
    return _split(rid, "r", "refinement")


def parse_chain_id(rid: str) -> tuple[str, int]:
    """``<qid>/r<round>`` -> ``(qid, round)``."""
    return _split(rid, "r", "chain step")


def sample_index(rid: str) -> int:
    """The ``j`` of a sample id ``<qid>/s<j>``."""
    return parse_sample_id(rid)[1]


_DIGITS = re.compile(r"(\d+)")


def natural_key(rid: str) -> list[Any]:
    """Sort key that orders the numbers inside ids numerically (``s2`` before ``s10``)."""
    return [int(t) if t.isdigit() else t for t in _DIGITS.split(rid)]
