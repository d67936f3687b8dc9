"""Test-time evaluation metrics for MathCritique.

Every number in the evaluation is computed here from already-graded generation records;
nothing in this module calls a model, and apart from the optional helpers at the bottom
(:func:`read_jsonl`, :func:`write_results`, the command line) it does no file I/O.

The methods follow the paper (arXiv 2411.16579, Sections 3 and 5):

* **Response only** -- greedy accuracy, and Pass@K / MV@K computed from a single pool of
  ``N`` samples per question for every budget ``K`` in 1, 2, 4, ..., N.
* **Parallel critique-refine** -- every pool sample is critiqued once and refined once;
  Pass@K / MV@K over the final answers in three modes (``oracle``, ``refine_all``,
  ``verifier``).
* **Critic-filtered majority voting** -- samples the critic judges wrong are dropped
  before voting.
* **Sequential critique-refine** -- one chain of rounds per question; accuracy of the
  round-``r`` answer ("Sequential Final") and majority vote over rounds ``0..r``
  ("Sequential MV").
* **Compute-matched baselines** -- MV at K, 2K and 3K plain samples next to MV at K
  critiqued-and-refined samples (Fig. B of the paper).
* **Critic metrics** -- accuracy after refinement, discrimination (accuracy and a
  ProcessBench-style F1), helpfulness, harm, and format violations.

Everything is broken down by dataset and by difficulty level (1-5). See
``docs/evaluation.md`` for the definitions and the ``results.json`` schema.

Numbers are accumulated as exact :class:`fractions.Fraction` values and converted to
``float`` only when stored, so every result is the correctly rounded value of the exact
quantity. Each stored number comes with its denominator ``n`` and is ``None`` when that
denominator is empty.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Protocol

SCHEMA_VERSION = 1

#: Parallel critique-refine modes, in the order they are reported.
PARALLEL_MODES: tuple[str, ...] = ("oracle", "refine_all", "verifier")

#: Variants of "with critique" shown in the compute-matched comparison.
COMPUTE_MATCHED_MODES: tuple[str, ...] = ("refine_all", "verifier")

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


class Vote(Protocol):
    """The result of majority voting over a list of answers (see ``selfimprove.process``).

    ``classes`` holds the indices (into the voted list) of each equivalence class of
    answers, classes in order of first appearance; ``None`` answers belong to no class.
    ``answer`` is the representative answer of the winning class and ``size`` its size.
    """

    answer: str | None
    size: int
    classes: list[list[int]]


#: ``vote_fn(answers, dataset_type) -> Vote``.
VoteFn = Callable[[list["str | None"], str], Vote]


@dataclass(frozen=True)
class Answer:
    """A graded answer: the extracted prediction and whether it matches the gold answer."""

    pred: str | None
    correct: bool


def default_vote_fn() -> VoteFn:
    """Return ``selfimprove.process.vote``, the answer-equivalence majority vote."""
    try:
        from selfimprove.grading.api import vote
    except ImportError as e:  # pragma: no cover - depends on the installed package
        raise ImportError("selfimprove.process.vote is not available; pass vote_fn= explicitly") from e
    return vote


def memoised_vote(vote_fn: VoteFn) -> VoteFn:
    """Wrap ``vote_fn`` so that each distinct ``(answers, dataset_type)`` is voted once.

    The same blocks recur across modes, budgets and the per-level breakdown, and
    equivalence checking can be slow; ``vote_fn`` must be deterministic.
    """
    cache: dict[tuple, Vote] = {}

    def vote(answers: list[str | None], dataset_type: str) -> Vote:
        key = (tuple(answers), dataset_type)
        if key not in cache:
            cache[key] = vote_fn(list(answers), dataset_type)
        return cache[key]

    return vote


# ---------------------------------------------------------------------------------------
# Per-question primitives
# ---------------------------------------------------------------------------------------


def budgets(n: int) -> list[int]:
    """Sample budgets K reported for a pool of ``n``: powers of two up to ``n``, plus ``n``."""
    if n < 1:
        return []
    ks = []
    k = 1
    while k <= n:
        ks.append(k)
        k *= 2
    if ks[-1] != n:
        ks.append(n)
    return ks


def pass_at_k(n: int, c: int, k: int) -> Fraction:
    """Unbiased Pass@k estimator for one question: ``1 - C(n-c, k) / C(n, k)``.

    The probability that at least one of ``k`` samples drawn without replacement from
    ``n`` samples, ``c`` of them correct, is correct.
    """
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass_at_k needs 0 <= c <= n and 1 <= k <= n, got n={n} c={c} k={k}")
    return 1 - Fraction(math.comb(n - c, k), math.comb(n, k))


def majority_vote_correct(answers: Sequence[Answer], dataset_type: str, vote_fn: VoteFn) -> bool:
    """Whether majority voting over ``answers`` yields a correct answer.

    Answers are grouped into equivalence classes by ``vote_fn``; ``None`` predictions never
    vote. The winning class is the largest one, ties going to the class that appeared
    first. The vote is correct iff the representative of the winning class -- its first
    member -- is correct. A block without any parseable answer is wrong.
    """
    preds = [a.pred for a in answers]
    result = vote_fn(preds, dataset_type)
    winner: list[int] | None = None
    for cls in result.classes:
        members = [i for i in cls if preds[i] is not None]
        if members and (winner is None or len(members) > len(winner)):
            winner = members
    if winner is None:
        return False
    return answers[winner[0]].correct


def blocks(items: Sequence, k: int) -> list[Sequence]:
    """Split ``items`` (in index order) into ``len(items) // k`` consecutive blocks of ``k``."""
    return [items[b * k : (b + 1) * k] for b in range(len(items) // k)]


def mv_at_k(answers: Sequence[Answer], k: int, dataset_type: str, vote_fn: VoteFn) -> Fraction:
    """MV@k for one question: the share of its ``N // k`` disjoint blocks voted correct."""
    bs = blocks(answers, k)
    if not bs:
        raise ValueError(f"MV@{k} needs at least {k} samples, got {len(answers)}")
    return Fraction(sum(majority_vote_correct(b, dataset_type, vote_fn) for b in bs), len(bs))


def critic_filtered_mv_at_k(
    answers: Sequence[Answer],
    verdicts: Sequence[str | None],
    k: int,
    dataset_type: str,
    vote_fn: VoteFn,
) -> Fraction:
    """Critic-filtered MV@k for one question.

    In each block of ``k`` samples the samples whose critique verdict is ``"wrong"`` are
    dropped and the rest vote; a block in which every sample was judged wrong votes among
    all of its samples.
    """
    scores = []
    for block, block_verdicts in zip(blocks(answers, k), blocks(verdicts, k)):
        kept = [a for a, v in zip(block, block_verdicts) if v != "wrong"]
        scores.append(majority_vote_correct(kept or block, dataset_type, vote_fn))
    if not scores:
        raise ValueError(f"MV@{k} needs at least {k} samples, got {len(answers)}")
    return Fraction(sum(scores), len(scores))


def parallel_final_answers(
    samples: Sequence[Answer],
    refined: Sequence[Answer],
    verdicts: Sequence[str | None] | None,
    mode: str,
) -> list[Answer]:
    """The final answer of every pool sample under a parallel critique-refine ``mode``.

    * ``oracle``: the refinement replaces only samples known to be wrong (ground truth);
      correct samples keep their answer.
    * ``refine_all``: every sample is replaced by its refinement.
    * ``verifier``: the refinement replaces only samples whose critique verdict is
      ``"wrong"``; a ``"correct"`` or unparseable (``None``) verdict keeps the original.
    """
    if mode == "oracle":
        return [s if s.correct else r for s, r in zip(samples, refined)]
    if mode == "refine_all":
        return list(refined)
    if mode == "verifier":
        if verdicts is None:
            raise ValueError("the verifier mode needs critique verdicts")
        return [r if v == "wrong" else s for s, r, v in zip(samples, refined, verdicts)]
    raise ValueError(f"unknown parallel mode {mode!r}; expected one of {PARALLEL_MODES}")


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


def harmonic_mean(a: Fraction | None, b: Fraction | None) -> Fraction | None:
    """Harmonic mean ``2ab / (a + b)``; ``None`` if either is undefined, 0 if both are 0."""
    if a is None or b is None:
        return None
    if a + b == 0:
        return Fraction(0)
    return 2 * a * b / (a + b)


# ---------------------------------------------------------------------------------------
# Stored numbers
# ---------------------------------------------------------------------------------------


def _num(value: Fraction | None, n: int) -> dict[str, Any]:
    """A stored number: ``{"value": float | None, "n": denominator}``."""
    return {"value": None if value is None else float(value), "n": n}


def _ratio(hits: int, n: int) -> Fraction | None:
    return Fraction(hits, n) if n else None


def _as_fraction(hit: bool) -> Fraction:
    return Fraction(int(hit))


def _mean(values: Sequence[Fraction]) -> dict[str, Any]:
    """Mean of per-item values with ``n = len(values)``; ``None`` when there are none."""
    return _num(sum(values, Fraction(0)) / len(values) if values else None, len(values))


# ---------------------------------------------------------------------------------------
# Validated per-question data
# ---------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------
# Metric blocks over a set of questions
# ---------------------------------------------------------------------------------------


def _curves(
    qs: Sequence[QuestionData], finals: Sequence[Sequence[Answer]], ks: Sequence[int], vote_fn: VoteFn
) -> dict[str, list[dict[str, Any]]]:
    """Pass@K and MV@K curves over the given per-question final answers."""
    n = len(finals[0]) if finals else 0
    pass_curve, mv_curve = [], []
    for k in ks:
        pass_curve.append({"k": k, **_mean([pass_at_k(n, sum(a.correct for a in f), k) for f in finals])})
        mv_curve.append({"k": k, **_mean([mv_at_k(f, k, q.dataset_type, vote_fn) for q, f in zip(qs, finals)])})
    return {"pass_at_k": pass_curve, "mv_at_k": mv_curve}


def _mv(qs: Sequence[QuestionData], finals: Sequence[Sequence[Answer]], k: int, vote_fn: VoteFn) -> dict:
    return _mean([mv_at_k(f, k, q.dataset_type, vote_fn) for q, f in zip(qs, finals)])


def response_only_metrics(qs: Sequence[QuestionData], ks: Sequence[int], vote_fn: VoteFn) -> dict:
    """Greedy accuracy (``None`` without greedy samples) and Pass@K / MV@K of the pool."""
    greedy = None
    if qs and qs[0].greedy is not None:
        greedy = _mean([_as_fraction(q.greedy.correct) for q in qs])
    return {"greedy": greedy, **_curves(qs, [q.pool for q in qs], ks, vote_fn)}


def parallel_metrics(qs: Sequence[QuestionData], ks: Sequence[int], vote_fn: VoteFn) -> dict | None:
    """Pass@K / MV@K after parallel critique-refine, per mode (``None`` without refinements).

    A mode that needs critiques (``verifier``) is ``None`` when there are none.
    """
    if not qs or qs[0].refined is None:
        return None
    out: dict[str, Any] = {}
    for mode in PARALLEL_MODES:
        if mode == "verifier" and qs[0].verdicts is None:
            out[mode] = None
            continue
        finals = [parallel_final_answers(q.pool, q.refined, q.verdicts, mode) for q in qs]
        out[mode] = {"mode": mode, **_curves(qs, finals, ks, vote_fn)}
    return out


def critic_filtered_metrics(qs: Sequence[QuestionData], ks: Sequence[int], vote_fn: VoteFn) -> dict | None:
    """Critic-filtered MV@K over the pool (``None`` without critiques)."""
    if not qs or qs[0].verdicts is None:
        return None
    return {
        "mv_at_k": [
            {"k": k, **_mean([critic_filtered_mv_at_k(q.pool, q.verdicts, k, q.dataset_type, vote_fn) for q in qs])}
            for k in ks
        ]
    }


def sequential_metrics(qs: Sequence[QuestionData], vote_fn: VoteFn) -> dict | None:
    """Sequential Final and Sequential MV per round ``r = 0..R`` (``None`` without chains).

    Final[r]: accuracy of the chain's answer at round ``r``. MV[r]: majority vote over the
    chain's answers at rounds ``0..r``. A chain that stopped early carries its last answer
    forward, so that answer also counts once per missing round in the vote.
    """
    if not qs or qs[0].chain is None:
        return None
    n_rounds = len(qs[0].chain)
    final = [{"round": r, **_mean([_as_fraction(q.chain[r].correct) for q in qs])} for r in range(n_rounds)]
    mv = [
        {
            "round": r,
            **_mean([_as_fraction(majority_vote_correct(q.chain[: r + 1], q.dataset_type, vote_fn)) for q in qs]),
        }
        for r in range(n_rounds)
    ]
    return {"rounds": n_rounds - 1, "final": final, "mv": mv}


def compute_matched_metrics(qs: Sequence[QuestionData], ks: Sequence[int], vote_fn: VoteFn) -> list | None:
    """MV without critique at K, 2K, 3K samples next to MV with critique at K, for 3K <= N.

    Critiquing and refining a sample costs about two extra generations, so K critiqued and
    refined samples cost about as much as 3K plain samples. ``None`` without refinements;
    the ``verifier`` variant is ``None`` without critiques.
    """
    if not qs or qs[0].refined is None:
        return None
    n = len(qs[0].pool)
    pools = [q.pool for q in qs]
    rows = []
    for k in ks:
        if 3 * k > n:
            continue
        with_critique: dict[str, Any] = {}
        for mode in COMPUTE_MATCHED_MODES:
            if mode == "verifier" and qs[0].verdicts is None:
                with_critique[mode] = None
                continue
            finals = [parallel_final_answers(q.pool, q.refined, q.verdicts, mode) for q in qs]
            with_critique[mode] = _mv(qs, finals, k, vote_fn)
        rows.append(
            {
                "k": k,
                "mv_k": _mv(qs, pools, k, vote_fn),
                "mv_2k": _mv(qs, pools, 2 * k, vote_fn),
                "mv_3k": _mv(qs, pools, 3 * k, vote_fn),
                "with_critique": with_critique,
            }
        )
    return rows


def critic_metrics(qs: Sequence[QuestionData]) -> dict:
    """Critic quality on the actor's pool samples (sample-level).

    * ``accuracy_before_refinement``: share of pool samples that are correct.
    * ``accuracy_after_refinement``: share correct after refinement, per mode
      (``refine_all``, ``oracle``, and ``verifier`` when critiques exist).
    * ``helpfulness``: share of wrong samples whose refinement is correct.
    * ``harm``: share of correct samples whose refinement is wrong.
    * ``discrimination``: over samples whose critique has a parseable verdict, the accuracy
      of the verdict against the truth, the accuracy on wrong and on correct samples, and
      ``f1`` = their harmonic mean (ProcessBench style).
    * ``format_violations``: critiques without a parseable verdict, count and share.
    """
    samples = [s for q in qs for s in q.pool]
    out: dict[str, Any] = {
        "n_samples": len(samples),
        "accuracy_before_refinement": _num(_ratio(sum(s.correct for s in samples), len(samples)), len(samples)),
        "accuracy_after_refinement": None,
        "helpfulness": None,
        "harm": None,
        "discrimination": None,
        "format_violations": None,
    }
    has_verdicts = bool(qs) and qs[0].verdicts is not None
    if qs and qs[0].refined is not None:
        after = {}
        for mode in PARALLEL_MODES:
            if mode == "verifier" and not has_verdicts:
                after[mode] = None
                continue
            finals = [a for q in qs for a in parallel_final_answers(q.pool, q.refined, q.verdicts, mode)]
            after[mode] = _num(_ratio(sum(a.correct for a in finals), len(finals)), len(finals))
        out["accuracy_after_refinement"] = after
        pairs = [(s, r) for q in qs for s, r in zip(q.pool, q.refined)]
        wrong = [r for s, r in pairs if not s.correct]
        right = [r for s, r in pairs if s.correct]
        out["helpfulness"] = _num(_ratio(sum(r.correct for r in wrong), len(wrong)), len(wrong))
        out["harm"] = _num(_ratio(sum(not r.correct for r in right), len(right)), len(right))
    if has_verdicts:
        judged = [(s, v) for q in qs for s, v in zip(q.pool, q.verdicts) if v is not None]
        on_wrong = [v == "wrong" for s, v in judged if not s.correct]
        on_correct = [v == "correct" for s, v in judged if s.correct]
        acc_wrong = _ratio(sum(on_wrong), len(on_wrong))
        acc_correct = _ratio(sum(on_correct), len(on_correct))
        out["discrimination"] = {
            "accuracy": _num(_ratio(sum(on_wrong) + sum(on_correct), len(judged)), len(judged)),
            "accuracy_on_wrong": _num(acc_wrong, len(on_wrong)),
            "accuracy_on_correct": _num(acc_correct, len(on_correct)),
            "f1": _num(harmonic_mean(acc_wrong, acc_correct), len(judged)),
        }
        n_critiques = sum(len(q.verdicts) for q in qs)
        violations = sum(v is None for q in qs for v in q.verdicts)
        share = _num(_ratio(violations, n_critiques), n_critiques)
        out["format_violations"] = {"count": violations, "share": share["value"], "n": n_critiques}
    return out


def metrics_block(qs: Sequence[QuestionData], ks: Sequence[int], vote_fn: VoteFn) -> dict:
    """Every metric over one set of questions (a dataset, or one level of a dataset)."""
    return {
        "n_questions": len(qs),
        "response_only": response_only_metrics(qs, ks, vote_fn),
        "parallel": parallel_metrics(qs, ks, vote_fn),
        "critic_filtered": critic_filtered_metrics(qs, ks, vote_fn),
        "sequential": sequential_metrics(qs, vote_fn),
        "compute_matched": compute_matched_metrics(qs, ks, vote_fn),
        "critic": critic_metrics(qs),
    }


# ---------------------------------------------------------------------------------------
# Top level
# ---------------------------------------------------------------------------------------


def compute_results(
    questions: Iterable[Mapping],
    greedy: Iterable[Mapping] | None,
    pool: Iterable[Mapping],
    critiques: Iterable[Mapping] | None,
    refinements: Iterable[Mapping] | None,
    chains: Iterable[Mapping] | None,
    config: Mapping[str, Any] | None,
    vote_fn: VoteFn | None = None,
) -> dict:
    """Compute every test-time number from graded generation records.

    ``greedy``, ``critiques``, ``refinements`` and ``chains`` may be empty or ``None``: the
    methods needing them are recorded as ``None`` and ``available`` says which inputs were
    present. ``config`` is stored verbatim; an integer ``config["R"]`` (or
    ``config["rounds"]``) extends the sequential curves to that many rounds, carrying each
    chain's last answer forward. ``vote_fn`` defaults to
    ``selfimprove.process.vote``.

    Returns a JSON-serialisable dict; its schema is documented in ``docs/evaluation.md``.
    Raises :class:`ValueError` (naming the offending id) on inconsistent records.
    """
    config = dict(config or {})
    rounds = next(
        (v for v in (config.get("R"), config.get("rounds")) if isinstance(v, int) and not isinstance(v, bool)), None
    )
    qs, n_pool, n_rounds = prepare(questions, greedy, pool, critiques, refinements, chains, rounds)
    vote_fn = memoised_vote(vote_fn if vote_fn is not None else default_vote_fn())
    ks = budgets(n_pool)

    by_dataset: dict[str, list[QuestionData]] = {}
    for q in qs:
        by_dataset.setdefault(q.dataset, []).append(q)

    datasets = {}
    for name, dqs in by_dataset.items():
        types = sorted({q.dataset_type for q in dqs})
        levels = sorted({q.level for q in dqs})
        datasets[name] = {
            "dataset_type": types[0] if len(types) == 1 else types,
            "n_questions": len(dqs),
            "level_source": dict(sorted(Counter(q.level_source for q in dqs).items())),
            "level_counts": {str(lv): sum(q.level == lv for q in dqs) for lv in levels},
            "overall": metrics_block(dqs, ks, vote_fn),
            "by_level": {str(lv): metrics_block([q for q in dqs if q.level == lv], ks, vote_fn) for lv in levels},
        }

    first = qs[0]
    return {
        "schema_version": SCHEMA_VERSION,
        "config": config,
        "N": n_pool,
        "R": n_rounds,
        "ks": ks,
        "parallel_modes": list(PARALLEL_MODES),
        "available": {
            "greedy": first.greedy is not None,
            "critiques": first.verdicts is not None,
            "refinements": first.refined is not None,
            "chains": first.chain is not None,
        },
        "datasets": datasets,
    }


# ---------------------------------------------------------------------------------------
# Optional file helpers and command line
# ---------------------------------------------------------------------------------------


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    """Read a JSON Lines file (blank lines ignored); errors name ``path:line``."""
    out = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{lineno}: invalid JSON ({e.msg})") from None
    return out


def write_results(results: Mapping, path: str | os.PathLike) -> None:
    """Write ``results`` as JSON atomically (temp file in the same folder + ``os.replace``)."""
    from selfimprove.core.io import atomic_write_json

    atomic_write_json(path, results)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m selfimprove.metrics",
        description="Compute every test-time metric from graded generation records into results.json.",
    )
    parser.add_argument("--questions", required=True, help="questions JSONL")
    parser.add_argument("--pool", required=True, help="pool samples JSONL (N per question)")
    parser.add_argument("--greedy", help="greedy samples JSONL")
    parser.add_argument("--critiques", help="critiques of the pool samples JSONL")
    parser.add_argument("--refinements", help="parallel refinements JSONL")
    parser.add_argument("--chains", help="sequential chains JSONL")
    parser.add_argument("--config", help="run configuration JSON, stored in the results")
    parser.add_argument("--out", required=True, help="results.json to write")
    args = parser.parse_args(argv)
    try:
        config = {}
        if args.config:
            with open(args.config, encoding="utf-8") as f:
                config = json.load(f)
        load = lambda p: read_jsonl(p) if p else None  # noqa: E731
        results = compute_results(
            load(args.questions),
            load(args.greedy),
            load(args.pool),
            load(args.critiques),
            load(args.refinements),
            load(args.chains),
            config,
        )
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    write_results(results, args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
