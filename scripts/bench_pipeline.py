#!/usr/bin/env python
"""Benchmark: our sample stage against the raw engine on the same prompts, plus a run's stage times.

Both sides use one loaded vLLM engine and identical prompts and sampling parameters (with a
fixed seed, so they generate the same tokens). "raw" is ``LLM.generate`` on the rendered prompt
texts; "ours" is :func:`selfimprove.generation.tasks.sample_questions` — prompt building, generation in
checkpointed chunks, grading and the resumable JSONL writes. Rounds alternate raw/ours and the
median is reported, so background noise hits both sides alike.

    python scripts/bench_pipeline.py --questions 64 --n 4 --max-tokens 128 [--run-dir runs/demo]

``--eval``: two engines on one machine, as an evaluation holds them (actor and critic, two vLLM
engines of the same model). It checks the engines' completions (finish reason and token counts
against our own prompt count) and the prompt-length guard (a 1 MB question), then measures, with
idle engines paused (``SELFIMPROVE_SUSPEND_IDLE=1``, the default) and without (``=0``, engines
running side by side as before): the CPU the idle actor's processes use while the critic
generates, and the wall time of the evaluation's generation phases (greedy, pool, pool critiques,
pool refinements, sequential rounds), and finally the time to close both engines.

    python scripts/bench_pipeline.py --eval --questions 8 --n 2 --max-tokens 64 --rounds 1 --repeat 2

``--ray``: the sample task through ``ENGINE=ray`` (a local Ray instance, the engine ``RAY_ENGINE``
picks in each replica) against the same engine in this process; the sides take turns (ABBA), one
loaded at a time.

    python scripts/bench_pipeline.py --ray --questions 16 --n 2 --max-tokens 64 --rounds 2 --repeat 2

``--startup``: what one stage process pays on CPU with vLLM's engine core in-process
(``VLLM_ENABLE_V1_MULTIPROCESSING=0``, our CPU default) against vLLM's engine-core and worker
processes (``=1``): each side is a fresh process that imports vLLM, starts the engine, runs the
sample task once and closes it; ABBA order, medians of import, start, generation, close and the
whole process.

    python scripts/bench_pipeline.py --startup --questions 16 --n 2 --max-tokens 128 --repeat 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from selfimprove.core.config import Config
from selfimprove.core.layout import EVAL_FILES
from selfimprove.core.records import ChainStep, Sample, chain_id

DEFAULTS = Config()  # the knobs' defaults (the environment is not read)
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
    ap.add_argument("--model", default=DEFAULTS.model_name)
    ap.add_argument("--questions", type=int, default=64)
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--chunk-size", type=int, default=1024)
    ap.add_argument("--run-dir", default=str(DEFAULTS.layout.root))
    ap.add_argument("--eval", action="store_true", help="two engines: idle CPU and evaluation wall time")
    ap.add_argument("--critic-max-tokens", type=int, default=96, help="--eval: the critic's max tokens")
    ap.add_argument("--repeat", type=int, default=2, help="--eval/--ray: repetitions of both sides, in ABBA order")
    ap.add_argument("--engine", choices=("vllm", "scripted"), default="vllm", help="--eval: scripted = dry run")
    ap.add_argument("--ray", action="store_true", help="ENGINE=ray (local instance) vs the same engine in-process")
    ap.add_argument("--replicas", type=int, default=0, help="--ray: model replicas (0: RAY_REPLICAS's default)")
    ap.add_argument(
        "--ray-engine", choices=("auto", "hf", "vllm"), default="auto", help="--ray: engine on both sides (RAY_ENGINE)"
    )
    ap.add_argument("--startup", action="store_true", help="vLLM on CPU: engine core in-process vs its own processes")
    ap.add_argument("--startup-child", choices=("0", "1"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.startup_child:
        return startup_child(args)
    if args.startup:
        return bench_startup(args)
    if args.eval:
        return bench_eval(args)
    if args.ray:
        return bench_ray(args)

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
    texts = [engine.render(solve_prompt(q["question"], q["dataset_type"])) for q in questions]
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


# --------------------------------------------------------------------------- --eval

HUGE_QUESTION = "How many apples are there? " + "apple " * 200_000  # about 1.2 MB


def _cpu_seconds(engine) -> float:
    """CPU time (user + system) used so far by an engine's processes."""
    import psutil

    total = 0.0
    for p in engine._procs.alive() if hasattr(engine, "_procs") else []:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def _eval_phases(actor, critic, questions, out: Path, args) -> dict:
    """The evaluation's generation phases in its order; returns counts and wall seconds."""
    from selfimprove.generation.engines import SamplingParams
    from selfimprove.generation.tasks import critique_samples, refine_critiques, sample_questions

    greedy_p = SamplingParams(max_tokens=args.max_tokens, seed=1)
    pool_p = SamplingParams(n=args.n, temperature=0.7, max_tokens=args.max_tokens, seed=1)
    critic_p = SamplingParams(max_tokens=args.critic_max_tokens, seed=1)
    qtext = {q["id"]: q["question"] for q in questions}
    t0 = time.perf_counter()
    f = {role: out / name for role, name in EVAL_FILES.items()}
    greedy, gc = sample_questions(actor, questions, f["greedy"], greedy_p, desc="greedy")
    pool, _ = sample_questions(actor, questions, f["pool"], pool_p, desc="pool")
    samples: dict[str, Sample] = {s["id"]: {**s, "question": qtext[s["qid"]]} for s in pool}
    crits, _ = critique_samples(critic, list(samples.values()), f["pool_critiques"], critic_p)
    refine_critiques(actor, crits, samples, f["pool_refinements"], greedy_p, reserved_new_data=10**9)
    current: list[ChainStep] = [{**g, "question": qtext[g["qid"]]} for g in greedy]
    for r in range(1, args.rounds + 1):
        as_samples: dict[str, ChainStep] = {
            chain_id(c["qid"], r - 1): {**c, "id": chain_id(c["qid"], r - 1)} for c in current
        }
        crits, _ = critique_samples(critic, list(as_samples.values()), out / f"chain_critiques_{r}.jsonl", critic_p)
        refs, _ = refine_critiques(
            actor, crits, as_samples, out / f"chain_round{r}.jsonl", greedy_p, reserved_new_data=10**9
        )
        current = [{**x, "question": qtext[x["qid"]]} for x in refs]
    return {"seconds": time.perf_counter() - t0, "unanswered": gc["unanswered"]}


