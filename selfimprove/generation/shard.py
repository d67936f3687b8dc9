"""``--shard i/n`` and ``--merge-shards n``: one generating step split over independent jobs
(a SLURM job array, several hosts), then merged by one writer.

A shard owns the items whose question id hashes to it (``qid``, or ``id`` for questions), so
everything about one question - its samples, their critiques, the refinements and the "kept"
choice made per question - stays in one shard. A shard job never writes the run's manifest or the
step's outputs; next to each output ``DIR/NAME.jsonl`` it writes only its own files (names:
``SHARD_FILES`` in :mod:`selfimprove.core.layout`)::

    DIR/NAME.shards/<i>-of-<n>.jsonl          its records (resumable, like the unsharded output)
    DIR/NAME.shards/<i>-of-<n>.status.json    settings, counts, timings, fingerprints (atomic rename)
    DIR/NAME.shards/<i>-of-<n>.claim          held while it runs (exclusive create, heartbeat)

``--merge-shards n`` (the same stage command, run once after the array) checks that every shard
finished with the step's settings and that each shard file is exactly what its job recorded (a
file still being written, or not yet visible on this host, is refused), then writes the outputs
(records sorted by id) by atomic rename and records the step in ``manifest.json`` as an unsharded
run would, so the drivers skip it afterwards. See docs/scaling.md for what the shared filesystem
must provide.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selfimprove.core import fingerprint as fp
from selfimprove.core import runlock
from selfimprove.core.errors import DataError, RunLocked, SettingsChanged, StepError, UsageError
from selfimprove.core.io import atomic_write_json, atomic_write_jsonl, iter_jsonl, read_jsonl
from selfimprove.core.layout import RunLayout
from selfimprove.core.manifest import Step
from selfimprove.core.records import RecordT, natural_key

log = logging.getLogger(__name__)
_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


@dataclass(frozen=True)
class Shard:
    index: int
    count: int

    @classmethod
    def parse(cls, text: str | None) -> Shard | None:
        """``"i/n"`` with 0 <= i < n; empty or None: no sharding."""
        if text is None or not str(text).strip():
            return None
        m = _SHARD.match(str(text))
        if not m or not 0 <= int(m.group(1)) < int(m.group(2)):
            raise UsageError(f"--shard {text!r}: expected i/n with 0 <= i < n, e.g. 0/4")
        return cls(int(m.group(1)), int(m.group(2)))

    @property
    def label(self) -> str:
        return f"{self.index}-of-{self.count}"

    def owns(self, key: str) -> bool:
        digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()
        return int.from_bytes(digest[:8], "big") % self.count == self.index

    def select(self, items: Sequence[RecordT]) -> list[RecordT]:
        return [it for it in items if self.owns(record_key(it))]


def record_key(rec: Mapping[str, Any]) -> str:
    """What decides a record's shard: its question id."""
    return str(rec["qid"] if rec.get("qid") is not None else rec["id"])


def shard_dir(out: str | os.PathLike) -> Path:
    """The folder of the output's shards (:meth:`RunLayout.shard_dir`)."""
    return RunLayout.shard_dir(out)


def shard_file(out: str | os.PathLike, shard: Shard) -> Path:
    """The records of one shard of the output (:meth:`RunLayout.shard_file`)."""
    return RunLayout.shard_file(out, shard.label, "records")


def status_file(out: str | os.PathLike, shard: Shard) -> Path:
    return RunLayout.shard_file(out, shard.label, "status")


def add_shard_args(ap: Any) -> None:
    """``--shard i/n`` (knob SHARD) and ``--merge-shards n`` on a stage's parser."""
    g = ap.add_argument_group("sharding (SLURM arrays; docs/scaling.md)")
    ap.add_knob(g, "--shard", "shard", help="generate only shard i of n (i/n), into the output's .shards/ folder")
    g.add_argument(
        "--merge-shards",
        type=int,
        default=None,
        metavar="N",
        help="merge the finished shards 0/N..N-1/N into the outputs and record the step (run once, after them)",
    )


def for_shard(
    args: Any, step: Step, items: list[RecordT], outputs: Sequence[str] = ("out",)
) -> tuple[Any, list[RecordT]]:
    """With ``--shard``: point the ``outputs`` options at this shard's files and return a
    :class:`ShardStep` and the items the shard owns; without: ``(step, items)`` unchanged."""
    shard = Shard.parse(getattr(args, "shard", None))
    if shard is None:
        return step, items
    if getattr(args, "merge_shards", None):
        raise UsageError("--shard and --merge-shards exclude each other: run the shards, then merge once")
    finals = [Path(getattr(args, name)) for name in outputs]
    files = [shard_file(out, shard) for out in finals]
    for name, path in zip(outputs, files):
        setattr(args, name, str(path))
    sstep = ShardStep(step, shard, finals, files)
    return sstep, shard.select(items)


