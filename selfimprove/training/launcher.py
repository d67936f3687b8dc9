"""The LLaMA-Factory launcher: training arguments per profile, dataset entries, checkpoints, the CLI call.

Errors are the package's (:mod:`selfimprove.core.errors`): a setting or file that cannot work is
a :class:`~selfimprove.core.errors.UsageError` (exit 2, before anything runs); a training that
failed or left an incomplete model is a :class:`TrainingError` (exit 1). Nothing exits the process.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from selfimprove.core.config import Config
from selfimprove.core.errors import DataError, StepError, UsageError
from selfimprove.core.io import atomic_write_json, read_json
from selfimprove.core.knob import CRITIC
from selfimprove.training.weights import check_model_folder

__all__ = [
    "BASE_TEMPLATE",
    "PROFILES",
    "TrainingError",
    "check_model_folder",
    "checkpoint_args",
    "dataset_entry",
    "describe_batch",
    "find_cli",
    "global_batch_args",
    "latest_checkpoint",
    "parse_overrides",
    "register_dataset",
    "run_trainer",
    "to_yaml",
    "training_args",
]

ROOT = Path(__file__).resolve().parents[2]
DEEPSPEED = {
    2: ROOT / "LLaMA-Factory" / "configs" / "deepspeed" / "ds_z2_config.json",
    3: ROOT / "LLaMA-Factory" / "configs" / "deepspeed" / "ds_z3_config.json",
}
# alpaca files are written fully rendered in the sampler's base layout (see training.export):
# the template must add nothing, and LLaMA-Factory's "empty" template adds nothing
BASE_TEMPLATE = "empty"


class TrainingError(StepError):
    """A training run failed or did not leave a complete model; the message says where to look."""


COMMON = {
    "stage": "sft",
    "do_train": True,
    "finetuning_type": "full",
    "learning_rate": 5.0e-6,
    "num_train_epochs": 1.0,
    "lr_scheduler_type": "cosine",
    "max_grad_norm": 1.0,
    "warmup_steps": 0,
    "optim": "adamw_torch",
    "packing": False,
    "report_to": "none",
    "logging_steps": 5,
    "plot_loss": True,
    "overwrite_output_dir": True,
    "include_num_input_tokens_seen": True,
    "max_samples": 400000,
    "mask_history": True,
    "trust_remote_code": False,
}
PROFILES: dict[str, dict] = {
    "gpu": {
        "per_device_train_batch_size": 4,
        "gradient_accumulation_steps": 8,
        "cutoff_len": 4096,
        "bf16": True,
        "flash_attn": "auto",
        "preprocessing_num_workers": 16,
        "ddp_timeout": 180000000,
    },
    "cpu": {
        "per_device_train_batch_size": 1,
        "gradient_accumulation_steps": 1,
        "cutoff_len": 768,
        "bf16": False,
        "fp16": False,
        "preprocessing_num_workers": 1,
        "dataloader_num_workers": 0,
        "max_steps": 8,
        "logging_steps": 1,
    },
}


CPU_FLAGS_FILE = Path("/proc/cpuinfo")
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")  # native bf16 matrix arithmetic on x86


def cpu_has_bf16(cpuinfo: Path = CPU_FLAGS_FILE) -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX-BF16): there bf16 autocast
    trains about twice as fast as fp32; elsewhere it is emulated and slower."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    flags = {f for line in text.splitlines() if line.startswith("flags") for f in line.split(":", 1)[-1].split()}
    return any(f in flags for f in BF16_CPU_FLAGS)


def cpu_precision(has_bf16: bool) -> dict:
    """The cpu profile's precision: bf16 autocast where the CPU has it (``use_cpu`` lets the
    Trainer accept bf16 without a GPU), fp32 elsewhere."""
    return {"bf16": True, "use_cpu": True} if has_bf16 else {"bf16": False}


def checkpoint_args(keep: bool, save_steps: int | None = None) -> dict:
    """Only the final model by default; with ``keep`` full checkpoints (optimizer state included,
    so a killed run can resume) every ``save_steps`` optimizer steps."""
    if not keep:
        return {"save_strategy": "no", "save_only_model": True}
    if save_steps is not None and save_steps <= 0:
        raise UsageError(f"--save-steps must be positive, not {save_steps}")
    return {"save_strategy": "steps", "save_steps": save_steps or 500, "save_only_model": False}


def training_args(
    profile: str,
    base_model: str,
    template: str,
    dataset_dir: Path,
    dataset: str,
    output_dir: Path,
    overrides: dict | None = None,
    *,
    keep_checkpoints: bool = False,
    save_steps: int | None = None,
    zero_stage: int = 2,
) -> dict:
    """Every LLaMA-Factory argument of one run; ``overrides`` (``--set``) win, None values are dropped."""
    if profile not in PROFILES:
        raise UsageError(f"--profile must be one of {', '.join(PROFILES)}, not {profile!r}")
    if zero_stage not in DEEPSPEED:
        raise UsageError(f"ZeRO stage must be one of {sorted(DEEPSPEED)}, not {zero_stage!r}")
    args = {
        "model_name_or_path": base_model,
        "template": template,
        "dataset_dir": str(dataset_dir),
        "dataset": dataset,
        "output_dir": str(output_dir),
        **COMMON,
        **PROFILES[profile],
        **(cpu_precision(cpu_has_bf16()) if profile == "cpu" else {}),
        **checkpoint_args(keep_checkpoints, save_steps),
    }
    if profile == "gpu":
        args["deepspeed"] = str(DEEPSPEED[zero_stage])
    args.update(overrides or {})
    return {k: v for k, v in args.items() if v is not None}


def global_batch_args(
    args: Mapping[str, Any], global_batch: int, world: int | None, overrides: Mapping[str, Any] | None = None
) -> tuple[dict, dict]:
    """``args`` with ``gradient_accumulation_steps = global_batch / (per_device_train_batch_size x world)``,
    and the record of that computation. A :class:`UsageError` (one line) when the accumulation is
    also set by hand (``overrides``), the world size is unknown, or the division leaves a remainder."""
    per_device = int(args.get("per_device_train_batch_size", 1))
    if overrides and "gradient_accumulation_steps" in overrides:
        raise UsageError(
            f"GLOBAL_BATCH={global_batch} computes gradient_accumulation_steps, which the training arguments also "
            f"set ({overrides['gradient_accumulation_steps']}); drop one of the two"
        )
    if not world:
        raise UsageError(
            f"GLOBAL_BATCH={global_batch} needs the number of training processes, and this node's GPUs are unknown; "
            "set CUDA_VISIBLE_DEVICES or NPROC_PER_NODE"
        )
    per_step = per_device * world
    if global_batch % per_step:
        raise UsageError(
            f"GLOBAL_BATCH={global_batch} is not a multiple of per-device batch {per_device} x world size {world} "
            f"(= {per_step}); choose a multiple of {per_step}, or another per_device_train_batch_size or GPU count"
        )
    record = {
        "global_batch": global_batch,
        "per_device_train_batch_size": per_device,
        "world_size": world,
        "gradient_accumulation_steps": global_batch // per_step,
    }
    return {**args, "gradient_accumulation_steps": record["gradient_accumulation_steps"]}, record


def describe_batch(record: Mapping[str, int]) -> str:
    """``GLOBAL_BATCH 256 = per-device batch 4 x gradient accumulation 8 x world size 8``."""
    return (
        f"GLOBAL_BATCH {record['global_batch']} = per-device batch {record['per_device_train_batch_size']} x "
        f"gradient accumulation {record['gradient_accumulation_steps']} x world size {record['world_size']}"
    )


def dataset_entry(file_name: str, fmt: str) -> dict:
    """A LLaMA-Factory ``dataset_info.json`` entry for a sharegpt or alpaca file."""
    if fmt == "sharegpt":
        return {"file_name": file_name, "formatting": "sharegpt", "columns": {"messages": "conversations"}}
    if fmt == "alpaca":
        return {"file_name": file_name, "columns": {"prompt": "instruction", "query": "input", "response": "output"}}
    raise UsageError(f"SFT format must be sharegpt or alpaca, not {fmt!r}")


def register_dataset(dataset_dir: Path, name: str, file_name: str, fmt: str) -> None:
    """Add (or replace) one entry of ``dataset_dir/dataset_info.json``, keeping the others."""
    path = dataset_dir / "dataset_info.json"
    info = read_json(path) if path.is_file() else {}
    if not isinstance(info, dict):
        raise DataError(f"{path}: expected a JSON object of dataset entries")
    info[name] = dataset_entry(file_name, fmt)
    atomic_write_json(path, info)


def dataset_name(text: str) -> str:
    """A dataset name LLaMA-Factory accepts (no commas, no spaces)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "sft"


