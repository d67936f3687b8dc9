"""The key and the folder of reused fine-tunings (selfimprove.training.reuse)."""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

from selfimprove.training.reuse import ReuseDir, link_tree, model_identity, reuse_key


def _model(folder: Path, payload: bytes = bytes(8)) -> Path:
    """A small complete model folder (config, tokenizer file, one safetensors tensor)."""
    folder.mkdir(parents=True)
    head = json.dumps({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
    (folder / "model.safetensors").write_bytes(struct.pack("<Q", len(head)) + head + payload)
    (folder / "config.json").write_text("{}")
    (folder / "tokenizer_config.json").write_text("{}")
    (folder / "tokenizer.json").write_text("{}")
    return folder


def _args(base: Path, **changes) -> dict:
    args = {"model_name_or_path": str(base), "learning_rate": 1e-4, "output_dir": "/x/actor.partial"}
    args |= {"dataset_dir": "/x", "dataset": "sft_iter0"}
    return args | changes


def test_the_key_ignores_where_files_live_but_not_what_is_trained(tmp_path):
    base = _model(tmp_path / "base")
    data = tmp_path / "sft.json"
    data.write_text('[{"conversations": []}]')
    key = reuse_key(_args(base), data, "sharegpt")
    moved = _args(base, output_dir="/y/actor.partial", dataset_dir="/y", dataset="sft_iter3")
    assert reuse_key(moved, data, "sharegpt") == key
    copy = tmp_path / "elsewhere" / "04_sft.json"
    copy.parent.mkdir()
    copy.write_bytes(data.read_bytes())
    assert reuse_key(_args(base), copy, "sharegpt") == key  # same bytes under another name
    assert reuse_key(_args(base, learning_rate=5e-6), data, "sharegpt") != key
    assert reuse_key(_args(base), data, "alpaca") != key
    data.write_text('[{"conversations": [1]}]')
    assert reuse_key(_args(base), data, "sharegpt") != key


def test_a_base_model_trained_again_in_place_is_another_model(tmp_path):
    base = _model(tmp_path / "base")
    before = model_identity(str(base))
    assert before["path"] == str(base.resolve()) and set(before["files"]) == {
        "model.safetensors",
        "config.json",
        "tokenizer_config.json",
        "tokenizer.json",
    }
    weights = base / "model.safetensors"
    stat = weights.stat()
    weights.write_bytes(weights.read_bytes())  # same size, rewritten
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert model_identity(str(base)) != before
    assert model_identity("org/hub-model") == "org/hub-model"


def test_link_tree_shares_the_files_and_leaves_out_checkpoints(tmp_path):
    src = _model(tmp_path / "src")
    (src / "checkpoint-5").mkdir()
    (src / "checkpoint-5" / "optimizer.pt").write_bytes(b"x")
    (src / "sub").mkdir()
    (src / "sub" / "f.txt").write_text("y")
    link_tree(src, tmp_path / "dst")
    dst = tmp_path / "dst"
    assert (dst / "model.safetensors").samefile(src / "model.safetensors")
    assert (dst / "sub" / "f.txt").read_text() == "y"
    assert not (dst / "checkpoint-5").exists()


def test_store_then_lookup_and_what_a_lookup_refuses(tmp_path, caplog):
    reuse = ReuseDir(tmp_path / "shared")
    model = _model(tmp_path / "m")
    key = "ab" * 32
    assert reuse.lookup(key) is None
    filed = reuse.store(key, model, source=str(model), step="iter_0/05_train", train_args={"a": 1})
    where = tmp_path / "shared" / key[:16]
    assert filed == where
    entry = reuse.lookup(key)
    assert entry is not None and entry.model == where / "model" and entry.record["step"] == "iter_0/05_train"
    assert reuse.store(key, model, source="other", step="s", train_args={}) is None  # the first is kept
    assert json.loads((where / "entry.json").read_text())["source"] == str(model)
    assert not list((tmp_path / "shared").glob("*.partial-*"))
    # another key sharing the 16-character prefix is not this training
    assert reuse.lookup(key[:16] + "cd" * 24) is None and "another training" in caplog.text
    # a damaged entry is ignored, then replaced by the next filing
    (where / "entry.json").write_text("{not json")
    assert reuse.lookup(key) is None and "unreadable" in caplog.text
    assert reuse.store(key, model, source="again", step="s", train_args={}) == where
    again = reuse.lookup(key)
    assert again is not None and again.record["source"] == "again"
