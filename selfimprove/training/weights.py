"""Is a model folder complete? Config, tokenizer, every weight shard named by the index, readable headers.

A training step marked done is trusted only when its model folder passes :func:`check_model_folder`:
a deleted or truncated shard is found here, in milliseconds, not by the next stage's engine minutes
later. Only headers are read (safetensors: an 8-byte length, then a JSON table of tensors with
their byte ranges), never the weights themselves.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

MAX_HEADER = 100 * 1024 * 1024  # the safetensors format caps its header at 100 MB
#: The files a tokenizer can be built from, one set of which a model folder must hold complete
#: (``tokenizer_config.json`` alone only configures a tokenizer; it builds none).
TOKENIZER_SETS = (
    ("tokenizer.json",),
    ("tokenizer.model",),
    ("spiece.model",),
    ("sentencepiece.bpe.model",),
    ("vocab.json", "merges.txt"),
    ("vocab.txt",),
)


def tokenizer_problems(folder: Path) -> list[str]:
    """Why no tokenizer can be built from ``folder`` (empty list: one can). Reads at most the first
    and last bytes of ``tokenizer.json`` and the small ``tokenizer_config.json``."""
    problems = []
    config = folder / "tokenizer_config.json"
    if config.is_file():
        try:
            if not isinstance(json.loads(config.read_text(encoding="utf-8")), dict):
                raise ValueError
        except (OSError, ValueError):
            problems.append(f"{config}: not a readable JSON object")
    fast = folder / "tokenizer.json"
    if fast.is_file():
        return problems + _json_object_problems(fast)
    if any(all((folder / n).is_file() for n in group) for group in TOKENIZER_SETS) or any(folder.glob("*.tiktoken")):
        return problems
    sets = ", ".join(" + ".join(group) for group in TOKENIZER_SETS)
    return problems + [f"{folder}: no tokenizer (one of: {sets})"]


def _json_object_problems(path: Path) -> list[str]:
    """A cut or empty JSON file, told from its first and last bytes (not parsed: it can be large)."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(64).lstrip()
            f.seek(max(0, size - 64))
            tail = f.read().rstrip()
    except OSError as e:
        return [f"{path}: cannot read ({e.strerror})"]
    if not head.startswith(b"{") or not tail.endswith(b"}"):
        return [f"{path}: empty or truncated ({size} bytes)"]
    return []


def safetensors_problems(path: Path, expected: set[str] | None = None) -> list[str]:
    """Why ``path`` is not a readable safetensors file (empty list: it is). With ``expected``,
    also the tensor names the index assigns to this file that its header lacks."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                return [f"{path}: truncated safetensors file ({size} bytes)"]
            (n,) = struct.unpack("<Q", head)
            if n > MAX_HEADER or 8 + n > size:
                return [f"{path}: unreadable safetensors header (declared {n} bytes, file has {size})"]
            header = json.loads(f.read(n))
    except OSError as e:
        return [f"{path}: cannot read ({e.strerror})"]
    except (json.JSONDecodeError, UnicodeDecodeError):
        return [f"{path}: safetensors header is not valid JSON"]
    if not isinstance(header, dict):
        return [f"{path}: safetensors header is not a table of tensors"]
    end = 0
    for name, info in header.items():
        if name == "__metadata__":
            continue
        offsets = info.get("data_offsets") if isinstance(info, dict) else None
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)):
            return [f"{path}: tensor {name!r} has no valid data_offsets"]
        end = max(end, offsets[1])
    problems = []
    if 8 + n + end != size:
        problems.append(f"{path}: size {size} bytes, header says {8 + n + end} (truncated or padded)")
    if expected:
        missing = sorted(expected - header.keys())
        if missing:
            problems.append(f"{path}: {len(missing)} tensors named by the index are absent (e.g. {missing[0]!r})")
    return problems


def _index_problems(folder: Path, index: Path) -> list[str]:
    try:
        weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
        if not isinstance(weight_map, dict) or not weight_map:
            raise TypeError
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError):
        return [f"{index}: unreadable index (no weight_map)"]
    shards: dict[str, set[str]] = {}
    for tensor, shard in weight_map.items():
        shards.setdefault(str(shard), set()).add(tensor)
    problems = []
    for shard, tensors in sorted(shards.items()):
        path = folder / shard
        if not path.is_file():
            problems.append(f"{path}: shard named by {index.name} is missing")
        elif shard.endswith(".safetensors"):
            problems.extend(safetensors_problems(path, tensors))
        elif path.stat().st_size == 0:
            problems.append(f"{path}: empty shard")
    return problems


def check_model_folder(path: str | Path, tokenizer: bool = True) -> list[str]:
    """What is missing or broken in the Hugging Face model folder ``path`` (empty list: complete).

    Checks ``config.json``, the tokenizer (unless ``tokenizer=False``: a complete set of
    :data:`TOKENIZER_SETS`, ``tokenizer.json`` not cut), and the weights: with an
    index (``model.safetensors.index.json`` / ``pytorch_model.bin.index.json``) every shard it names
    must exist and, for safetensors, hold the tensors the index assigns to it with a readable header
    and the size the header declares; without one, ``model.safetensors`` (same checks) or
    ``pytorch_model.bin``.
    """
    folder = Path(path)
    if not folder.is_dir():
        return [f"{folder}: no such model folder"]
    problems = []
    if not (folder / "config.json").is_file():
        problems.append(f"{folder}: config.json is missing")
    if tokenizer:
        problems += tokenizer_problems(folder)
    for index_name in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        if (folder / index_name).is_file():
            return problems + _index_problems(folder, folder / index_name)
    if (folder / "model.safetensors").is_file():
        return problems + safetensors_problems(folder / "model.safetensors")
    if (folder / "pytorch_model.bin").is_file():
        if (folder / "pytorch_model.bin").stat().st_size == 0:
            problems.append(f"{folder / 'pytorch_model.bin'}: empty file")
        return problems
    return problems + [
        f"{folder}: no weights (model.safetensors, a *.index.json with its shards, or pytorch_model.bin)"
    ]