class Claim:
    """An exclusive-create lock file with a heartbeat (its mtime), valid across hosts: a claim is
    stale when its process is gone (same host) or its heartbeat stopped ``stale_after`` ago."""

    beat_seconds = 30.0
    stale_after = 300.0

    def __init__(self, path: Path, what: str):
        self.path, self.what = path, what
        self.token = f"{socket.gethostname()}:{os.getpid()}:{time.time_ns()}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = runlock.read_holder(self.path) or {}
                if not self._stale(holder):
                    raise RunLocked(
                        f"{self.what} is being generated by pid {holder.get('pid')} on {holder.get('host')} since "
                        f"{holder.get('started', '?')}; if that job is gone, delete {self.path}"
                    ) from None
                log.warning(
                    "%s: taking over a stale claim (pid %s on %s)", self.path, holder.get("pid"), holder.get("host")
                )
                self.path.unlink(missing_ok=True)
                continue
            me = {"pid": os.getpid(), "host": socket.gethostname(), "start": runlock.process_start(os.getpid())}
            me.update(started=time.strftime("%Y-%m-%dT%H:%M:%S%z"), token=self.token)
            with os.fdopen(fd, "w") as f:
                json.dump(me, f)
                f.flush()
                os.fsync(f.fileno())
            self._thread = threading.Thread(target=self._beat, daemon=True, name="shard-claim")
            self._thread.start()
            return
        raise RunLocked(f"{self.what}: could not claim {self.path}")

    def _stale(self, holder: dict) -> bool:
        if holder.get("host") == socket.gethostname():
            return runlock.is_stale(holder)
        try:
            return time.time() - self.path.stat().st_mtime > self.stale_after
        except FileNotFoundError:
            return True

    def _beat(self) -> None:
        while not self._stop.wait(self.beat_seconds):
            try:
                os.utime(self.path)
            except OSError:
                return

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        holder = runlock.read_holder(self.path) or {}
        if holder.get("token") == self.token:
            self.path.unlink(missing_ok=True)


