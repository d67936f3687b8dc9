#!/usr/bin/env python
"""Benchmark: our sample stage against the raw engine on the same prompts, plus a run's stage times.

Both sides use one loaded vLLM engine and identical prompts and sampling parameters (with a
fixed seed, so they generate the same tokens). "raw" is ``LLM.generate`` on the rendered prompt
texts; "ours" is :func:`selfimprove.sample.sample_questions` — prompt building, generation in
checkpointed chunks, grading and the resumable JSONL writes. Rounds alternate raw/ours and the
median is reported, so background noise hits both sides alike.

    python scripts/bench_pipeline.py --questions 64 --n 4 --max-tokens 128 [--run-dir runs/demo]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("VLLM_CPU_NUM_OF_RESERVED_CPU", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def stage_times(run_dir: Path) -> None:
    from selfimprove.core.manifest import read

    steps = read(run_dir)["steps"]
    if not steps:
        print(f"(no manifest in {run_dir}; run `make demo` first for per-stage times)")
        return
    print(f"\nwall time per stage of {run_dir}:")
    total = 0.0
    for name, e in steps.items():
        secs = e.get("seconds", 0.0) + e.get("seconds_before", 0.0)
        total += secs
        print(f"  {name:<28} {secs:8.1f} s  {e.get('status')}")
    print(f"  {'total':<28} {total:8.1f} s")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(ROOT / "models" / "SmolLM2-135M-Instruct"))
    ap.add_argument("--questions", type=int, default=64)
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--chunk-size", type=int, default=1024)
    ap.add_argument("--run-dir", default=str(ROOT / "runs" / "demo"))
    args = ap.parse_args()

    from vllm import SamplingParams as VSP

    from selfimprove.data.datasets import load_questions
    from selfimprove.generation.engines import SamplingParams, VLLMEngine
    from selfimprove.generation.prompts import solve_prompt
    from selfimprove.generation.tasks import sample_questions

    questions = load_questions("synthetic", "test", limit=args.questions)
    t0 = time.time()
    engine = VLLMEngine(args.model, max_model_len=2048)
    print(f"engine start: {time.time() - t0:.1f} s")
    params = SamplingParams(n=args.n, temperature=0.7, max_tokens=args.max_tokens, seed=1)
    texts = [engine.format.render(solve_prompt(q["question"], q["dataset_type"])) for q in questions]
    vsp = VSP(**engine._vllm_params(params))
    engine._llm.generate(texts[:4], vsp, use_tqdm=False)  # warm-up

    raw_t, ours_t, tokens = [], [], 0
    for r in range(args.rounds):
        t = time.perf_counter()
        outs = engine._llm.generate(texts, vsp, use_tqdm=False)
        raw_t.append(time.perf_counter() - t)
        tokens = sum(len(c.token_ids) for o in outs for c in o.outputs)
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            sample_questions(
                engine,
                questions,
                Path(tmp) / "samples.jsonl",
                params,
                chunk_size=args.chunk_size,
                desc=f"ours, round {r + 1}",
            )
            ours_t.append(time.perf_counter() - t)
    raw, ours = statistics.median(raw_t), statistics.median(ours_t)
    print(
        f"\nsampling {len(questions)} questions x {args.n} samples x <= {args.max_tokens} tokens "
        f"({tokens} tokens generated), median of {args.rounds} rounds:"
    )
    print(f"  {'':<22}{'seconds':>10}{'tokens/s':>12}{'samples/s':>12}")
    for name, secs in (("raw vLLM generate", raw), ("our sample stage", ours)):
        print(f"  {name:<22}{secs:>10.2f}{tokens / secs:>12.1f}{len(questions) * args.n / secs:>12.2f}")
    print(f"  ours / raw throughput: {raw / ours * 100:.1f}%  (goal: >= 95%)")
    stage_times(Path(args.run_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
