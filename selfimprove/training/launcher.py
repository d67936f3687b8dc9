"""The LLaMA-Factory launcher: training arguments per profile, dataset entries, the CLI call."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEEPSPEED_Z2 = ROOT / "LLaMA-Factory" / "configs" / "deepspeed" / "ds_z2_config.json"

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
    "save_steps": 100000,
    "save_only_model": True,
    "plot_loss": True,
    "overwrite_output_dir": True,
    "include_num_input_tokens_seen": True,
    "max_samples": 400000,
    "mask_history": True,
    "trust_remote_code": False,
}
PROFILES = {
    "gpu": {
        "per_device_train_batch_size": 4,
        "gradient_accumulation_steps": 8,
        "cutoff_len": 4096,
        "bf16": True,
        "flash_attn": "auto",
        "preprocessing_num_workers": 16,
        "ddp_timeout": 180000000,
        "deepspeed": str(DEEPSPEED_Z2),
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


def training_args(
    profile: str,
    base_model: str,
    template: str,
    dataset_dir: Path,
    dataset: str,
    output_dir: Path,
    overrides: dict | None = None,
) -> dict:
    if profile not in PROFILES:
        raise SystemExit(f"error: --profile must be one of {', '.join(PROFILES)}, not {profile!r}")
    args = {
        "model_name_or_path": base_model,
        "template": template,
        "dataset_dir": str(dataset_dir),
        "dataset": dataset,
        "output_dir": str(output_dir),
        **COMMON,
        **PROFILES[profile],
    }
    args.update(overrides or {})
    return {k: v for k, v in args.items() if v is not None}


def dataset_entry(file_name: str, fmt: str) -> dict:
    """A LLaMA-Factory ``dataset_info.json`` entry for a sharegpt or alpaca file."""
    if fmt == "sharegpt":
        return {"file_name": file_name, "formatting": "sharegpt", "columns": {"messages": "conversations"}}
    return {"file_name": file_name, "columns": {"prompt": "instruction", "query": "input", "response": "output"}}


def to_yaml(args: dict) -> str:
    """LLaMA-Factory reads YAML; our values are scalars, written in JSON syntax (valid YAML)."""
    import json

    return "".join(f"{k}: {json.dumps(v)}\n" for k, v in args.items())


def parse_overrides(items: list[str]) -> dict:
    import json

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"error: --set expects key=value, got {item!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def find_cli(explicit: str | None) -> str:
    for cand in (
        explicit,
        os.environ.get("LLAMAFACTORY_CLI"),
        str(ROOT / ".venv-train" / "bin" / "llamafactory-cli"),
        shutil.which("llamafactory-cli"),
    ):
        if cand and Path(cand).is_file() and os.access(cand, os.X_OK):
            return cand
    raise SystemExit("error: llamafactory-cli not found; run `bash scripts/setup_env.sh train` or set LLAMAFACTORY_CLI")
