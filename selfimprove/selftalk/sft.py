"""Fine-tuning files of the one-player modes, in the formats the training stage reads."""

from __future__ import annotations

import argparse
from pathlib import Path

from selfimprove.core.io import atomic_write_json
from selfimprove.training.export import export, model_eos_token

DEFAULT_EOS = "<|end_of_text|>"


def add_sft_args(ap: argparse.ArgumentParser) -> None:
    g = ap.add_argument_group("fine-tuning file")
    g.add_argument(
        "--format", choices=("sharegpt", "alpaca"), default="sharegpt", help="sharegpt (chat models), alpaca (base)"
    )
    g.add_argument(
        "--eos-token", default=None, help=f"EOS of the alpaca layout (default: --base-model's, else {DEFAULT_EOS})"
    )
    g.add_argument("--base-model", default=None, help="model that will be trained (its tokenizer gives the EOS)")


def sft_eos(args: argparse.Namespace) -> str:
    return args.eos_token or (args.base_model and model_eos_token(args.base_model)) or DEFAULT_EOS


def write_sft(path: str | Path, conversations: list[list[dict]], fmt: str, eos_token: str) -> None:
    atomic_write_json(path, export(conversations, fmt, eos_token))
