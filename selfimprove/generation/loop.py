"""The loop every generating stage shares: prompts in, graded records out, resumable.

Work is cut into chunks; each chunk is generated, turned into records, post-processed (graded)
and appended to the output before the next chunk starts. A rerun skips the items whose records
are all present, so an interruption costs at most one chunk.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, TypeVar

from tqdm import tqdm

from selfimprove.core.errors import EngineError
from selfimprove.core.io import ResumableJsonl, atomic_write_jsonl, chunks
from selfimprove.core.records import RecordT, add_fields
from selfimprove.generation.engines import UNANSWERED_REASON, Completion, Engine, SamplingParams, Unanswered
from selfimprove.generation.prompts import Prompt
from selfimprove.grading.api import grade_batch

log = logging.getLogger(__name__)

#: what the loop generates for: questions, samples, critiques, chain steps
ItemT = TypeVar("ItemT", bound=Mapping[str, Any])


def generate_into(
    out: ResumableJsonl[RecordT],
    items: Sequence[ItemT],
    engine: Engine,
    params: SamplingParams,
    build_prompt: Callable[[ItemT], Prompt],
    make_records: Callable[[ItemT, list[Completion]], list[RecordT]],
    expected_ids: Callable[[ItemT], list[str]],
    postprocess: Callable[[list[RecordT]], list[RecordT]] | None = None,
    chunk_size: int = 512,
    desc: str = "generating",
) -> dict:
    """Generate for every item whose expected output ids are not all in ``out``.

    ``make_records(item, completions)`` turns the ``params.n`` completions of one item into
    records (each with an ``id``); records already present are dropped, so a partly written item
    is completed, never duplicated. Every record also gets its completion's ``finish_reason``,
    ``prompt_tokens`` and ``completion_tokens``. Records flag ``"empty": true`` when the model
    produced no text; those are counted and reported (and graded wrong like any other answer), and
    so are truncated ones (``finish_reason`` "length").

    Every prompt is fitted to the engine's context window (counted with the engine's tokenizer,
    :func:`context_room`), as the released code's vLLM calls behave: a prompt that fits generates until the window is full
    (``max_tokens`` capped by what the prompt leaves of it; such records carry the ``max_tokens``
    they got, and a cut text is truncated like any other), and a prompt that fills the window alone
    is never sent: its item gets empty, unanswered records (``"unanswered": true``,
    ``unanswered_reason``, ``finish_reason`` "unanswered", graded wrong), reported as
    ``id (file): reason``. Those records are written like any other, so the item is done, a rerun does not
    ask again and what reads the records finds every item. Returns counts: items, items skipped as
    done, items answered empty as unanswered, items whose ``max_tokens`` was capped, records
    written, empty texts, truncated texts.
    """
    missing = {id(it): [i for i in expected_ids(it) if i not in out.done] for it in items}
    todo = [it for it in items if missing[id(it)]]
    counts = {
        "items": len(items),
        "skipped_done": len(items) - len(todo),
        "unanswered": 0,
        "capped": 0,
        "generated": 0,
        "empty": 0,
        "truncated": 0,
    }
    if not todo:
        record_failures(out, [])
        return counts
    # Items missing only some of their completions (a larger n than last time, or a torn write)
    # get just those, with a seed offset so the new samples differ from the ones already kept.
    groups: dict[tuple[int, int], list[ItemT]] = {}
    for it in todo:
        ids = expected_ids(it)
        first = ids.index(missing[id(it)][0])
        groups.setdefault((len(missing[id(it)]), first), []).append(it)
    empty_ids: list[str] = []
    truncated_ids: list[str] = []
    unanswered_ids: list[str] = []
    failed: list[RecordT] = []
    bar = tqdm(total=len(todo), desc=desc, unit="item", file=sys.stderr, dynamic_ncols=True)
    for (n_missing, first), group in groups.items():
        p = params if n_missing == params.n else replace(params, n=n_missing, seed=params.seed + 7919 * first)
        for chunk in chunks(group, chunk_size):
            prompts = [build_prompt(it) for it in chunk]
            limits, lengths = context_room(engine, prompts, p.max_tokens)
            outs: list[list[Completion]] = [[] for _ in chunk]
            for i, m in enumerate(limits):
                if m == 0:
                    item_id = str(chunk[i].get("id"))
                    reason = f"{UNANSWERED_REASON} ({lengths[i]} prompt tokens, window of {engine.context_length})"
                    _report_unanswered(f"{item_id} ({out.path.name})", reason, len(unanswered_ids))
                    unanswered_ids.append(item_id)
                    outs[i] = [Unanswered("", prompt_tokens=lengths[i], completion_tokens=0, reason=reason)] * n_missing
            ask = [i for i, m in enumerate(limits) if m > 0]
            if ask:
                got = engine.generate_capped([prompts[i] for i in ask], p, [limits[i] for i in ask])
                if len(got) != len(ask):
                    raise RuntimeError(f"engine returned {len(got)} results for {len(ask)} prompts")
                for i, completions in zip(ask, got):
                    outs[i] = completions
            counts["capped"] += sum(0 < m < p.max_tokens for m in limits)
            records: list[RecordT] = []
            for it, completions, m in zip(chunk, outs, limits):
                fill = dict(zip(missing[id(it)], completions))
                recs = make_records(it, [fill.get(i, _ABSENT) for i in expected_ids(it)])
                for r in recs:
                    if r["id"] in fill:
                        capped = {"max_tokens": m} if 0 < m < p.max_tokens else {}  # what the prompt left
                        add_fields(r, {**fill[r["id"]].record_fields(), **capped})
                        records.append(r)
            failed += [r for r in records if r.get("finish_reason") == "error"]  # asked again on rerun
            records = [r for r in records if r.get("finish_reason") != "error"]
            if postprocess is not None and records:
                records = postprocess(records)
            for r in records:
                if r.get("unanswered") and "correct" in r:
                    add_fields(r, {"correct": False})  # no answer is a wrong answer, whatever the grader made of it
            empty_ids += [rec["id"] for rec in records if rec.get("empty") and not rec.get("unanswered")]
            truncated_ids += [rec["id"] for rec in records if rec.get("finish_reason") == "length"]
            out.append(records)
            counts["generated"] += len(records)
            bar.update(len(chunk))
    bar.close()
    counts["empty"] = len(empty_ids)
    counts["truncated"] = len(truncated_ids)
    counts["unanswered"] = len(unanswered_ids)
    if len(unanswered_ids) > _SKIP_LINES:
        log.warning(
            "%d item(s) unanswered in all in %s: their prompts are longer than the context window (%s)",
            len(unanswered_ids),
            out.path,
            _some(unanswered_ids),
        )
    if empty_ids:
        log.warning("%d empty generation(s) in %s (graded wrong): %s", len(empty_ids), out.path, _some(empty_ids))
    if truncated_ids:
        log.warning(
            "%d generation(s) in %s stopped at max_tokens=%s%s: %s",
            len(truncated_ids),
            out.path,
            params.max_tokens,
            " or at the end of the context window" if counts["capped"] else "",
            _some(truncated_ids),
        )
    record_failures(out, failed)
    return counts


def record_failures(out: ResumableJsonl[Any], failed: Sequence[Mapping[str, Any]]) -> None:
    """List the records the engine failed to generate (``finish_reason`` "error": an endpoint that
    gave up) in ``<name>.errors.jsonl`` beside ``out`` and raise :class:`EngineError`; with none,
    remove that list. Failed records are never written to ``out``, so a rerun generates just them."""
    path = out.path.with_name(out.path.name.removesuffix(".jsonl") + ".errors.jsonl")
    if not failed:
        path.unlink(missing_ok=True)
        return
    atomic_write_jsonl(path, [{"id": r["id"], "error": r.get("error", "")} for r in failed])
    raise EngineError(
        f"{len(failed)} record(s) of {out.path} failed at the engine (first: {failed[0]['id']}: "
        f"{failed[0].get('error', '?')}); the rest is written and the failed ones are listed in {path}: "
        f"rerun to generate only them"
    )


_SKIP_LINES = 20  # unanswered items reported one per line, then only counted


def context_room(engine: Engine, prompts: Sequence[Prompt], max_tokens: int) -> tuple[list[int], list[int | None]]:
    """Per prompt, the ``max_tokens`` it may generate: ``max_tokens``, or what the prompt leaves of
    ``engine.context_length`` when that is less; 0 for a prompt that leaves no room at all (it is
    not sent). Also the prompts' token counts (None where unknown). Without a known context or a
    way to count, every prompt gets ``max_tokens``."""
    limit = engine.context_length
    lengths = engine.count_prompt_tokens(prompts) if limit and prompts else None
    if lengths is None:
        return [max_tokens] * len(prompts), [None] * len(prompts)
    assert limit is not None
    return [max(0, min(max_tokens, limit - n)) for n in lengths], list(lengths)


def _report_unanswered(item_id: str, reason: str, already: int) -> None:
    if already < _SKIP_LINES:
        log.warning("unanswered %s: %s", item_id, reason)


_ABSENT = Completion("")  # stands in for completions already written (their records are dropped)


def _some(ids: list[str], k: int = 5) -> str:
    return ", ".join(ids[:k]) + (" ..." if len(ids) > k else "")


def grade_records(records: list[RecordT], grader: str, workers: int | None = None) -> list[RecordT]:
    """Add ``pred``, ``correct``, ``grader`` and ``grade_status`` to records carrying ``response``,
    ``gold`` and ``dataset_type`` (timeouts and errors are counted and logged by ``grade_batch``)."""
    grades = grade_batch(
        [(r["response"], r["gold"], r["dataset_type"]) for r in records], grader=grader, workers=workers
    )
    for r, g in zip(records, grades):
        add_fields(r, g.record_fields())
    return records


def sampling_params(n: int, temperature: float, max_tokens: int, seed: int, top_p: float = 1.0) -> SamplingParams:
    return SamplingParams(n=n, temperature=temperature, top_p=top_p, max_tokens=max_tokens, seed=seed)
