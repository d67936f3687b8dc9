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

The ``TypedDict`` classes declare the fields each kind carries (``total=False``: a field may be
absent; :class:`Generated` and :class:`Graded` are what the generation loop and the grader add),
so mypy checks the code that reads and writes records; the ``*_FIELDS`` tuples are what a reader
requires. :mod:`selfimprove.core.record_io` reads each kind checked against both.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, TypedDict, TypeVar

# ---------------------------------------------------------------------- record types


class Question(TypedDict, total=False):
    id: str
    dataset: str
    dataset_type: str  # "gsm8k" | "math": the answer format
    split: str  # "train" | "test"
    question: str
    reference: str | None
    gold: str
    level: int | None
    subject: str | None
    steps: list[dict[str, Any]]  # synthetic questions: each reasoning step's text, expr and value


class Generated(TypedDict, total=False):
    """What the generation loop adds to each record it writes (:mod:`selfimprove.generation.loop`)."""

    finish_reason: str | None  # "stop", "length", "unanswered" (never "error": those are not written)
    prompt_tokens: int | None
    completion_tokens: int | None
    max_tokens: int  # what the prompt left of the context window, where less than asked
    unanswered: bool  # the prompt is longer than the context window: empty, graded wrong
    unanswered_reason: str
    error: str  # why the engine failed (the failed records' list only)


class Graded(TypedDict, total=False):
    """What grading adds (:func:`selfimprove.grading.api.grade_batch`)."""

    pred: str | None
    correct: bool
    grader: str
    grade_status: str


class Sample(Generated, Graded, total=False):
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


class Critique(Generated, total=False):
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
    index: int  # keyed by the sample it judges (evaluation.joins.by_sample): that sample's j


class Refinement(Generated, Graded, total=False):
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
    kept: bool
    index: int  # keyed by the sample it refines (evaluation.joins.by_sample): that sample's j


class ChainStep(Sample, Refinement, total=False):
    """Round 0 is a sample (greedy or pool) and round r > 0 a refinement; each carries its fields."""

    id: str  # <qid>/r<round>, or <qid>/s<j>/r<round> with several chains
    round: int
    chain: int  # j: the pool sample the chain started from (0 with one chain)
    sample_id: str  # round 0: the sample; round r: the chain step refined (<...>/r<r - 1>)
    verdict: str | None  # the critic's verdict on this answer, where one was asked for
    critique_unanswered: bool


#: any record of a run (what the writers take)
Record = Question | Sample | Critique | Refinement | ChainStep
#: a record of any kind (or a plain mapping), for code that gives back the kind it was given
RecordT = TypeVar("RecordT", bound=Mapping[str, Any])


def add_fields(rec: Mapping[str, Any], fields: Mapping[str, Any]) -> None:
    """Add ``fields`` to a record of any kind: what code generic over the kinds writes into each
    (the generation and grading fields, which every kind that gets them declares)."""
    assert isinstance(rec, dict), f"a record is a dict, not {type(rec).__name__}"
    rec.update(fields)


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
