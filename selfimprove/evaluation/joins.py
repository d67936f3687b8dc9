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

from selfimprove.core.records import ChainStep, Critique, Question, RecordT, Refinement, Sample, sample_index
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


def by_sample(
    critiques: Iterable[Critique], refinements: Iterable[Refinement]
) -> tuple[list[Critique], list[Refinement]]:
    """Critiques/refinements keyed by the sample they judge, as the metrics expect."""
    crit: list[Critique] = [{**c, "id": c["sample_id"], "index": sample_index(c["sample_id"])} for c in critiques]
    refs: list[Refinement] = [{**r, "id": r["sample_id"], "index": sample_index(r["sample_id"])} for r in refinements]
    return crit, refs


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
    """Everything known about one question, validated and in index / round order.

    ``chains`` holds the question's K sequential chains as generated: chain ``j`` is the list of
    its answers at rounds ``0..r_j`` (a chain may stop early); :meth:`chain_answer` carries a
    chain's last answer forward to any later round.
    """

    qid: str
    dataset: str
    dataset_type: str
    level: int
    level_source: str  # "dataset" or "pool_accuracy"
    pool: list[Answer]
    greedy: Answer | None = None
    verdicts: list[str | None] | None = None
    critique_tokens: list[int | None] | None = None
    refined: list[Answer] | None = None
    chains: list[list[Answer]] | None = None

    def chain_answer(self, j: int, r: int) -> Answer:
        """Chain ``j``'s answer at round ``r``, the last answer carried forward past its end."""
        chain = self.sequential_chains()[j]
        return chain[min(r, len(chain) - 1)]

    def sequential_chains(self) -> list[list[Answer]]:
        if self.chains is None:
            raise ValueError(f"question {self.qid!r} has no sequential chains")
        return self.chains

    def critiqued(self) -> list[str | None]:
        if self.verdicts is None:
            raise ValueError(f"question {self.qid!r} has no critiques")
        return self.verdicts

    def refinements(self) -> list[Answer]:
        if self.refined is None:
            raise ValueError(f"question {self.qid!r} has no refinements")
        return self.refined


def _records(records: Iterable[RecordT] | None) -> list[RecordT]:
    return list(records) if records else []


def _check_ids(records: Sequence[Mapping[str, Any]], kind: str) -> None:
    seen: set = set()
    for r in records:
        if "id" not in r:
            raise ValueError(f"{kind} record without an 'id': {dict(r)!r}")
        if r["id"] in seen:
            raise ValueError(f"duplicate {kind} id {r['id']!r}")
        seen.add(r["id"])


def _check_qids(records: Sequence[Mapping[str, Any]], kind: str, qids: Mapping[str, Any]) -> None:
    for r in records:
        if r.get("qid") not in qids:
            raise ValueError(f"{kind} {r['id']!r} refers to unknown question {r.get('qid')!r}")


def _count(r: Mapping[str, Any], key: str, kind: str, default: int | None = None) -> int | None:
    """A non-negative integer field (``None``/absent gives ``default``)."""
    v = r.get(key)
    if v is None:
        return default
    if not isinstance(v, int) or isinstance(v, bool) or v < 0:
        raise ValueError(f"{kind} {r['id']!r} has invalid {key} {v!r}")
    return v


def _answer(r: Sample | Refinement | ChainStep, kind: str) -> Answer:
    if not isinstance(r.get("correct"), bool):
        raise ValueError(f"{kind} {r['id']!r} is not graded ('correct' must be true or false)")
    return Answer(pred=r.get("pred"), correct=r["correct"], tokens=_count(r, "completion_tokens", kind))


def _verdict(r: Critique | ChainStep, kind: str) -> str | None:
    v = r.get("verdict")
    if v is not None and v not in VERDICTS:
        raise ValueError(f"{kind} {r['id']!r} has invalid verdict {v!r}; expected {VERDICTS} or null")
    return v


def _per_sample(
    records: Sequence[RecordT], kind: str, sample_ids: Mapping[str, tuple[str, int]]
) -> dict[tuple[str, int], RecordT]:
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


def _pool(pool: Sequence[Sample], qids: Sequence[str]) -> tuple[dict[str, dict[int, Sample]], int]:
    """Pool samples by question and index; every question needs the same N, indices 0..N-1."""
    by_q: dict[str, dict[int, Sample]] = {qid: {} for qid in qids}
    for r in pool:
        idx = _count(r, "index", "pool sample", default=-1)
        if idx is None or idx < 0:
            raise ValueError(f"pool sample {r['id']!r} has invalid index {r.get('index')!r}")
        if idx in by_q[r["qid"]]:
            raise ValueError(f"pool sample {r['id']!r} repeats index {idx} of question {r['qid']!r}")
        by_q[r["qid"]][idx] = r
    n_pool = len(by_q[qids[0]])
    if n_pool == 0:
        raise ValueError(f"question {qids[0]!r} has no pool samples")
    for qid, samples in by_q.items():
        if len(samples) != n_pool:
            raise ValueError(
                f"pool of question {qid!r} has {len(samples)} samples, expected {n_pool} "
                "(every question needs a pool of the same size)"
            )
        if set(samples) != set(range(n_pool)):
            raise ValueError(f"pool of question {qid!r} has indices {sorted(samples)}, expected 0..{n_pool - 1}")
    return by_q, n_pool


