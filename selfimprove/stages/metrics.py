"""Every test-time metric, from graded generation records into ``results.json`` (stand-alone form).

::

    python -m selfimprove metrics --questions test.jsonl --pool pool.jsonl [--greedy greedy.jsonl]
        [--critiques critiques.jsonl] [--refinements refinements.jsonl] [--chains chain.jsonl]
        [--config config.json] --out results.json

The evaluation stage calls :func:`selfimprove.evaluation.metrics.compute_results` directly; this
command computes the same from files. Unreadable or inconsistent records end with one ``error:``
line and exit 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence

from selfimprove.core.record_io import (
    read_chain_steps,
    read_critiques,
    read_questions,
    read_refinements,
    read_samples,
)
from selfimprove.core.records import RecordT
from selfimprove.evaluation.metrics import compute_results, write_results

#: the records are checked by the joins (naming the offending id), so the readers require no field
NONE_REQUIRED: tuple[str, ...] = ()


def load(read: Callable[[str, tuple[str, ...]], list[RecordT]], path: str | None) -> list[RecordT] | None:
    """The records of an optional input (None when not given)."""
    return read(path, NONE_REQUIRED) if path else None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m selfimprove metrics",
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
        results = compute_results(
            read_questions(args.questions, NONE_REQUIRED),
            load(read_samples, args.greedy),
            read_samples(args.pool, NONE_REQUIRED),
            load(read_critiques, args.critiques),
            load(read_refinements, args.refinements),
            load(read_chain_steps, args.chains),
            config,
        )
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    write_results(results, args.out)
    print(f"wrote {args.out}")
    return 0
