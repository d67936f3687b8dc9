"""Stage: fine-tune the actor on an iteration's SFT set with LLaMA-Factory.

Writes ``iter_k/dataset_info.json`` (the SFT file registered for LLaMA-Factory) and
``iter_k/train.yaml`` (every training argument), then runs ``llamafactory-cli train`` with the
log in ``iter_k/train.log``. Training writes to ``iter_k/actor.partial`` and is renamed to
``iter_k/actor`` only when it succeeded, so a crash never leaves a half-written actor behind.

Profiles (``--profile``):

* ``gpu`` — the paper's settings: full fine-tuning, lr 5e-6, cosine, 1 epoch, per-device batch 4
  x gradient accumulation 8, cutoff 4096, bf16, DeepSpeed ZeRO-2. LLaMA-Factory launches torchrun
  itself over the visible GPUs; for several nodes set NNODES, NODE_RANK, MASTER_ADDR and
  MASTER_PORT in the environment of every node.
* ``cpu`` — the same recipe in fp32 without DeepSpeed, for a small number of steps.

Every value can be overridden with ``--set key=value`` (LLaMA-Factory argument names).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from selfimprove.core.cli import parser, run
from selfimprove.core.io import atomic_write_json, atomic_write_text, read_json
from selfimprove.core.manifest import Step
from selfimprove.training.launcher import PROFILES, dataset_entry, find_cli, parse_overrides, to_yaml, training_args


def main(argv=None) -> int:
    ap = parser("train", __doc__.split("\n\n")[0])
    ap.add_argument("--run-dir", required=True, help="experiment folder (runs/<EXP>)")
    ap.add_argument("--iter", type=int, required=True, help="iteration k: trains on iter_k's SFT set")
    ap.add_argument("--base-model", required=True, help="model every iteration starts from (folder or hub id)")
    ap.add_argument("--template", required=True, help="LLaMA-Factory chat template (e.g. default for base models)")
    ap.add_argument("--format", choices=("sharegpt", "alpaca"), default="sharegpt", help="format of the SFT file")
    ap.add_argument(
        "--default-system",
        default=None,
        help="system prompt the template adds when a conversation has none (match the model's chat template)",
    )
    ap.add_argument("--profile", default=os.environ.get("PROFILE", "cpu"), choices=sorted(PROFILES))
    ap.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a LLaMA-Factory argument (repeatable)"
    )
    ap.add_argument("--llamafactory-cli", default=None, help="path of llamafactory-cli (default: .venv-train)")
    ap.add_argument("--step", default=None)
    args = ap.parse_args(argv)
    run_dir = Path(args.run_dir).resolve()
    iter_dir = run_dir / f"iter_{args.iter}"
    sft_name = "sft.json" if args.iter == 0 else "04_sft.json"
    if not (iter_dir / sft_name).is_file():
        raise SystemExit(f"error: {iter_dir / sft_name} not found; run the filter step first")
    if not (Path(args.base_model) / "config.json").is_file() and Path(args.base_model).exists():
        raise SystemExit(f"error: {args.base_model} is not a model folder (no config.json)")
    actor, partial = iter_dir / "actor", iter_dir / "actor.partial"
    dataset = f"sft_iter{args.iter}"
    targs = training_args(
        args.profile,
        args.base_model,
        args.template,
        iter_dir,
        dataset,
        partial,
        {"default_system": args.default_system, **parse_overrides(args.set)},
    )
    step = Step(run_dir, args.step or f"iter_{args.iter}/05_train", targs)
    if step.done and (actor / "config.json").is_file():
        print(f"[{step.name}] already done, skipping")
        return 0
    cli = find_cli(args.llamafactory_cli)
    with step:
        atomic_write_json(iter_dir / "dataset_info.json", {dataset: dataset_entry(sft_name, args.format)})
        atomic_write_text(iter_dir / "train.yaml", to_yaml(targs))
        env = {
            **os.environ,
            "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1"),
            "HF_DATASETS_OFFLINE": os.environ.get("HF_DATASETS_OFFLINE", "1"),
            "WANDB_DISABLED": "true",
            "TOKENIZERS_PARALLELISM": "false",
        }
        if args.profile == "gpu":  # DeepSpeed needs the torchrun launcher even on one GPU
            env.setdefault("FORCE_TORCHRUN", "1")
        # the trainer's own venv must not inherit this one's packages
        env.pop("PYTHONPATH", None)
        env.pop("VIRTUAL_ENV", None)
        print(f"[{step.name}] {cli} train {iter_dir / 'train.yaml'} (log: {iter_dir / 'train.log'})", file=sys.stderr)
        with open(iter_dir / "train.log", "w") as log:
            proc = subprocess.run(
                [cli, "train", str(iter_dir / "train.yaml")],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=iter_dir,
            )
        if proc.returncode != 0:
            tail = (iter_dir / "train.log").read_text(errors="replace").splitlines()[-15:]
            raise SystemExit(
                f"error: llamafactory-cli train failed (exit {proc.returncode}); last lines of "
                f"{iter_dir / 'train.log'}:\n  " + "\n  ".join(tail)
            )
        if actor.exists():
            shutil.rmtree(actor)
        partial.rename(actor)
        result = {}
        if (actor / "train_results.json").is_file():
            result = read_json(actor / "train_results.json")
        step.count(
            examples=len(read_json(iter_dir / sft_name)),
            train_loss=result.get("train_loss"),
            train_runtime=result.get("train_runtime"),
        )
    print(f"actor of iteration {args.iter}: {actor}")
    return 0


if __name__ == "__main__":
    run(main)