def _engines(args):
    if args.engine == "scripted":  # a dry run of this script's logic, no model
        from selfimprove.generation.engines import ScriptedEngine

        answer = "3 + 4 = 7.\nThe answer is 7."
        crit = "Step sentence: x\nCorrectness of the step: Wrong\n\nCorrectness of the final answer: Wrong"
        return (
            ScriptedEngine(lambda p, k: answer, name="actor", context_length=2048),
            ScriptedEngine(lambda p, k: crit, name="critic", context_length=2048),
        )
    from selfimprove.generation.engines import VLLMEngine

    engines = []
    for name in ("actor", "critic"):
        t = time.perf_counter()
        engines.append(VLLMEngine(args.model, max_model_len=2048, name=name))
        print(f"{name} engine start: {time.perf_counter() - t:.1f} s, {len(engines[-1]._procs)} processes")
    return engines[0], engines[1]


def bench_eval(args) -> int:
    from selfimprove.data.datasets import load_questions
    from selfimprove.generation.engines import SamplingParams, idle
    from selfimprove.generation.prompts import critique_prompt, solve_prompt

    questions = load_questions("synthetic", "test", limit=args.questions)
    huge = {**questions[0], "id": "huge", "question": HUGE_QUESTION}
    actor, critic = _engines(args)
    try:
        # completions: finish reason and token counts, the prompt counted as the engine counts it
        probe = solve_prompt(questions[0]["question"], questions[0]["dataset_type"])
        (c,) = actor.generate([probe], SamplingParams(max_tokens=8, seed=1))[0]
        ours = actor.count_prompt_tokens([probe])[0]
        print(
            f"completion: finish_reason={c.finish_reason} completion_tokens={c.completion_tokens} "
            f"prompt_tokens={c.prompt_tokens} (our count: {ours})"
        )

        # the idle actor while the critic works, without and with pausing
        critic_prompts = [critique_prompt(q["question"], "1 + 1 = 3\nThe answer is 3.") for q in questions]
        critic_p = SamplingParams(max_tokens=args.critic_max_tokens, seed=1)
        rows = []
        for policy in ("0", "1"):
            idle.set_enabled(policy == "1")
            actor.generate([probe], SamplingParams(max_tokens=8, seed=1))
            cpu0, t0 = _cpu_seconds(actor), time.perf_counter()
            critic.generate(critic_prompts, critic_p)
            rows.append((policy, _cpu_seconds(actor) - cpu0, time.perf_counter() - t0))
        print("\nidle actor while the critic generates:")
        for policy, cpu, wall in rows:
            label = "paused (SELFIMPROVE_SUSPEND_IDLE=1)" if policy == "1" else "running (=0)"
            print(f"  {label:<38} actor CPU {cpu:6.2f} s   critic wall {wall:6.2f} s")

        # the evaluation's phases (the grader's worker pool started beforehand, outside the timings)
        from selfimprove.grading.api import grade_batch

        grade_batch([("The answer is 7.", "7", "gsm8k")])
        # ABBA order per repetition, so warm-up and drift fall on both policies alike
        results: dict[str, list[dict]] = {"0": [], "1": []}
        for rep in range(args.repeat):
            for policy in ("0", "1") if rep % 2 == 0 else ("1", "0"):
                idle.set_enabled(policy == "1")
                with tempfile.TemporaryDirectory() as tmp:
                    results[policy].append(_eval_phases(actor, critic, questions + [huge], Path(tmp), args))
        print(
            f"\nevaluation phases ({len(questions)} questions + a 1 MB one, pool {args.n}, {args.rounds} round(s), "
            f"max_tokens {args.max_tokens}/{args.critic_max_tokens}; {args.repeat} repetition(s), alternating):"
        )
        for policy, runs in results.items():
            label = "idle engine paused" if policy == "1" else "both engines running"
            secs = [r["seconds"] for r in runs]
            each = ", ".join(f"{x:.1f}" for x in secs)
            print(
                f"  {label:<22} median {statistics.median(secs):7.1f} s   ({each})   unanswered={runs[0]['unanswered']}"
            )
    finally:  # closed even when the run is cut short (SIGTERM unwinds to here)
        t = time.perf_counter()
        procs = [e._procs for e in (actor, critic) if hasattr(e, "_procs")]
        actor.close()
        critic.close()
        left = sum(len(p.alive()) for p in procs)
        print(f"\nclose both engines: {time.perf_counter() - t:.1f} s; processes left: {left}")
    return 0


