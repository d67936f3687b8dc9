"""Sequential critique-refine chains at test time: rounds of critique -> refine on K answers.

With K = 1 the chain starts from the greedy answer (records ``<qid>/r<r>`` in
``chain_<mode>.jsonl``); with K > 1 one chain starts from each of the first K pool samples, as
the released code's ``sample_num`` > 1 flow does (records ``<qid>/s<j>/r<r>`` with ``chain`` = j
in ``chains_<mode>.jsonl``). Round r > 0 is the refinement of round r - 1 guided by its
critique. Every record is keyed by chain and round, so more rounds or more chains only generate
what is missing. The evaluation stage runs them; :mod:`selfimprove.evaluation.sequential_metrics`
turns the records into numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from selfimprove.core.io import ResumableJsonl
from selfimprove.core.layout import RunLayout
from selfimprove.core.record_io import read_critiques
from selfimprove.core.records import ChainStep, Critique, Question, Refinement, Sample, chain_id, parse_chain_id
from selfimprove.generation.engines import SamplingParams
from selfimprove.generation.tasks import critique_samples, refine_critiques

SEQUENTIAL_MODES = ("oracle", "all", "verifier")


def chain_prefix(record_id: str) -> str:
    """The chain a chain-position id (``<prefix>/r<r>``) belongs to."""
    return parse_chain_id(record_id)[0]


def run_sequential(
    actor,
    critic,
    questions: Sequence[Question],
    starts: Sequence[Sample],
    out_dir: Path,
    rounds: int,
    mode: str,
    actor_params: SamplingParams,
    critic_params: SamplingParams,
    grader: str,
    chunk_size: int,
    chains: int = 1,
) -> tuple[list[ChainStep], dict]:
    """R rounds of critique -> refine on K chains per question.

    ``starts`` are the greedy answers (``chains`` = 1) or the pool samples (``chains`` > 1, the
    first ``chains`` indices of each question start a chain). Modes: ``oracle`` refines only the
    chains whose starting answer is known to be wrong (every round, as the released code does),
    ``all`` every chain every round, ``verifier`` a chain while the critic judges its current
    answer wrong. Returns the chain records (``round``, ``chain``, ``verdict`` of the critique of
    that answer where one was asked for, ``critique_unanswered`` where that critique's prompt was
    longer than the critic's context window) and counts. A critique or refinement whose prompt is
    longer than the context window is an empty, unanswered record (the loop's rule): its verdict
    is null and its answer wrong, and the chain goes on from it like from any other.
    """
    if mode not in SEQUENTIAL_MODES:
        raise ValueError(f"sequential mode must be one of {SEQUENTIAL_MODES}, not {mode!r}")
    if chains < 1:
        raise ValueError(f"chains must be >= 1, not {chains}")
    multi = chains > 1
    # each mode grows its own chains (they diverge after round 0)
    files = RunLayout.chain_files(out_dir, mode, rounds, multi=multi)
    chain_out: ResumableJsonl[ChainStep] = ResumableJsonl(files["chain"])
    if multi:
        starts = [s for s in starts if s["index"] < chains]
        index = {s["id"]: s["index"] for s in starts}
        prefix_of = {s["id"]: s["id"] for s in starts}
    else:
        index = {s["id"]: 0 for s in starts}
        prefix_of = {s["id"]: s["qid"] for s in starts}
    chain_of = {prefix_of[s["id"]]: index[s["id"]] for s in starts}
    first: list[ChainStep] = [
        {**s, "id": chain_id(prefix_of[s["id"]], 0), "round": 0, "chain": index[s["id"]], "sample_id": s["id"]}
        for s in starts
    ]
    chain_out.append([r for r in first if r["id"] not in chain_out.done])
    live = {r["id"] for r in first}
    qmap = {q["id"]: q for q in questions}
    first_wrong = {prefix_of[s["id"]] for s in starts if not s["correct"]}
    counts: dict[str, int] = {}
    for r in range(1, rounds + 1):
        current = [c for c in chain_out.records if c["round"] == r - 1 and chain_prefix(c["id"]) in chain_of]
        if mode == "oracle":
            current = [c for c in current if chain_prefix(c["id"]) in first_wrong]
        # the critique of round r-1's answer (a "sample" whose id is the chain position)
        as_samples: list[ChainStep] = [{**c, "question": qmap[c["qid"]]["question"]} for c in current]
        crits: list[Critique]
        crits, _ = critique_samples(
            critic,
            as_samples,
            files["critiques"],
            critic_params,
            chunk_size,
            desc=f"round {r} critiques",
        )
        wanted = {c["id"] for c in as_samples}
        crits = [c for c in crits if c["sample_id"] in wanted]
        if mode == "verifier":
            crits = [c for c in crits if c["verdict"] == "wrong"]
        samples: dict[str, Sample] = {s["id"]: s for s in as_samples}
        refs: list[Refinement]
        refs, _ = refine_critiques(
            actor,
            crits,
            samples,
            files[f"round{r}"],
            actor_params,
            reserved_new_data=10**9,
            grader=grader,
            chunk_size=chunk_size,
            desc=f"round {r} refinements",
        )
        refs = [x for x in refs if x["sample_id"] in wanted]
        new: list[ChainStep] = []
        for x in refs:
            prefix = chain_prefix(x["sample_id"])
            new.append({**x, "id": chain_id(prefix, r), "round": r, "chain": chain_of[prefix]})
        chain_out.append([x for x in new if x["id"] not in chain_out.done])
        live |= {x["id"] for x in new}
        counts[f"round{r}_refined"] = len(refs)
    # the critic's verdict on each chain answer, where one was asked for, and which critiques
    # went unanswered (their prompt is longer than the context window)
    verdicts: dict[str, str | None] = {}
    unanswered: set[str] = set()
    if files["critiques"].exists():
        for c in read_critiques(files["critiques"]):
            verdicts[c["sample_id"]] = c["verdict"]
            if c.get("unanswered"):
                unanswered.add(c["sample_id"])
    chain: list[ChainStep] = [
        {**c, "verdict": verdicts.get(c["id"]), **({"critique_unanswered": True} if c["id"] in unanswered else {})}
        for c in chain_out.records
        if c["id"] in live
    ]
    counts["unanswered_critiques"] = sum(c.get("critique_unanswered", False) for c in chain)
    counts["unanswered_refinements"] = sum(bool(c.get("unanswered")) and c["round"] > 0 for c in chain)
    return chain, counts
