"""Fine-tune a model with LLaMA-Factory: the actor of an iteration, or a critique model.

Roles (``--role``):

* ``actor`` (default) — ``--run-dir RUN --iter k``: trains on ``iter_k/sft.json`` (k = 0) or
  ``iter_k/04_sft.json`` and writes ``iter_k/actor``; YAML and log are ``iter_k/train.yaml`` and
  ``iter_k/train.log``; the manifest step is ``iter_k/05_train``.
* ``critic`` — ``--run-dir RUN --dataset-file FILE --out-dir DIR``: trains on FILE and writes DIR;
  YAML and log lie next to the data (``FILE`` with suffix ``.train.yaml`` / ``.train.log``); the
  manifest step is ``critic/05_train`` unless ``--step`` names another.

Both register the data file in ``dataset_info.json`` beside it, train into ``OUT.partial`` and rename
it to ``OUT`` only when training finished and the folder holds complete weights. A step recorded as
done is skipped only while its model folder passes that check.

Profiles (``--profile``):

* ``gpu`` — the paper's settings: full fine-tuning, lr 5e-6, cosine, 1 epoch, per-device batch 4
  x gradient accumulation 8, cutoff 4096, bf16, DeepSpeed ZeRO-2 (``--zero-stage 3`` or knob
  ``ZERO_STAGE=3`` for ZeRO-3). ``--global-batch N`` (knob ``GLOBAL_BATCH``; the paper presets: 256,
  the released 4 x 8 on 8 GPUs) sets the accumulation to N / (per-device batch x GPUs x nodes), so
  the batch per optimizer step stays N on any number of GPUs; a remainder is refused.
  LLaMA-Factory launches torchrun over the visible GPUs; for several nodes set NNODES,
  NODE_RANK, MASTER_ADDR and MASTER_PORT on every node (see docs/training.md).
* ``cpu`` — the same recipe without DeepSpeed, for a small number of steps: bf16 autocast where the
  CPU computes bf16 natively (AVX512-BF16 or AMX-BF16 in /proc/cpuinfo), fp32 elsewhere.

Only the final model is kept unless checkpoints are asked for (``--keep-checkpoints 1``, knob
``KEEP_CHECKPOINTS``, or ``--save-steps N``); with them, rerunning a killed training resumes from
its newest checkpoint.
Every value can be overridden with ``--set key=value`` (LLaMA-Factory argument names).

With ``--reuse-dir DIR`` (knob ``TRAIN_REUSE_DIR``) a training whose arguments, data bytes and base
model match one filed in DIR takes that model instead of training again; every finished training
is filed there (:mod:`selfimprove.training.reuse`).

An empty data file is an error, unless ``--if-empty skip``: then nothing is trained, the model
folder holds only ``not_trained.json`` (the reason), and the step is recorded with ``examples=0``;
the evaluation of such a model reports it as not trained.
"""

from __future__ import annotations

import os
from pathlib import Path

from selfimprove.core.cli import parser
from selfimprove.core.errors import DataError, UsageError
from selfimprove.core.io import atomic_write_json, read_json
from selfimprove.core.layout import NOT_TRAINED, RunLayout
from selfimprove.core.manifest import Step
from selfimprove.training.launcher import dataset_name, parse_overrides
from selfimprove.training.runner import TrainJob, run_job

CRITIC_STEP = RunLayout.pipeline_step("critic", "model")


