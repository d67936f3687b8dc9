"""Fingerprints of a step's files, recorded when the step finishes and checked before it is skipped.

=========  ===================================================================================
kind       recorded
=========  ===================================================================================
jsonl      number of records, a digest of the sorted id set, size and SHA-256 of the bytes
file       size and SHA-256 of the bytes
dir        every file inside (relative path -> size), e.g. a trained model folder
missing    the path did not exist
=========  ===================================================================================

:func:`compare` says exactly what differs. A difference that a rerun repairs (a missing file, a
lost record, a missing weight file) is a *problem*; a JSONL file whose ids are all there but
whose bytes changed is only a *note* (someone edited a record; nothing is missing).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any


def sha256_file(path: Path) -> str:
    """SHA-256 of a file's bytes, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _jsonl_ids(path: Path, key: str = "id") -> tuple[list[str], int]:
    """The ids of a JSONL file and the number of lines that are not records with an id."""
    ids, bad = [], 0
    with open(path, "rb") as f:
        for line in f:
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                ids.append(str(rec[key]))
            except (ValueError, TypeError, KeyError, RecursionError):
                bad += 1
    return ids, bad


def ids_digest(ids: list[str]) -> str:
    return hashlib.sha256("\n".join(sorted(ids)).encode("utf-8", "surrogatepass")).hexdigest()


def fingerprint(path: str | os.PathLike) -> dict[str, Any]:
    p = Path(path)
    if not p.exists():
        return {"kind": "missing"}
    if p.is_dir():
        files = {
            str(f.relative_to(p)): f.stat().st_size
            for f in sorted(p.rglob("*"))
            if f.is_file() and not any(part.startswith(".") for part in f.relative_to(p).parts)
        }
        return {"kind": "dir", "files": files}
    out: dict[str, Any] = {"bytes": p.stat().st_size, "sha256": sha256_file(p)}
    if p.suffix == ".jsonl":
        ids, bad = _jsonl_ids(p)
        out = {"kind": "jsonl", "records": len(ids), "ids_sha256": ids_digest(ids), "bad_lines": bad, **out}
    else:
        out = {"kind": "file", **out}
    return out


def compare(name: str, then: dict[str, Any], now: dict[str, Any]) -> tuple[list[str], list[str]]:
    """``(problems, notes)`` between the fingerprint recorded for ``name`` and the current one."""
    if then.get("kind") == "missing":
        return ([f"{name} exists now but did not when the step finished"] if now.get("kind") != "missing" else []), []
    if now.get("kind") == "missing":
        return [f"{name} is missing"], []
    if then.get("kind") != now.get("kind"):
        return [f"{name} is a {now.get('kind')} now, a {then.get('kind')} when the step finished"], []
    if then["kind"] == "dir":
        problems = []
        for f, size in then["files"].items():
            if f not in now["files"]:
                problems.append(f"{name}/{f} is missing")
            elif now["files"][f] != size:
                problems.append(f"{name}/{f} has {now['files'][f]} bytes, {size} when the step finished")
        return problems, []
    if then["kind"] == "jsonl":
        if now.get("bad_lines"):
            return [f"{name} has {now['bad_lines']} unreadable line(s)"], []
        if now["records"] != then["records"]:
            return [f"{name} has {now['records']} records, {then['records']} when the step finished"], []
        if now["ids_sha256"] != then["ids_sha256"]:
            return [f"{name} holds other ids than when the step finished ({now['records']} records)"], []
        if now["sha256"] != then["sha256"]:
            return [], [f"{name} was edited since the step finished (same {now['records']} ids)"]
        return [], []
    if now["sha256"] != then["sha256"]:
        return [f"{name} changed since the step finished ({now['bytes']} bytes, {then['bytes']} then)"], []
    return [], []
