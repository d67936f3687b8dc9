"""Reuse of fine-tunings whose inputs are byte for byte the same (knob ``TRAIN_REUSE_DIR``).

Cells of a sweep often train the same model more than once: iteration 0 of every Fig. 6 cell
fine-tunes the base model on the same reference solutions with the same arguments. With a reuse
folder, a finished training is filed there under a key of everything it was trained from:

* every LLaMA-Factory argument except where the files live (``output_dir``, ``dataset_dir``,
  ``dataset``: the same data under another name is the same training);
* the SHA-256 of the data file's bytes and its format;
* the base model: a hub id as given, a local folder as its resolved path with the size and
  modification time of every file (a folder trained again in place is a different model).

A later training with the same key gets the filed model (hard links, or a copy across file
systems) instead of training, and its manifest step says ``reused_from``. All cells then start
from one and the same iteration-0 actor, as the paper's methods start from one SFT model; CPU
training is not bit-for-bit repeatable, so separate trainings would differ by noise alone.

Layout: ``<dir>/<key[:16]>/model/`` (the model folder, without checkpoints) and
``<dir>/<key[:16]>/entry.json`` (the full key, where it was trained, when, its arguments). Entries
are published by an atomic rename; two runs filing the same key keep the first; a broken entry
is ignored by lookups and replaced by the next training of its key.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selfimprove.core.fingerprint import sha256_file
from selfimprove.core.io import atomic_write_json, read_json
from selfimprove.training.weights import check_model_folder

log = logging.getLogger(__name__)

#: arguments that say where files live, not what is trained
_PLACES = ("output_dir", "dataset_dir", "dataset")


def model_identity(model: str) -> Any:
    """A hub id as given; a local folder as its path and every file's size and modification time."""
    folder = Path(model)
    if not folder.is_dir():
        return model
    files = {
        str(f.relative_to(folder)): [f.stat().st_size, f.stat().st_mtime_ns]
        for f in sorted(folder.rglob("*"))
        if f.is_file() and not f.relative_to(folder).parts[0].startswith("checkpoint-")
    }
    return {"path": str(folder.resolve()), "files": files}


def reuse_key(train_args: dict, data_file: Path, fmt: str) -> str:
    """The key of one training: its arguments (less the places), data bytes, format and base model."""
    args = {k: v for k, v in train_args.items() if k not in _PLACES}
    blob = {
        "args": args,
        "data_sha256": sha256_file(data_file),
        "format": fmt,
        "base_model": model_identity(str(train_args.get("model_name_or_path", ""))),
    }
    return hashlib.sha256(json.dumps(blob, sort_keys=True, default=str).encode()).hexdigest()


def link_tree(src: Path, dst: Path) -> None:
    """``dst`` as a copy of the model folder ``src`` made of hard links (copies across file
    systems), leaving out checkpoints."""
    dst.mkdir(parents=True)
    for f in sorted(src.rglob("*")):
        rel = f.relative_to(src)
        if rel.parts[0].startswith("checkpoint-"):
            continue
        target = dst / rel
        if f.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(f, target)
        except OSError:
            shutil.copy2(f, target)


@dataclass
class ReuseEntry:
    """One filed training: ``model`` folder and its ``entry.json`` record."""

    path: Path
    record: dict

    @property
    def model(self) -> Path:
        return self.path / "model"


class ReuseDir:
    """The reuse folder of ``TRAIN_REUSE_DIR``."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def entry_dir(self, key: str) -> Path:
        return self.root / key[:16]

    def lookup(self, key: str) -> ReuseEntry | None:
        """The filed training of ``key``, if complete (a broken entry is reported and ignored)."""
        where = self.entry_dir(key)
        record_file = where / "entry.json"
        if not record_file.is_file():
            return None
        try:
            record = read_json(record_file)
        except Exception as e:  # a damaged record is not a reason to stop training
            log.warning("reuse entry %s is unreadable (%s); training instead", where, e)
            return None
        if record.get("key") != key:
            log.warning("reuse entry %s belongs to another training (key prefix clash); training instead", where)
            return None
        problems = check_model_folder(where / "model")
        if problems:
            log.warning("reuse entry %s is incomplete (%s); training instead", where, "; ".join(problems))
            return None
        return ReuseEntry(where, record)

    def store(self, key: str, model_dir: Path, *, source: str, step: str, train_args: dict) -> Path | None:
        """File the finished model ``model_dir`` under ``key``; returns the entry (None if one was
        there already). Never raises: filing is an optimisation, not part of the step."""
        where = self.entry_dir(key)
        if where.exists():
            if self.lookup(key) is not None:
                return None
            shutil.rmtree(where, ignore_errors=True)  # broken, or another key's: replaced
        tmp = where.with_name(f"{where.name}.partial-{os.getpid()}")
        try:
            if tmp.exists():
                shutil.rmtree(tmp)
            link_tree(model_dir, tmp / "model")
            record = {
                "key": key,
                "source": source,
                "step": step,
                "filed": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "train_args": train_args,
            }
            atomic_write_json(tmp / "entry.json", record)
            try:
                tmp.rename(where)
            except OSError:  # filed meanwhile by another run
                shutil.rmtree(tmp, ignore_errors=True)
                return None
            return where
        except OSError as e:
            log.warning("could not file %s for reuse in %s: %s", model_dir, self.root, e)
            shutil.rmtree(tmp, ignore_errors=True)
            return None
