#!/usr/bin/env python
"""The measurements of scripts/gpu_check.sh (run that; this is its worker).

    python scripts/gpu_check.py --out DIR [--cpu] [--tiny] [--big-layers N]

Four parts, each in its own process so memory peaks are per part, then one table:

1. ``gen-small``: our transformers engine (:class:`selfimprove.generation.engines.HFEngine`)
   generating on a model of the embedded model's shape (its config.json and tokenizer from
   ``models/``; random weights: the real ones, 94 MB as GGUF, do not travel within 64 MiB, and
   random weights never stop early, so every sample runs to ``max_tokens``), bf16 on a GPU;
2. ``sft-small``: one LLaMA-Factory full-SFT run of a few steps on that model, DeepSpeed ZeRO-2
   and bf16 on a GPU (the paper's recipe: lr 5e-6, cosine, per-device batch 4), step time and
   peak memory from a trainer callback;
3. ``gen-8b`` and 4. ``sft-8b``: the same on a Llama-3-8B-shaped model (hidden 4096, 32 layers,
   GQA 32/8 heads, MLP 14336, vocabulary 128256) with random weights made from the config alone.

``--cpu --tiny`` runs the same code on the CPU with tiny configs (no DeepSpeed, fp32), which is
what the tests run. Results: ``DIR/results.json`` and the table on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
EMBEDDED = ROOT / "models" / "SmolLM2-135M-Instruct"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "special_tokens_map.json")
LLAMA3_8B = dict(
    hidden_size=4096,
    intermediate_size=14336,
    num_hidden_layers=32,
    num_attention_heads=32,
    num_key_value_heads=8,
    vocab_size=128256,
    max_position_embeddings=8192,
    rope_theta=500000.0,
    rms_norm_eps=1e-5,
    tie_word_embeddings=False,
)
TINY = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2)


def gib(n: float) -> float:
    return round(n / 2**30, 2)


# ---------------------------------------------------------------------- models from configs
def make_model(folder: Path, shape: str, tiny: bool, cpu: bool, big_layers: int) -> dict:
    """A model folder with random weights: the embedded model's config (``small``) or Llama-3-8B's
    (``8b``), shrunk with ``tiny``; the embedded tokenizer either way."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    cfg = AutoConfig.from_pretrained(EMBEDDED)
    if shape == "8b":
        for k, v in LLAMA3_8B.items():
            setattr(cfg, k, v)
        cfg.num_hidden_layers = big_layers
        cfg.head_dim = cfg.hidden_size // cfg.num_attention_heads
    if tiny:
        for k, v in TINY.items():
            setattr(cfg, k, v)
        cfg.head_dim = cfg.hidden_size // cfg.num_attention_heads
        if shape == "8b":
            cfg.num_hidden_layers, cfg.vocab_size = 4, 128256
    dtype = torch.float32 if cpu else torch.bfloat16
    t0 = time.time()
    device = "cpu" if cpu else "cuda"
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(cfg, dtype=dtype)
    params = sum(p.numel() for p in model.parameters())
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    for name in TOKENIZER_FILES:
        if (EMBEDDED / name).exists():
            shutil.copy(EMBEDDED / name, folder / name)
    del model
    return {"params": params, "make_s": round(time.time() - t0, 1)}


# ---------------------------------------------------------------------- parts (child processes)
def part_gen(model: Path, cpu: bool, prompts: int, max_tokens: int) -> dict:
    import torch

    from selfimprove.generation.engines import HFEngine, SamplingParams
    from selfimprove.generation.prompts import solve_prompt

    engine = HFEngine(str(model), dtype="float32" if cpu else "bfloat16", device="cpu" if cpu else "cuda")
    engine.batch_size = prompts
    qs = [
        solve_prompt(f"A box holds {i} red and {i + 2} blue balls. How many balls are there?", "gsm8k")
        for i in range(prompts)
    ]
    params = SamplingParams(n=1, temperature=0.7, max_tokens=max_tokens, seed=0)
    engine.generate(qs[:2], SamplingParams(n=1, max_tokens=4))  # warm-up
    if not cpu:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t0 = time.time()
    outs = engine.generate(qs, params)
    if not cpu:
        torch.cuda.synchronize()
    secs = time.time() - t0
    tokens = sum(c.completion_tokens or 0 for cs in outs for c in cs)
    return {
        "seconds": round(secs, 2),
        "tokens": tokens,
        "tokens_per_s": round(tokens / secs, 1),
        "samples_per_s": round(len(qs) / secs, 2),
        "batch": prompts,
        "peak_gib": None if cpu else gib(torch.cuda.max_memory_allocated()),
        "load_s": round(engine.load_seconds, 1),
    }


