"""Joins: graded generation records -> validated per-question data (:class:`QuestionData`).

Every input record refers to a question (``qid``) and, for critiques and refinements, to a pool
sample; :func:`prepare` checks those references, the pool sizes and the chains, and raises
:class:`ValueError` naming the offending id. A question's difficulty level is its own ``level``
where the dataset has one, else a bin of the actor's sampled accuracy (:func:`level_from_accuracy`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from selfimprove.evaluation.estimators import Answer

#: Parseable critic verdicts on a final answer.
VERDICTS: tuple[str, ...] = ("correct", "wrong")

#: Difficulty level from the actor's sampled accuracy ``c / N`` on a question:
#: ``(level, lower bound inclusive)``, checked in order; anything below 0.2 is level 5.
LEVEL_BINS: tuple[tuple[int, Fraction], ...] = (
    (1, Fraction(4, 5)),  # acc >= 0.8
    (2, Fraction(3, 5)),  # 0.6 <= acc < 0.8
    (3, Fraction(2, 5)),  # 0.4 <= acc < 0.6
    (4, Fraction(1, 5)),  # 0.2 <= acc < 0.4
)
HARDEST_LEVEL = 5  # acc < 0.2


def level_from_accuracy(n_correct: int, n: int) -> int:
    """Difficulty level 1 (easy) .. 5 (hard) from the sampled accuracy ``n_correct / n``.

    Level 1: acc >= 0.8; 2: 0.6 <= acc < 0.8; 3: 0.4 <= acc < 0.6; 4: 0.2 <= acc < 0.4;
    5: acc < 0.2. Compared exactly (as fractions), so bin edges are never blurred by
    floating-point rounding.
    """
    acc = Fraction(n_correct, n)
    for level, lower in LEVEL_BINS:
        if acc >= lower:
            return level
    return HARDEST_LEVEL


@dataclass
class QuestionData:
    """Everything known about one question, validated and in index / round order."""

    qid: str
    dataset: str
    dataset_type: str
    level: int
    level_source: str  # "dataset" or "pool_accuracy"
    pool: list[Answer]
    greedy: Answer | None = None
    verdicts: list[str | None] | None = None
    refined: list[Answer] | None = None
    chain: list[Answer] | None = None  # rounds 0..R, last answer carried forward


def _records(records: Iterable[Mapping] | None) -> list[Mapping]:
    return list(records) if records else []


def _check_ids(records: Sequence[Mapping], kind: str) -> None:
    seen: set = set()
    for r in records:
        if "id" not in r:
            raise ValueError(f"{kind} record without an 'id': {dict(r)!r}")
        if r["id"] in seen:
            raise ValueError(f"duplicate {kind} id {r['id']!r}")
        seen.add(r["id"])


def _check_qids(records: Sequence[Mapping], kind: str, qids: Mapping[str, Any]) -> None:
    for r in records:
        if r.get("qid") not in qids:
            raise ValueError(f"{kind} {r['id']!r} refers to unknown question {r.get('qid')!r}")


def _answer(r: Mapping, kind: str) -> Answer:
    if not isinstance(r.get("correct"), bool):
        raise ValueError(f"{kind} {r['id']!r} is not graded ('correct' must be true or false)")
    return Answer(pred=r.get("pred"), correct=r["correct"])


def _verdict(r: Mapping, kind: str) -> str | None:
    v = r.get("verdict")
    if v is not None and v not in VERDICTS:
        raise ValueError(f"{kind} {r['id']!r} has invalid verdict {v!r}; expected {VERDICTS} or null")
    return v


def _per_sample(
    records: Sequence[Mapping], kind: str, sample_ids: Mapping[str, tuple[str, int]]
) -> dict[tuple[str, int], Mapping]:
    """Index critiques / refinements (keyed by pool-sample id) by ``(qid, index)``."""
    out = {}
    for r in records:
        key = sample_ids.get(r["id"])
        if key is None:
            raise ValueError(f"{kind} {r['id']!r} refers to no pool sample")
        if r.get("qid") != key[0]:
            raise ValueError(f"{kind} {r['id']!r} has qid {r.get('qid')!r}, its sample has {key[0]!r}")
        out[key] = r
    for sid, key in sample_ids.items():
        if key not in out:
            raise ValueError(f"missing {kind} for pool sample {sid!r}")
    return out


def prepare(
    questions: Iterable[Mapping],
    greedy: Iterable[Mapping] | None,
    pool: Iterable[Mapping],
    critiques: Iterable[Mapping] | None,
    refinements: Iterable[Mapping] | None,
    chains: Iterable[Mapping] | None,
    rounds: int | None = None,
) -> tuple[list[QuestionData], int, int | None]:
    """Validate the records and join them per question.

    Returns ``(questions, N, R)``: the joined questions in input order, the pool size and
    the number of sequential rounds (``None`` without chains). ``R`` is the largest round
    present, or ``rounds`` if that is larger. Raises :class:`ValueError` naming the
    offending id for duplicated ids, records referring to unknown questions or samples,
    missing records, pools of unequal size, and malformed chains.
    """
    questions = _records(questions)
    greedy, pool = _records(greedy), _records(pool)
    critiques, refinements, chains = _records(critiques), _records(refinements), _records(chains)

    _check_ids(questions, "question")
    qmap = {q["id"]: q for q in questions}
    if not questions:
        raise ValueError("no questions given")
    for kind, recs in (
        ("greedy sample", greedy),
        ("pool sample", pool),
        ("critique", critiques),
        ("refinement", refinements),
        ("chain record", chains),
    ):
        _check_ids(recs, kind)
        _check_qids(recs, kind, qmap)

    # Pool: equal size N per question, indices 0..N-1.
    by_q: dict[str, dict[int, Mapping]] = {qid: {} for qid in qmap}
    sample_ids: dict[str, tuple[str, int]] = {}
    for r in pool:
        idx = r.get("index")
        if not isinstance(idx, int) or isinstance(idx, bool) or idx < 0:
            raise ValueError(f"pool sample {r['id']!r} has invalid index {idx!r}")
        if idx in by_q[r["qid"]]:
            raise ValueError(f"pool sample {r['id']!r} repeats index {idx} of question {r['qid']!r}")
        by_q[r["qid"]][idx] = r
        sample_ids[r["id"]] = (r["qid"], idx)
    n_pool = len(by_q[questions[0]["id"]])
    if n_pool == 0:
        raise ValueError(f"question {questions[0]['id']!r} has no pool samples")
    for qid, samples in by_q.items():
        if len(samples) != n_pool:
            raise ValueError(
                f"pool of question {qid!r} has {len(samples)} samples, expected {n_pool} "
                "(every question needs a pool of the same size)"
            )
        if set(samples) != set(range(n_pool)):
            raise ValueError(f"pool of question {qid!r} has indices {sorted(samples)}, expected 0..{n_pool - 1}")

    greedy_by_q: dict[str, Mapping] = {}
    for r in greedy:
        if r["qid"] in greedy_by_q:
            raise ValueError(f"greedy sample {r['id']!r}: question {r['qid']!r} already has one")
        greedy_by_q[r["qid"]] = r
    if greedy:
        for qid in qmap:
            if qid not in greedy_by_q:
                raise ValueError(f"missing greedy sample for question {qid!r}")

    crit = _per_sample(critiques, "critique", sample_ids) if critiques else None
    refs = _per_sample(refinements, "refinement", sample_ids) if refinements else None

    # Chains: rounds 0..r_q without gaps per question.
    chain_by_q: dict[str, dict[int, Mapping]] = {}
    for r in chains:
        rnd = r.get("round")
        if not isinstance(rnd, int) or isinstance(rnd, bool) or rnd < 0:
            raise ValueError(f"chain record {r['id']!r} has invalid round {rnd!r}")
        chain = chain_by_q.setdefault(r["qid"], {})
        if rnd in chain:
            raise ValueError(f"chain record {r['id']!r} repeats round {rnd} of question {r['qid']!r}")
        chain[rnd] = r
        _verdict(r, "chain record")
    n_rounds = None
    if chains:
        for qid in qmap:
            chain = chain_by_q.get(qid)
            if not chain:
                raise ValueError(f"missing sequential chain for question {qid!r}")
            if set(chain) != set(range(len(chain))):
                raise ValueError(f"chain of question {qid!r} has rounds {sorted(chain)}, expected 0..{len(chain) - 1}")
        n_rounds = max(max(c) for c in chain_by_q.values())
        if rounds is not None:
            n_rounds = max(n_rounds, rounds)

    out = []
    for q in questions:
        qid = q["id"]
        samples = [_answer(by_q[qid][i], "pool sample") for i in range(n_pool)]
        level = q.get("level")
        if level is not None:
            if not isinstance(level, int) or isinstance(level, bool):
                raise ValueError(f"question {qid!r} has non-integer level {level!r}")
            source = "dataset"
        else:
            level = level_from_accuracy(sum(s.correct for s in samples), n_pool)
            source = "pool_accuracy"
        qd = QuestionData(
            qid=qid,
            dataset=str(q.get("dataset", "")),
            dataset_type=str(q.get("dataset_type", "")),
            level=level,
            level_source=source,
            pool=samples,
            greedy=_answer(greedy_by_q[qid], "greedy sample") if greedy else None,
        )
        if crit is not None:
            qd.verdicts = [_verdict(crit[(qid, i)], "critique") for i in range(n_pool)]
        if refs is not None:
            qd.refined = [_answer(refs[(qid, i)], "refinement") for i in range(n_pool)]
        if n_rounds is not None:
            chain = chain_by_q[qid]
            qd.chain = [_answer(chain[min(r, len(chain) - 1)], "chain record") for r in range(n_rounds + 1)]
        out.append(qd)
    return out, n_pool, n_rounds
