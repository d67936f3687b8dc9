"""check_model_folder: what makes a model folder incomplete, found from headers alone."""

from __future__ import annotations

import json
import struct
from pathlib import Path

from selfimprove.training.launcher import check_model_folder, latest_checkpoint


def safetensors(path: Path, tensors: dict[str, int], pad: int = 0, cut: int = 0) -> None:
    """A safetensors file with float32 vectors of the given lengths (``cut`` bytes missing at the end)."""
    header, offset = {}, 0
    for name, n in tensors.items():
        header[name] = {"dtype": "F32", "shape": [n], "data_offsets": [offset, offset + 4 * n]}
        offset += 4 * n
    head = json.dumps(header).encode()
    data = struct.pack("<Q", len(head)) + head + bytes(offset + pad)
    path.write_bytes(data[: len(data) - cut] if cut else data)


def folder(tmp_path: Path, name: str = "m") -> Path:
    d = tmp_path / name
    d.mkdir()
    (d / "config.json").write_text("{}")
    (d / "tokenizer.json").write_text("{}")
    return d


def sharded(d: Path) -> None:
    safetensors(d / "model-00001-of-00002.safetensors", {"a": 3, "b": 2})
    safetensors(d / "model-00002-of-00002.safetensors", {"c": 4})
    index = {"a": "model-00001-of-00002.safetensors", "b": "model-00001-of-00002.safetensors"}
    index["c"] = "model-00002-of-00002.safetensors"
    (d / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": index}))


def test_complete_folders_pass(tmp_path):
    single = folder(tmp_path, "single")
    safetensors(single / "model.safetensors", {"w": 5})
    shards = folder(tmp_path, "shards")
    sharded(shards)
    assert check_model_folder(single) == [] and check_model_folder(shards) == []


def test_missing_shard_is_named(tmp_path):
    d = folder(tmp_path)
    sharded(d)
    (d / "model-00002-of-00002.safetensors").unlink()
    (problem,) = check_model_folder(d)
    assert "model-00002-of-00002.safetensors" in problem and "missing" in problem


def test_truncated_and_garbled_files_are_found(tmp_path):
    d = folder(tmp_path, "cut")
    safetensors(d / "model.safetensors", {"w": 5}, cut=4)
    assert "truncated or padded" in check_model_folder(d)[0]
    d = folder(tmp_path, "garbled")
    (d / "model.safetensors").write_bytes(struct.pack("<Q", 10**12) + b"{")
    assert "unreadable safetensors header" in check_model_folder(d)[0]
    d = folder(tmp_path, "tiny")
    (d / "model.safetensors").write_bytes(b"abc")
    assert "truncated" in check_model_folder(d)[0]
    d = folder(tmp_path, "notjson")
    (d / "model.safetensors").write_bytes(struct.pack("<Q", 3) + b"{{{")
    assert "not valid JSON" in check_model_folder(d)[0]


def test_shard_without_the_tensors_its_index_names(tmp_path):
    d = folder(tmp_path)
    sharded(d)
    safetensors(d / "model-00002-of-00002.safetensors", {"other": 4})
    assert "tensors named by the index are absent" in check_model_folder(d)[0]


def test_missing_config_tokenizer_or_weights(tmp_path):
    assert "no such model folder" in check_model_folder(tmp_path / "absent")[0]
    d = tmp_path / "bare"
    d.mkdir()
    problems = check_model_folder(d)
    assert len(problems) == 3
    assert "config.json" in problems[0] and "tokenizer" in problems[1] and "no weights" in problems[2]
    safetensors(d / "model.safetensors", {"w": 1})
    (d / "config.json").write_text("{}")
    assert check_model_folder(d, tokenizer=False) == []
    (d / "model.safetensors.index.json").write_text("{}")
    assert "unreadable index" in check_model_folder(d, tokenizer=False)[0]


def test_a_tokenizer_needs_a_file_it_can_be_built_from(tmp_path):
    d = folder(tmp_path)
    safetensors(d / "model.safetensors", {"w": 1})
    (d / "tokenizer.json").unlink()
    (d / "tokenizer_config.json").write_text('{"eos_token": "</s>"}')
    (problem,) = check_model_folder(d)  # a tokenizer configuration alone builds no tokenizer
    assert problem.startswith(f"{d}: no tokenizer (one of: tokenizer.json, tokenizer.model")
    (d / "vocab.json").write_text("{}")
    assert "no tokenizer" in check_model_folder(d)[0]  # a BPE vocabulary needs its merges too
    (d / "merges.txt").write_text("#version: 0.2\n")
    assert check_model_folder(d) == []
    cut = '{"version": "1.0", "model": {"vocab": {"a": 0'  # cut while copied
    (d / "tokenizer.json").write_text(cut)
    assert check_model_folder(d) == [f"{d / 'tokenizer.json'}: empty or truncated ({len(cut)} bytes)"]
    (d / "tokenizer.json").write_text("")
    assert "tokenizer.json: empty or truncated (0 bytes)" in check_model_folder(d)[0]
    (d / "tokenizer.json").write_text('{"model": {}}\n')
    (d / "tokenizer_config.json").write_text('{"eos_token": ')
    assert check_model_folder(d) == [f"{d / 'tokenizer_config.json'}: not a readable JSON object"]
    assert check_model_folder(d, tokenizer=False) == []


def test_latest_checkpoint_skips_torn_ones(tmp_path):
    for n, state, ok in ((2, True, True), (10, True, False), (12, False, True), (4, True, True)):
        d = tmp_path / f"checkpoint-{n}"
        d.mkdir()
        (d / "config.json").write_text("{}")
        safetensors(d / "model.safetensors", {"w": 2}, cut=0 if ok else 3)
        if state:
            (d / "trainer_state.json").write_text("{}")
    assert latest_checkpoint(tmp_path) == tmp_path / "checkpoint-4"
    assert latest_checkpoint(tmp_path / "none") is None