def bench_ray(args) -> int:
    """The sample stage's task through ENGINE=ray (replicas as actors of a local Ray instance)
    against the same engine in this process, on the same prompts and sampling parameters. The two
    sides never hold engines at the same time (two vLLM CPU engines would share the cores): each
    repetition loads one side, runs ``--rounds`` rounds and closes it, in ABBA order; medians."""
    from selfimprove.core.io import read_jsonl
    from selfimprove.data.datasets import load_questions
    from selfimprove.generation.engines import EngineSettings, SamplingParams
    from selfimprove.generation.engines.ray_engine import RayEngine
    from selfimprove.generation.engines.ray_pool import pick_inner
    from selfimprove.generation.engines.registry import ENGINE_CLASSES
    from selfimprove.generation.tasks import sample_questions

    inner = pick_inner(args.ray_engine)
    questions = load_questions("synthetic", "test", limit=args.questions)
    params = SamplingParams(n=args.n, temperature=0.7, max_tokens=args.max_tokens, seed=0)
    settings = EngineSettings(model=args.model, max_model_len=2048)
    runs: dict[str, list[tuple[float, int]]] = {"direct": [], "ray": []}
    starts: dict[str, list[float]] = {"direct": [], "ray": []}
    replicas: list[int] = []
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.repeat):
            for name in ("direct", "ray") if rep % 2 == 0 else ("ray", "direct"):
                t0 = time.time()
                if name == "direct":
                    engine = ENGINE_CLASSES[inner].from_settings(settings)
                else:
                    engine = RayEngine(settings, replicas=args.replicas or None, inner=inner)
                    replicas.append(len(engine.pool.handles))
                starts[name].append(time.time() - t0)
                try:
                    for r in range(args.rounds):
                        out = Path(tmp) / f"{name}{rep}_{r}.jsonl"
                        t = time.perf_counter()
                        sample_questions(engine, questions, out, params, chunk_size=args.chunk_size)
                        secs = time.perf_counter() - t
                        tokens = sum(x.get("completion_tokens") or 0 for x in read_jsonl(out))
                        runs[name].append((secs, tokens))
                        print(f"  rep {rep + 1} round {r + 1} {name:<6} {secs:7.2f} s  {tokens / secs:7.1f} tok/s")
                finally:
                    engine.close()
    print(
        f"\nsample stage, {len(questions)} questions x {args.n} samples, max_tokens {args.max_tokens}, {inner} engine; "
        f"median of {len(runs['direct'])} round(s) per side ({args.repeat} loads, ABBA); "
        f"Ray: {replicas[0]} replica(s) on a local instance:"
    )
    print("| | seconds | tokens/s | samples/s | engine start |\n|---|---|---|---|---|")
    rate = {}
    for name in ("direct", "ray"):
        secs = statistics.median(s for s, _ in runs[name])
        rate[name] = statistics.median(tok / s for s, tok in runs[name])
        start = statistics.median(starts[name])
        label = f"{inner} engine in-process" if name == "direct" else f"ENGINE=ray, {replicas[0]} replica(s)"
        print(f"| {label} | {secs:.2f} | {rate[name]:.1f} | {len(questions) * args.n / secs:.2f} | {start:.1f} s |")
    print(f"\nRay / direct (tokens/s): {100 * rate['ray'] / rate['direct']:.1f} % (goal >= 90 %)")
    return 0