def _chains(chains: Sequence[ChainStep], qids: Sequence[str]) -> tuple[dict[str, list[list[ChainStep]]], int]:
    """Chain records by question, chain index ``chain`` (default 0) and round, validated.

    Every question needs the same number K of chains, indexed 0..K-1, each with rounds 0..r
    without gaps. Returns the chains and the largest round present.
    """
    by_q: dict[str, dict[int, dict[int, ChainStep]]] = {}
    for r in chains:
        rnd = _count(r, "round", "chain record", default=-1)
        if rnd is None or rnd < 0:
            raise ValueError(f"chain record {r['id']!r} has invalid round {r.get('round')!r}")
        j = _count(r, "chain", "chain record", default=0)
        assert j is not None
        chain = by_q.setdefault(r["qid"], {}).setdefault(j, {})
        if rnd in chain:
            where = f"chain {j} of question {r['qid']!r}" if j else f"question {r['qid']!r}"
            raise ValueError(f"chain record {r['id']!r} repeats round {rnd} of {where}")
        chain[rnd] = r
        _verdict(r, "chain record")
    out: dict[str, list[list[ChainStep]]] = {}
    n_chains = len(by_q.get(qids[0], {}))
    for qid in qids:
        q_chains = by_q.get(qid)
        if not q_chains:
            raise ValueError(f"missing sequential chain for question {qid!r}")
        if set(q_chains) != set(range(n_chains)):
            raise ValueError(
                f"question {qid!r} has chains {sorted(q_chains)}, expected 0..{n_chains - 1} "
                "(every question needs the same number of chains)"
            )
        out[qid] = []
        for j in range(n_chains):
            chain = q_chains[j]
            if set(chain) != set(range(len(chain))):
                where = f"chain {j} of question {qid!r}" if n_chains > 1 else f"chain of question {qid!r}"
                raise ValueError(f"{where} has rounds {sorted(chain)}, expected 0..{len(chain) - 1}")
            out[qid].append([chain[r] for r in range(len(chain))])
    return out, max(len(c) - 1 for cs in out.values() for c in cs)


def prepare(
    questions: Iterable[Question],
    greedy: Iterable[Sample] | None,
    pool: Iterable[Sample],
    critiques: Iterable[Critique] | None,
    refinements: Iterable[Refinement] | None,
    chains: Iterable[ChainStep] | None,
    rounds: int | None = None,
) -> tuple[list[QuestionData], int, int | None]:
    """Validate the records and join them per question.

    Returns ``(questions, N, R)``: the joined questions in input order, the pool size and
    the number of sequential rounds (``None`` without chains). ``R`` is the largest round
    present, or ``rounds`` if that is larger. Raises :class:`ValueError` naming the
    offending id for duplicated ids, records referring to unknown questions or samples,
    missing records, pools of unequal size, and malformed chains.
    """
    question_recs = _records(questions)
    greedy_recs, pool_recs = _records(greedy), _records(pool)
    crit_recs, ref_recs, chain_recs = _records(critiques), _records(refinements), _records(chains)

    _check_ids(question_recs, "question")
    qmap = {q["id"]: q for q in question_recs}
    if not question_recs:
        raise ValueError("no questions given")
    for kind, recs in (
        ("greedy sample", greedy_recs),
        ("pool sample", pool_recs),
        ("critique", crit_recs),
        ("refinement", ref_recs),
        ("chain record", chain_recs),
    ):
        _check_ids(recs, kind)
        _check_qids(recs, kind, qmap)

    qids = [q["id"] for q in question_recs]
    by_q, n_pool = _pool(pool_recs, qids)
    sample_ids = {r["id"]: (r["qid"], r["index"]) for r in pool_recs}

    greedy_by_q: dict[str, Sample] = {}
    for r in greedy_recs:
        if r["qid"] in greedy_by_q:
            raise ValueError(f"greedy sample {r['id']!r}: question {r['qid']!r} already has one")
        greedy_by_q[r["qid"]] = r
    if greedy_recs:
        for qid in qids:
            if qid not in greedy_by_q:
                raise ValueError(f"missing greedy sample for question {qid!r}")

    crit = _per_sample(crit_recs, "critique", sample_ids) if crit_recs else None
    refs = _per_sample(ref_recs, "refinement", sample_ids) if ref_recs else None
    chain_by_q, n_rounds = _chains(chain_recs, qids) if chain_recs else ({}, None)
    if n_rounds is not None and rounds is not None:
        n_rounds = max(n_rounds, rounds)

    out = []
    for q in question_recs:
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
            greedy=_answer(greedy_by_q[qid], "greedy sample") if greedy_recs else None,
        )
        if crit is not None:
            recs = [crit[(qid, i)] for i in range(n_pool)]
            qd.verdicts = [_verdict(r, "critique") for r in recs]
            qd.critique_tokens = [_count(r, "completion_tokens", "critique") for r in recs]
        if refs is not None:
            qd.refined = [_answer(refs[(qid, i)], "refinement") for i in range(n_pool)]
        if chain_recs:
            qd.chains = [[_answer(r, "chain record") for r in chain] for chain in chain_by_q[qid]]
        out.append(qd)
    return out, n_pool, n_rounds