def to_yaml(args: dict) -> str:
    """LLaMA-Factory reads YAML; our values are scalars, written in JSON syntax (valid YAML)."""
    return "".join(f"{k}: {json.dumps(v)}\n" for k, v in args.items())


def parse_overrides(items: list[str]) -> dict:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--set expects key=value, got {item!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def train_overrides(cfg: Config, scope: str) -> dict:
    """The LLaMA-Factory overrides a driver gives its trainings: TRAIN_ARGS (critic-all.sh: CRITIC_TRAIN_ARGS)."""
    return parse_overrides((cfg.critic_train_args if scope == CRITIC else cfg.train_args).split())


def find_cli(explicit: str | None, from_env: str | None = None) -> str:
    """The first executable of: ``explicit`` (``--llamafactory-cli``), ``from_env`` (the stage's
    ``$LLAMAFACTORY_CLI``), the project's ``.venv-train``, ``llamafactory-cli`` on the PATH."""
    for cand in (
        explicit,
        from_env,
        str(ROOT / ".venv-train" / "bin" / "llamafactory-cli"),
        shutil.which("llamafactory-cli"),
    ):
        if cand and Path(cand).is_file() and os.access(cand, os.X_OK):
            return cand
    raise UsageError("llamafactory-cli not found; run `bash scripts/setup_env.sh train` or set LLAMAFACTORY_CLI")


# --------------------------------------------------------------------------- checkpoints


def latest_checkpoint(output_dir: Path) -> Path | None:
    """The newest complete ``checkpoint-N`` of a killed run (trainer state written, weights intact)."""
    if not output_dir.is_dir():
        return None
    found = []
    for d in output_dir.iterdir():
        m = re.fullmatch(r"checkpoint-(\d+)", d.name)
        if m and d.is_dir() and (d / "trainer_state.json").is_file() and not check_model_folder(d, tokenizer=False):
            found.append((int(m.group(1)), d))
    return max(found)[1] if found else None


def remove_checkpoints(model_dir: Path) -> None:
    for d in model_dir.glob("checkpoint-*"):
        if d.is_dir():
            shutil.rmtree(d)


# --------------------------------------------------------------------------- the trainer process


def trainer_env(base: Mapping[str, str], extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of ``llamafactory-cli``: no wandb, none of this venv's paths. ``HF_HUB_OFFLINE``
    passes through as the caller set it (unset: the hub may be reached for a hub-id base model)."""
    env = {
        **base,
        "HF_DATASETS_OFFLINE": base.get("HF_DATASETS_OFFLINE", "1"),
        "WANDB_DISABLED": "true",
        "TOKENIZERS_PARALLELISM": "false",
        **(extra or {}),
    }
    # the trainer's own venv must not inherit this one's packages
    env.pop("PYTHONPATH", None)
    env.pop("VIRTUAL_ENV", None)
    return env


def run_trainer(cli: str, yaml_path: Path, log_path: Path, env: Mapping[str, str]) -> None:
    """Run ``llamafactory-cli train yaml_path`` with its output in ``log_path``."""
    with open(log_path, "w") as log:
        proc = subprocess.run(
            [cli, "train", str(yaml_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env),
            cwd=yaml_path.parent,
        )
    if proc.returncode != 0:
        tail = log_path.read_text(errors="replace").splitlines()[-15:]
        raise TrainingError(
            f"llamafactory-cli train failed (exit {proc.returncode}); last lines of {log_path}:\n  " + "\n  ".join(tail)
        )


def train_results(model_dir: Path) -> dict:
    path = model_dir / "train_results.json"
    return read_json(path) if path.is_file() else {}
