"""Sequential critique-refine chains at test time: rounds of critique -> refine on one answer."""

from __future__ import annotations

from pathlib import Path

from selfimprove.core.io import ResumableJsonl, read_jsonl
from selfimprove.generation.engines import SamplingParams
from selfimprove.generation.tasks import critique_samples, refine_critiques

SEQUENTIAL_MODES = ("oracle", "all", "verifier")


def _by_sample(critiques: list[dict], refinements: list[dict]) -> tuple[list[dict], list[dict]]:
    """Critiques/refinements keyed by the sample they judge, as the metrics expect."""
    crit = [{**c, "id": c["sample_id"], "index": _index(c["sample_id"])} for c in critiques]
    refs = [{**r, "id": r["sample_id"], "index": _index(r["sample_id"])} for r in refinements]
    return crit, refs


def _index(sample_id: str) -> int:
    return int(sample_id.rsplit("/s", 1)[1])


def run_sequential(
    actor,
    critic,
    questions: list[dict],
    greedy: list[dict],
    out_dir: Path,
    rounds: int,
    mode: str,
    actor_params: SamplingParams,
    critic_params: SamplingParams,
    grader: str,
    chunk_size: int,
) -> tuple[list[dict], dict]:
    """R rounds of critique -> refine on one chain per question, starting from the greedy answer."""
    if mode not in SEQUENTIAL_MODES:
        raise ValueError(f"sequential mode must be one of {SEQUENTIAL_MODES}, not {mode!r}")
    # each mode grows its own chains (they diverge after round 0)
    tag = f"chain_{mode}"
    chain_out = ResumableJsonl(out_dir / f"{tag}.jsonl")
    start = [{**g, "id": f"{g['qid']}/r0", "round": 0, "sample_id": g["id"]} for g in greedy]
    chain_out.append([r for r in start if r["id"] not in chain_out.done])
    qmap = {q["id"]: q for q in questions}
    first_wrong = {g["qid"] for g in greedy if not g["correct"]}
    counts = {}
    for r in range(1, rounds + 1):
        current = [c for c in chain_out.records if c["round"] == r - 1]
        if mode == "oracle":
            current = [c for c in current if c["qid"] in first_wrong]
        # the critique of round r-1's answer (a "sample" whose id is the chain position)
        as_samples = [{**c, "id": f"{c['qid']}/r{r - 1}", "question": qmap[c["qid"]]["question"]} for c in current]
        crits, _ = critique_samples(
            critic,
            as_samples,
            out_dir / f"{tag}_critiques.jsonl",
            critic_params,
            chunk_size,
            desc=f"round {r} critiques",
        )
        crits = [c for c in crits if c["sample_id"].endswith(f"/r{r - 1}")]
        if mode == "verifier":
            crits = [c for c in crits if c["verdict"] == "wrong"]
        samples = {s["id"]: s for s in as_samples}
        refs, _ = refine_critiques(
            actor,
            crits,
            samples,
            out_dir / f"{tag}_round{r}.jsonl",
            actor_params,
            reserved_new_data=10**9,
            grader=grader,
            chunk_size=chunk_size,
            desc=f"round {r} refinements",
        )
        new = [{**x, "id": f"{x['qid']}/r{r}", "round": r} for x in refs]
        chain_out.append([x for x in new if x["id"] not in chain_out.done])
        counts[f"round{r}_refined"] = len(refs)
    # the critic's verdict on each chain answer, where one was asked for
    verdicts = {}
    if (out_dir / f"{tag}_critiques.jsonl").exists():
        for c in read_jsonl(out_dir / f"{tag}_critiques.jsonl"):
            verdicts[c["sample_id"]] = c["verdict"]
    chain = [{**c, "verdict": verdicts.get(c["id"])} for c in chain_out.records if c["round"] <= rounds]
    return chain, counts