def build_parser():
    ap = parser("train", __doc__)
    ap.add_argument("--role", choices=("actor", "critic"), default="actor", help="what is trained (default: actor)")
    ap.add_argument("--run-dir", required=True, help="experiment folder (runs/<EXP>) holding manifest.json")
    g = ap.add_argument_group("actor")
    g.add_argument("--iter", type=int, default=None, help="iteration k: trains on iter_k's SFT set")
    g = ap.add_argument_group("critic")
    g.add_argument("--dataset-file", default=None, help="SFT file (sharegpt or alpaca JSON list)")
    g.add_argument("--out-dir", default=None, help="model folder to write (trained in OUT.partial first)")
    g = ap.add_argument_group("training")
    g.add_argument("--base-model", required=True, help="model the run starts from (folder or hub id)")
    g.add_argument("--template", required=True, help="LLaMA-Factory chat template (sharegpt); default/empty for alpaca")
    g.add_argument("--format", choices=("sharegpt", "alpaca"), default="sharegpt", help="format of the SFT file")
    g.add_argument(
        "--default-system",
        default=None,
        help="system prompt the template adds when a conversation has none (match the model's chat template)",
    )
    ap.add_knob(g, "--profile", "profile")
    ap.add_knob(g, "--zero-stage", "zero_stage")
    ap.add_knob(g, "--global-batch", "global_batch", metavar="N")
    ap.add_knob(g, "--keep-checkpoints", "keep_checkpoints", metavar="0|1")
    ap.add_knob(g, "--reuse-dir", "train_reuse_dir", metavar="DIR")
    g.add_argument("--save-steps", type=int, default=None, help="checkpoint every N steps (implies checkpoints)")
    g.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a LLaMA-Factory argument (repeatable)"
    )
    g.add_argument("--llamafactory-cli", default=None, help="path of llamafactory-cli (default: .venv-train)")
    g.add_argument(
        "--if-empty",
        choices=("error", "skip"),
        default="error",
        help=f"an empty data file: error (default), or skip training and leave {NOT_TRAINED} in the model folder",
    )
    ap.add_argument("--step", default=None, help=f"step name in the manifest (critic default: {CRITIC_STEP})")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    run_dir = Path(args.run_dir).resolve()
    yaml_path = log_path = None
    if args.role == "actor":
        if args.iter is None:
            raise UsageError("--role actor needs --iter k")
        if args.dataset_file or args.out_dir:
            raise UsageError("--dataset-file/--out-dir belong to --role critic; the actor reads iter_k's SFT file")
        lay = RunLayout(run_dir)
        data_file, out_dir = lay.sft(args.iter), lay.actor(args.iter)
        if not data_file.is_file():
            raise DataError(f"{data_file} not found; run the filter step first")
        step, dataset = args.step or lay.step("train", args.iter), f"sft_iter{args.iter}"
        yaml_path, log_path = lay.train_yaml(args.iter), lay.train_log(args.iter)
    else:
        if not args.dataset_file or not args.out_dir:
            raise UsageError("--role critic needs --dataset-file FILE and --out-dir DIR")
        if args.iter is not None:
            raise UsageError("--iter belongs to --role actor")
        data_file, out_dir = Path(args.dataset_file).resolve(), Path(args.out_dir).resolve()
        if not data_file.is_file():
            raise DataError(f"{data_file} not found")
        step, dataset = args.step or CRITIC_STEP, dataset_name(f"critic_{data_file.stem}")
    if args.if_empty == "skip" and read_json(data_file) == []:
        skip_empty(run_dir, step, data_file, out_dir)
        return 0
    overrides = parse_overrides(args.set)
    keep = args.keep_checkpoints or args.save_steps is not None or overrides.get("save_strategy", "no") != "no"
    job = TrainJob(
        run_dir=run_dir,
        step=step,
        data_file=data_file,
        out_dir=out_dir,
        dataset=dataset,
        fmt=args.format,
        base_model=args.base_model,
        template=args.template,
        profile=args.profile,
        default_system=args.default_system,
        overrides=overrides,
        keep_checkpoints=keep,
        save_steps=args.save_steps,
        zero_stage=args.zero_stage,
        global_batch=args.global_batch,
        yaml_path=yaml_path,
        log_path=log_path,
        cli=args.llamafactory_cli,
        cli_from_env=os.environ.get("LLAMAFACTORY_CLI"),
        reuse_dir=args.reuse_dir or None,
    )
    out = run_job(job)
    if out is not None:
        print(f"{args.role} model: {out}")
    return 0


def skip_empty(run_dir: Path, step_name: str, data_file: Path, out_dir: Path) -> None:
    """Record a model that was not trained because its data file holds no example."""
    if (out_dir / "config.json").exists():
        raise DataError(f"{data_file} is empty, but {out_dir} holds a model; use a new EXP_NUM or remove the folder")
    reason = f"{data_file.name} holds no training example"
    with Step(run_dir, step_name, {"data_file": str(data_file), "if_empty": "skip"}) as step:
        atomic_write_json(out_dir / NOT_TRAINED, {"reason": reason, "data_file": str(data_file)})
        step.count(examples=0, trained=0)
    print(f"[{step_name}] not trained: {reason} ({out_dir / NOT_TRAINED})")
