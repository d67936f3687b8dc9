"""Stage: fine-tune a model with LLaMA-Factory: the actor of an iteration, or a critique model.

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
  x gradient accumulation 8, cutoff 4096, bf16, DeepSpeed ZeRO-2 (``--zero-stage 3`` or
  ``ZERO_STAGE=3`` for ZeRO-3). LLaMA-Factory launches torchrun over the visible GPUs; for several
  nodes set NNODES, NODE_RANK, MASTER_ADDR and MASTER_PORT on every node (see docs/training.md).
* ``cpu`` — the same recipe in fp32 without DeepSpeed, for a small number of steps.

Only the final model is kept unless checkpoints are asked for (``--keep-checkpoints 1`` or
``--save-steps N``); with them, rerunning a killed training resumes from its newest checkpoint.
Every value can be overridden with ``--set key=value`` (LLaMA-Factory argument names).
"""

from __future__ import annotations

import os
from pathlib import Path

from selfimprove.core.cli import parser, run
from selfimprove.training.export import _flag
from selfimprove.training.launcher import PROFILES, dataset_name, parse_overrides
from selfimprove.training.runner import TrainJob, run_job


def build_parser():
    ap = parser("train", __doc__.split("\n\n")[0])
    ap.add_argument("--role", choices=("actor", "critic"), default="actor", help="what is trained")
    ap.add_argument("--run-dir", required=True, help="experiment folder (runs/<EXP>) holding manifest.json")
    g = ap.add_argument_group("actor")
    g.add_argument("--iter", type=int, default=None, help="iteration k: trains on iter_k's SFT set")
    g = ap.add_argument_group("critic")
    g.add_argument("--dataset-file", default=None, help="SFT file (sharegpt or alpaca JSON list)")
    g.add_argument("--out-dir", default=None, help="model folder to write (trained in OUT.partial first)")
    ap.add_argument("--base-model", required=True, help="model the run starts from (folder or hub id)")
    ap.add_argument(
        "--template", required=True, help="LLaMA-Factory chat template (sharegpt); default/empty for alpaca"
    )
    ap.add_argument("--format", choices=("sharegpt", "alpaca"), default="sharegpt", help="format of the SFT file")
    ap.add_argument(
        "--default-system",
        default=None,
        help="system prompt the template adds when a conversation has none (match the model's chat template)",
    )
    ap.add_argument("--profile", default=os.environ.get("PROFILE", "cpu"), choices=sorted(PROFILES))
    ap.add_argument(
        "--zero-stage",
        type=int,
        choices=(2, 3),
        default=os.environ.get("ZERO_STAGE", "2"),
        help="DeepSpeed ZeRO stage of the gpu profile",
    )
    ap.add_argument(
        "--keep-checkpoints",
        type=_flag,
        default=os.environ.get("KEEP_CHECKPOINTS", "0"),
        metavar="0|1",
        help="keep full checkpoints (resumable) next to the final model",
    )
    ap.add_argument("--save-steps", type=int, default=None, help="checkpoint every N steps (implies checkpoints)")
    ap.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a LLaMA-Factory argument (repeatable)"
    )
    ap.add_argument("--llamafactory-cli", default=None, help="path of llamafactory-cli (default: .venv-train)")
    ap.add_argument("--step", default=None, help="step name in the manifest")
    return ap


def main(argv=None) -> int:
    ap = build_parser()
    args = ap.parse_args(argv)
    run_dir = Path(args.run_dir).resolve()
    if args.role == "actor":
        if args.iter is None or args.iter < 0:
            ap.error("--role actor needs --iter k (k >= 0)")
        if args.dataset_file or args.out_dir:
            ap.error("--dataset-file/--out-dir belong to --role critic; the actor reads iter_k's SFT file")
        iter_dir = run_dir / f"iter_{args.iter}"
        data_file = iter_dir / ("sft.json" if args.iter == 0 else "04_sft.json")
        if not data_file.is_file():
            ap.exit(2, f"error: {data_file} not found; run the filter step first\n")
        out_dir, step = iter_dir / "actor", args.step or f"iter_{args.iter}/05_train"
        dataset, yaml_path, log_path = f"sft_iter{args.iter}", iter_dir / "train.yaml", iter_dir / "train.log"
    else:
        if not args.dataset_file or not args.out_dir:
            ap.error("--role critic needs --dataset-file FILE and --out-dir DIR")
        if args.iter is not None:
            ap.error("--iter belongs to --role actor")
        data_file, out_dir = Path(args.dataset_file).resolve(), Path(args.out_dir).resolve()
        if not data_file.is_file():
            ap.exit(2, f"error: {data_file} not found\n")
        step, dataset, yaml_path, log_path = (
            args.step or "critic/05_train",
            dataset_name(f"critic_{data_file.stem}"),
            None,
            None,
        )
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
        yaml_path=yaml_path,
        log_path=log_path,
        cli=args.llamafactory_cli,
    )
    out = run_job(job)
    if out is not None:
        print(f"{args.role} model: {out}")
    return 0


if __name__ == "__main__":
    run(main)
