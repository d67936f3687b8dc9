"""Shared command-line plumbing for the stages: common options and clean error exits."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

from selfimprove.core.io import RecordError

GRADER_CHOICES = ("default", "mathcritique", "math-verify")


def parser(prog: str, description: str) -> argparse.ArgumentParser:
    return argparse.ArgumentParser(
        prog=f"python -m selfimprove.{prog}",
        description=description,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )


def add_run_args(ap: argparse.ArgumentParser, step: str | None = None) -> None:
    g = ap.add_argument_group("run")
    g.add_argument(
        "--run-dir", default=None, help="experiment folder holding manifest.json (timings, counts, skip-when-done)"
    )
    g.add_argument("--step", default=step, help="step name recorded in the manifest, e.g. iter_1/01_samples")
    g.add_argument("--seed", type=int, default=int(os.environ.get("SEED", 0)), help="sampling seed")


def add_generation_args(ap: argparse.ArgumentParser, temperature: float, max_tokens: int, n: int = 1) -> None:
    g = ap.add_argument_group("generation")
    g.add_argument("--n", type=int, default=n, help="completions per item")
    g.add_argument("--temperature", type=float, default=temperature)
    g.add_argument("--top-p", type=float, default=1.0)
    g.add_argument("--max-tokens", type=int, default=max_tokens, help="new tokens per completion")
    g.add_argument(
        "--max-model-len",
        type=int,
        default=int(os.environ.get("MAX_MODEL_LEN", 4096)),
        help="context length the engine reserves",
    )
    g.add_argument("--gpu-memory-utilization", type=float, default=float(os.environ.get("GPU_MEMORY_UTILIZATION", 0.9)))
    g.add_argument(
        "--chunk-size",
        type=int,
        default=int(os.environ.get("CHUNK_SIZE", 1024)),
        help="items generated between two checkpoint appends",
    )
    g.add_argument(
        "--grader",
        default=os.environ.get("GRADER", "default"),
        choices=GRADER_CHOICES,
        help="answer grader (see selfimprove/process.py)",
    )
    g.add_argument("--grade-workers", type=int, default=None, help="grading worker processes")


def sampling_from_args(args: argparse.Namespace):
    """The :class:`~selfimprove.engines.SamplingParams` given by the generation options."""
    from selfimprove.generation.engines import SamplingParams

    return SamplingParams(
        n=args.n, temperature=args.temperature, top_p=args.top_p, max_tokens=args.max_tokens, seed=args.seed
    )


def positive(ap: argparse.ArgumentParser, args: argparse.Namespace, *names: str) -> None:
    for name in names:
        v = getattr(args, name)
        if v is None or v <= 0:
            ap.error(f"--{name.replace('_', '-')} must be positive (got {v})")


def run(main: Callable[[list[str] | None], int], argv: list[str] | None = None) -> None:
    """Run a stage's main: bad input ends with a one-line message and exit code 2."""
    try:
        code = main(argv)
    except RecordError as e:
        print(f"error: {e}", file=sys.stderr)
        code = 2
    except KeyboardInterrupt:
        print("interrupted; rerun the same command to continue where it stopped", file=sys.stderr)
        code = 130
    sys.exit(code or 0)
