"""The loop every generating stage shares: prompts in, graded records out, resumable.

Work is cut into chunks; each chunk is generated, turned into records, post-processed (graded)
and appended to the output before the next chunk starts. A rerun skips the items whose records
are all present, so an interruption costs at most one chunk.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import replace

from tqdm import tqdm

from selfimprove.core.errors import EngineError
from selfimprove.core.io import ResumableJsonl, atomic_write_jsonl, chunks
from selfimprove.generation.engines import Completion, Engine, SamplingParams
from selfimprove.generation.prompts import Prompt
from selfimprove.grading.api import grade_batch


def generate_into(
    out: ResumableJsonl,
    items: Sequence[dict],
    engine: Engine,
    params: SamplingParams,
    build_prompt: Callable[[dict], Prompt],
    make_records: Callable[[dict, list[Completion]], list[dict]],
    expected_ids: Callable[[dict], list[str]],
    postprocess: Callable[[list[dict]], list[dict]] | None = None,
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

    An item whose prompt does not fit the engine's context with room for ``max_tokens`` (counted
    with the engine's tokenizer, :func:`too_long`) is reported (``id: reason``) and skipped: it is
    never sent to the engine and writes no record, so it neither crashes a run nor is taken for
    done. Returns counts: items, items skipped as done, items skipped as too long, records
    written, empty texts, truncated texts.
    """
    missing = {id(it): [i for i in expected_ids(it) if i not in out.done] for it in items}
    todo = [it for it in items if missing[id(it)]]
    counts = {
        "items": len(items),
        "skipped_done": len(items) - len(todo),
        "skipped_too_long": 0,
        "generated": 0,
        "empty": 0,
        "truncated": 0,
    }
    if not todo:
        record_failures(out, [])
        return counts
    # Items missing only some of their completions (a larger n than last time, or a torn write)
    # get just those, with a seed offset so the new samples differ from the ones already kept.
    groups: dict[tuple[int, int], list[dict]] = {}
    for it in todo:
        ids = expected_ids(it)
        first = ids.index(missing[id(it)][0])
        groups.setdefault((len(missing[id(it)]), first), []).append(it)
    empty_ids: list[str] = []
    truncated_ids: list[str] = []
    too_long_ids: list[str] = []
    failed: list[dict] = []
    bar = tqdm(total=len(todo), desc=desc, unit="item", file=sys.stderr, dynamic_ncols=True)
    for (n_missing, first), group in groups.items():
        p = params if n_missing == params.n else replace(params, n=n_missing, seed=params.seed + 7919 * first)
        for chunk in chunks(group, chunk_size):
            prompts = [build_prompt(it) for it in chunk]
            refused = too_long(engine, prompts, p.max_tokens)
            if refused:
                for i in sorted(refused):
                    _report_skip(str(chunk[i].get("id")), refused[i], len(too_long_ids))
                    too_long_ids.append(str(chunk[i].get("id")))
                bar.update(len(refused))
                chunk = [it for i, it in enumerate(chunk) if i not in refused]
                prompts = [pr for i, pr in enumerate(prompts) if i not in refused]
                if not chunk:
                    continue
            outs = engine.generate(prompts, p)
            if len(outs) != len(chunk):
                raise RuntimeError(f"engine returned {len(outs)} results for {len(chunk)} prompts")
            records = []
            for it, completions in zip(chunk, outs):
                fill = dict(zip(missing[id(it)], completions))
                recs = make_records(it, [fill.get(i, _ABSENT) for i in expected_ids(it)])
                for r in recs:
                    if r["id"] in fill:
                        r.update(fill[r["id"]].record_fields())
                        records.append(r)
            failed += [r for r in records if r.get("finish_reason") == "error"]  # asked again on rerun
            records = [r for r in records if r.get("finish_reason") != "error"]
            if postprocess is not None and records:
                records = postprocess(records)
            empty_ids += [rec["id"] for rec in records if rec.get("empty")]
            truncated_ids += [rec["id"] for rec in records if rec.get("finish_reason") == "length"]
            out.append(records)
            counts["generated"] += len(records)
            bar.update(len(chunk))
    bar.close()
    counts["empty"] = len(empty_ids)
    counts["truncated"] = len(truncated_ids)
    counts["skipped_too_long"] = len(too_long_ids)
    if len(too_long_ids) > _SKIP_LINES:
        print(
            f"warning: {len(too_long_ids)} item(s) skipped in all for {out.path}: their prompts do not fit "
            f"the context ({_some(too_long_ids)})",
            file=sys.stderr,
        )
    if empty_ids:
        print(
            f"warning: {len(empty_ids)} empty generation(s) in {out.path} (graded wrong): {_some(empty_ids)}",
            file=sys.stderr,
        )
    if truncated_ids:
        print(
            f"warning: {len(truncated_ids)} generation(s) in {out.path} stopped at max_tokens={params.max_tokens}: "
            f"{_some(truncated_ids)}",
            file=sys.stderr,
        )
    record_failures(out, failed)
    return counts


def record_failures(out: ResumableJsonl, failed: list[dict]) -> None:
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


_SKIP_LINES = 20  # skipped items reported one per line, then only counted


def too_long(engine: Engine, prompts: Sequence[Prompt], max_tokens: int) -> dict[int, str]:
    """Index -> reason for each prompt that does not fit ``engine.context_length`` with room for
    ``max_tokens`` more tokens. Empty when the engine does not know its context or cannot count."""
    limit = engine.context_length
    if not limit or not prompts:
        return {}
    lengths = engine.count_prompt_tokens(prompts)
    if lengths is None:
        return {}
    room = limit - max_tokens
    return {
        i: f"prompt of {n} tokens + max_tokens {max_tokens} > context of {limit} tokens"
        for i, n in enumerate(lengths)
        if n > room
    }


def _report_skip(item_id: str, reason: str, already: int) -> None:
    if already < _SKIP_LINES:
        print(f"warning: skipped {item_id}: {reason}", file=sys.stderr)


_ABSENT = Completion("")  # stands in for completions already written (their records are dropped)


def _some(ids: list[str], k: int = 5) -> str:
    return ", ".join(ids[:k]) + (" ..." if len(ids) > k else "")


def grade_records(
    records: list[dict], grader: str, workers: int | None = None, text_field: str = "response"
) -> list[dict]:
    """Add ``pred``, ``correct``, ``grader`` and ``grade_status`` to records carrying ``gold`` and
    ``dataset_type`` (timeouts and errors are counted and logged by ``grade_batch``)."""
    grades = grade_batch(
        [(r[text_field], r["gold"], r["dataset_type"]) for r in records], grader=grader, workers=workers
    )
    for r, g in zip(records, grades):
        r.update(g.record_fields())
    return records


def sampling_params(n: int, temperature: float, max_tokens: int, seed: int, top_p: float = 1.0) -> SamplingParams:
    return SamplingParams(n=n, temperature=temperature, top_p=top_p, max_tokens=max_tokens, seed=seed)