def part_sft(model: Path, work: Path, cpu: bool, steps: int, cutoff: int, batch: int) -> dict:
    import torch
    from llamafactory.train.tuner import run_exp
    from transformers import TrainerCallback

    data = work / "data"
    data.mkdir(parents=True, exist_ok=True)
    rows = [
        {
            "instruction": f"What is {i} + {i + 5}? Please also give your final number in the format of "
            "'The answer is [your answer].'",
            "input": "",
            "output": "Let's break it down step by step:\n\n"
            + f"{i} + {i + 5} = {2 * i + 5}.\n" * 40
            + f"The answer is {2 * i + 5}.",
        }
        for i in range(batch * (steps + 2))
    ]
    (data / "check.json").write_text(json.dumps(rows))
    (data / "dataset_info.json").write_text(json.dumps({"check": {"file_name": "check.json"}}))
    stamps: list[float] = []
    result: dict = {}

    class Clock(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            if not cpu:
                torch.cuda.synchronize()
            stamps.append(time.time())

        def on_train_end(self, args, state, control, **kw):
            gaps = [b - a for a, b in zip(stamps, stamps[1:])]
            result.update(
                steps=len(stamps),
                step_s=round(statistics.median(gaps), 3) if gaps else None,
                first_step_s=round(stamps[0] - t0, 1) if stamps else None,
                peak_gib=None if cpu else gib(torch.cuda.max_memory_allocated()),
                reserved_gib=None if cpu else gib(torch.cuda.max_memory_reserved()),
                tokens_per_step=batch * cutoff,
                loss=next((h["loss"] for h in reversed(state.log_history) if "loss" in h), None),
            )
            print("RESULT " + json.dumps(result), flush=True)
            os._exit(0)  # skip writing the trained weights: only the steps are measured

    args = dict(
        model_name_or_path=str(model),
        stage="sft",
        do_train=True,
        finetuning_type="full",
        dataset="check",
        dataset_dir=str(data),
        template="default",
        cutoff_len=cutoff,
        packing=False,
        overwrite_cache=True,
        preprocessing_num_workers=1,
        output_dir=str(work / "out"),
        per_device_train_batch_size=batch,
        gradient_accumulation_steps=1,
        learning_rate=5e-6,
        lr_scheduler_type="cosine",
        max_steps=steps,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        optim="adamw_torch",
        bf16=not cpu,
        overwrite_output_dir=True,
        trust_remote_code=False,
    )
    if not cpu:
        args["deepspeed"] = str(ROOT / "LLaMA-Factory" / "configs" / "deepspeed" / "ds_z2_config.json")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        os.environ.update(RANK="0", LOCAL_RANK="0", WORLD_SIZE="1", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    else:
        args["use_cpu"] = True
    t0 = time.time()
    run_exp(args, callbacks=[Clock()])
    return result or {"error": "training ended without the callback's result"}


def child(argv: list[str]) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("part")
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--cpu", action="store_true")
    ap.add_argument("--prompts", type=int, default=64)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--cutoff", type=int, default=1024)
    ap.add_argument("--batch", type=int, default=4)
    a = ap.parse_args(argv)
    if a.part == "gen":
        out = part_gen(a.model, a.cpu, a.prompts, a.max_tokens)
    else:
        out = part_sft(a.model, a.work, a.cpu, a.steps, a.cutoff, a.batch)
    print("RESULT " + json.dumps(out), flush=True)
    return 0


# ---------------------------------------------------------------------- the driver
def run_part(name: str, argv: list[str], log: Path, timeout: float) -> dict:
    t0 = time.time()
    with open(log, "w") as f:
        try:
            p = subprocess.run(
                [sys.executable, __file__, "--child", *argv],
                stdout=subprocess.PIPE,
                stderr=f,
                text=True,
                timeout=timeout,
            )
            out, code = p.stdout, str(p.returncode)
        except subprocess.TimeoutExpired as e:
            out, code = (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else (e.stdout or ""), "timeout"
    lines = [x for x in out.splitlines() if x.startswith("RESULT ")]
    res = json.loads(lines[-1][7:]) if lines else {}
    if not lines:
        tail = log.read_text(errors="replace").strip().splitlines()[-3:]
        oom = any("out of memory" in t.lower() for t in log.read_text(errors="replace").splitlines())
        res = {"error": "out of memory" if oom else f"exit {code}: {' | '.join(tail)[-300:]}"}
    res["wall_s"] = round(time.time() - t0, 1)
    print(f"[gpu_check] {name}: {json.dumps(res)}", flush=True)
    return res


def table(results: dict, device: str) -> str:
    head = ["part", "model", "params", "what", "time", "throughput", "peak GPU mem", "wall"]
    rows = []
    for name, r in results["parts"].items():
        shape = "embedded shape" if "small" in name else "Llama-3-8B shape"
        params = f"{results['models'][name.split('-')[1]]['params'] / 1e6:,.0f} M"
        if "error" in r:
            rows.append([name, shape, params, "failed", "-", r["error"][:60], "-", f"{r['wall_s']} s"])
        elif name.startswith("gen"):
            rows.append(
                [
                    name,
                    shape,
                    params,
                    f"HF generate, {r['batch']} prompts x {r['tokens'] // max(1, r['batch'])} tok",
                    f"{r['seconds']} s",
                    f"{r['tokens_per_s']} tok/s",
                    _mem(r),
                    f"{r['wall_s']} s",
                ]
            )
        else:
            rows.append(
                [
                    name,
                    shape,
                    params,
                    f"full SFT, {r['steps']} steps of {r['tokens_per_step']} tok",
                    f"{r['step_s']} s/step",
                    f"{r['tokens_per_step'] / r['step_s']:.0f} tok/s" if r["step_s"] else "-",
                    _mem(r),
                    f"{r['wall_s']} s",
                ]
            )
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    fmt = "| " + " | ".join(f"{{:<{w}}}" for w in widths) + " |"
    lines = [f"gpu_check on {device}", fmt.format(*head), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    return "\n".join(lines + [fmt.format(*map(str, r)) for r in rows])


def _mem(r: dict) -> str:
    return (
        "-"
        if r.get("peak_gib") is None
        else f"{r['peak_gib']} GiB" + (f" ({r['reserved_gib']} reserved)" if r.get("reserved_gib") else "")
    )


def main() -> int:
    if sys.argv[1:2] == ["--child"]:
        return child(sys.argv[2:])
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--cpu", action="store_true", help="run on the CPU (no DeepSpeed, fp32)")
    ap.add_argument("--tiny", action="store_true", help="tiny configs instead of the real shapes")
    ap.add_argument("--big-layers", type=int, default=32, help="layers of the Llama-3-8B-shaped model")
    ap.add_argument("--part-timeout", type=float, default=300.0)
    a = ap.parse_args()
    import torch

    if not a.cpu and not torch.cuda.is_available():
        print("[gpu_check] no GPU visible to torch; use --cpu --tiny for the CPU run", file=sys.stderr)
        return 2
    device = (
        "cpu"
        if a.cpu
        else f"{torch.cuda.get_device_name(0)} ({gib(torch.cuda.get_device_properties(0).total_memory)} GiB)"
    )
    a.out.mkdir(parents=True, exist_ok=True)
    results: dict = {
        "device": device,
        "torch": torch.__version__,
        "cpu": a.cpu,
        "tiny": a.tiny,
        "models": {},
        "parts": {},
    }
    work = a.out / "work"
    base = ["--cpu"] if a.cpu else []
    gen = ["--prompts", "8", "--max-tokens", "16"] if a.tiny else ["--prompts", "64", "--max-tokens", "128"]
    sft = (
        ["--steps", "3", "--cutoff", "64", "--batch", "2"]
        if a.tiny
        else ["--steps", "5", "--cutoff", "1024", "--batch", "4"]
    )
    for shape in ("small", "8b"):
        folder = work / f"model-{shape}"
        results["models"][shape] = make_model(folder, shape, a.tiny, a.cpu, a.big_layers)
        print(f"[gpu_check] model {shape}: {results['models'][shape]}", flush=True)
        big_gen = ["--prompts", "16", "--max-tokens", "64"] if shape == "8b" and not a.tiny else gen
        results["parts"][f"gen-{shape}"] = run_part(
            f"gen-{shape}",
            ["gen", "--model", str(folder), "--work", str(work), *base, *big_gen],
            a.out / f"gen-{shape}.log",
            a.part_timeout,
        )
        results["parts"][f"sft-{shape}"] = run_part(
            f"sft-{shape}",
            ["sft", "--model", str(folder), "--work", str(work / f"sft-{shape}"), *base, *sft],
            a.out / f"sft-{shape}.log",
            a.part_timeout,
        )
        shutil.rmtree(folder, ignore_errors=True)  # 16 GB at the 8B shape
    (a.out / "results.json").write_text(json.dumps(results, indent=2))
    text = table(results, device)
    (a.out / "table.md").write_text(text + "\n")
    print(text)
    return 0 if not any("error" in r for r in results["parts"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