class ShardStep:
    """A shard's stand-in for :class:`~selfimprove.core.manifest.Step`: same ``skip()``,
    ``count()`` and ``with``, but its record is the shard's status file, not the manifest."""

    def __init__(self, step: Step, shard: Shard, finals: list[Path], files: list[Path]):
        self.step, self.shard, self.finals, self.files = step, shard, finals, files
        self.status = status_file(finals[0], shard)
        self.what = f"shard {shard.index}/{shard.count} of step {step.name}"
        self.counts: dict[str, Any] = {}
        self._claim = Claim(RunLayout.shard_file(finals[0], shard.label, "claim"), self.what)
        self._t0 = 0.0

    def _read_status(self) -> dict:
        try:
            data = json.loads(self.status.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            return {"status": "damaged"}
        if data.get("settings") not in (None, self.step.settings):
            raise SettingsChanged(
                f"{self.what} ran earlier with other settings ({self.status}); delete {shard_dir(self.finals[0])} "
                "to start the shards over"
            )
        return data

    def skip(self) -> bool:
        if self.step.skip():  # the merged step is done and its files are as recorded
            return True
        st = self._read_status()
        if st.get("status") == "done" and not _differences(st, self.files):
            log.info("[%s] already done, skipping", self.what)
            return True
        return False

    def count(self, **counts: Any) -> None:
        self.counts.update(counts)

    def __enter__(self) -> ShardStep:
        self._read_status()
        if self.step.run_dir is not None:
            runlock.check_free(self.step.run_dir)
        self._claim.acquire()
        try:
            for final, mine in zip(self.finals, self.files):
                _seed_from(final, mine, self.shard)
            self._write("running")
        except BaseException:
            self._claim.release()
            raise
        self._t0 = time.time()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            extra: dict[str, Any] = {"seconds": round(time.time() - self._t0, 3), "counts": self.counts}
            if exc_type is None:
                for f in self.files:  # a shard that owned no item still says so with an empty file
                    if not f.exists():
                        atomic_write_jsonl(f, [])
                extra["outputs"] = {f.name: fp.fingerprint(f) for f in self.files}
                log.info("[%s] done in %.1fs: %s", self.what, extra["seconds"], self.counts)
            else:
                extra["error"] = f"{exc_type.__name__}: {exc}"
            self._write("done" if exc_type is None else "failed", **extra)
        finally:
            self._claim.release()

    def _write(self, status: str, **extra: Any) -> None:
        atomic_write_json(
            self.status,
            {
                "step": self.step.name,
                "shard": f"{self.shard.index}/{self.shard.count}",
                "status": status,
                "settings": self.step.settings,
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                **extra,
            },
        )


def _seed_from(final: Path, mine: Path, shard: Shard) -> None:
    """A shard started after an unsharded attempt keeps the records that attempt wrote for it."""
    if mine.exists() or not final.is_file():
        return
    owned = [rec for _, rec in iter_jsonl(final) if "id" in rec and shard.owns(record_key(rec))]
    if owned:
        atomic_write_jsonl(mine, owned)
        log.info("%s: starting from the %d record(s) already in %s", mine, len(owned), final)


def _differences(status: dict, files: Sequence[Path]) -> list[str]:
    problems: list[str] = []
    recorded = status.get("outputs") or {}
    for f in files:
        if f.name not in recorded:
            problems.append(f"{f}: not recorded by its job")
            continue
        found, _notes = fp.compare(str(f), recorded[f.name], fp.fingerprint(f))
        found += [f"{f}: {n}" for n in _notes]  # a changed byte is a problem here: the merge copies bytes
        problems += found
    return problems


def merge_shards(step: Step, count: int, outputs: Sequence[str | os.PathLike]) -> int:
    """Merge shards ``0/count .. count-1/count`` of ``step`` into ``outputs`` and record the step.
    Refuses (nothing written) while a shard is unfinished, ran with other settings, or its file
    is not what its job recorded."""
    if count < 1:
        raise UsageError(f"--merge-shards {count}: expected the number of shards (>= 1)")
    if step.skip():
        return 0
    finals = [Path(o) for o in outputs]
    shards = [Shard(i, count) for i in range(count)]
    statuses, problems = [], []
    for sh in shards:
        st = ShardStep(step, sh, finals, [shard_file(f, sh) for f in finals])._read_status()
        if st.get("status") != "done":
            where = f" (pid {st.get('pid')} on {st.get('host')}, {st.get('updated')})" if st else ""
            problems.append(f"shard {sh.index}/{count} is {st.get('status', 'not started')}{where}")
            continue
        problems += _differences(st, [shard_file(f, sh) for f in finals])
        statuses.append(st)
    if problems:
        raise StepError(f"cannot merge step {step.name} yet: " + "; ".join(problems))
    with step:
        for final in finals:
            merged: dict[str, dict] = {}
            for sh in shards:
                path = shard_file(final, sh)
                for lineno, rec in iter_jsonl(path, required=("id",)):
                    if not sh.owns(record_key(rec)):
                        raise DataError(f"{path}:{lineno}: record {rec['id']} belongs to another shard")
                    if rec["id"] in merged:
                        raise DataError(f"{path}:{lineno}: record {rec['id']} is in two shards")
                    merged[rec["id"]] = rec
            atomic_write_jsonl(final, sorted(merged.values(), key=lambda r: natural_key(str(r["id"]))))
        step.count(**merged_counts([st.get("counts") or {} for st in statuses]), shards=count)
    return 0


def merged_counts(parts: Sequence[dict]) -> dict:
    """Counts of the whole step from its shards': integers add up, lists (ids) are joined,
    ``accuracy`` is recomputed from ``correct`` and ``samples``; other values are kept when every
    shard agrees."""
    out: dict[str, Any] = {}
    keys = [k for part in parts for k in part]
    for k in dict.fromkeys(keys):
        values = [p[k] for p in parts if k in p]
        if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            out[k] = sum(values)
        elif all(isinstance(v, list) for v in values):
            out[k] = [x for v in values for x in v]
        elif all(v == values[0] for v in values):
            out[k] = values[0]
    if "accuracy" in keys:
        out.pop("accuracy", None)
        if "correct" in out and "samples" in out:
            out["accuracy"] = round(out["correct"] / max(1, out["samples"]), 4)
    return out


def shard_records(out: str | os.PathLike, count: int) -> list[dict]:
    """Every record of the ``count`` shard files of ``out`` (for inspection and tests)."""
    return [r for i in range(count) for r in read_jsonl(shard_file(out, Shard(i, count)))]