def startup_child(args) -> int:
    """One side of ``--startup``, in its own process: prints one JSON line of phase times."""
    os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = args.startup_child
    t0 = time.perf_counter()
    import vllm  # noqa: F401  (the import is one of the phases)

    from selfimprove.core.io import read_jsonl
    from selfimprove.data.datasets import load_questions
    from selfimprove.generation.engines import SamplingParams, VLLMEngine
    from selfimprove.generation.tasks import sample_questions

    t1 = time.perf_counter()
    engine = VLLMEngine(args.model, max_model_len=2048)
    t2 = time.perf_counter()
    questions = load_questions("synthetic", "test", limit=args.questions)
    params = SamplingParams(n=args.n, temperature=0.7, max_tokens=args.max_tokens, seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "samples.jsonl"
        sample_questions(engine, questions, out, params, chunk_size=args.chunk_size)
        tokens = sum(x.get("completion_tokens") or 0 for x in read_jsonl(out))
    t3 = time.perf_counter()
    engine.close()
    t4 = time.perf_counter()
    phases = {"import": t1 - t0, "start": t2 - t1, "generate": t3 - t2, "close": t4 - t3, "tokens": tokens}
    print("STARTUP " + json.dumps(phases), flush=True)
    return 0


def bench_startup(args) -> int:
    """``--startup``: fresh processes, one side at a time, ABBA; the whole process timed from outside."""
    runs: dict[str, list[dict]] = {"0": [], "1": []}
    for rep in range(args.repeat):
        for mode in ("0", "1") if rep % 2 == 0 else ("1", "0"):
            cmd = [sys.executable, __file__, "--startup-child", mode, "--model", args.model]
            cmd += ["--questions", str(args.questions), "--n", str(args.n), "--max-tokens", str(args.max_tokens)]
            t = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True)
            total = time.perf_counter() - t
            lines = [x for x in proc.stdout.splitlines() if x.startswith("STARTUP ")]
            if proc.returncode or not lines:
                print(proc.stderr[-3000:], file=sys.stderr)
                print(f"error: the side with VLLM_ENABLE_V1_MULTIPROCESSING={mode} failed", file=sys.stderr)
                return 1
            phases = json.loads(lines[-1][len("STARTUP ") :]) | {"process": total}
            runs[mode].append(phases)
            print(f"  rep {rep + 1} multiprocessing={mode}: " + ", ".join(f"{k} {v:.1f}" for k, v in phases.items()))
    print(
        f"\none stage process on CPU: import vLLM, start the engine, sample {args.questions} questions x {args.n} "
        f"(max_tokens {args.max_tokens}), close; median of {args.repeat} per side (ABBA):"
    )
    print("| vLLM engine core | import | start | generate | close | whole process | tokens/s |")
    print("|---|---|---|---|---|---|---|")
    med = {}
    for mode, label in (("0", "in-process (our CPU default)"), ("1", "own processes (vLLM's default)")):
        m = {
            k: statistics.median(r[k] for r in runs[mode]) for k in ("import", "start", "generate", "close", "process")
        }
        rate = statistics.median(r["tokens"] / r["generate"] for r in runs[mode])
        med[mode] = m
        print(
            f"| {label} | {m['import']:.1f} s | {m['start']:.1f} s | {m['generate']:.1f} s | {m['close']:.1f} s "
            f"| {m['process']:.1f} s | {rate:.1f} |"
        )
    print(f"\nin-process saves {med['1']['process'] - med['0']['process']:.1f} s per stage process")
    return 0


if __name__ == "__main__":
    sys.exit(main())
