"""File I/O for the run directory: atomic writes, located errors, resumable JSONL.

Every stage reads and writes JSON Lines keyed by a stable ``id``. Two guarantees hold:

* a finished file is written atomically (temp file in the same folder + ``os.replace``), so a
  crash never leaves a half-written JSON file behind;
* an output that grows while a stage runs (:class:`ResumableJsonl`) is appended in flushed,
  fsync'ed chunks; on restart a torn last line is cut off and the ids already present are
  skipped, so a rerun continues without duplicates and without losing finished work; a record
  produced again is skipped with a warning, never written twice.

A stop signal waits until a write is done (:mod:`selfimprove.core.stop`); a write the disk
refuses (no space left) leaves an output as it was and raises ``OSError`` naming the file, which
:func:`selfimprove.core.cli.run` reports in one line.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic

from selfimprove.core import stop
from selfimprove.core.errors import RecordError

__all__ = [
    "RecordError",
    "ResumableJsonl",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_jsonl",
    "atomic_write_text",
    "chunks",
    "iter_jsonl",
    "read_json",
    "read_jsonl",
]

log = logging.getLogger(__name__)
if TYPE_CHECKING:  # the default (PEP 696) is for the type checker; run time needs none
    from typing_extensions import TypeVar

    RecT = TypeVar("RecT", bound=Mapping[str, Any], default=dict[str, Any])
else:
    from typing import TypeVar

    RecT = TypeVar("RecT", bound=Mapping[str, Any])
_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see either the old or the new file. A stop
    signal waits until it is done; a write the disk refuses raises ``OSError`` naming ``path``."""
    path = Path(path)
    with stop.deferred(), _naming(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the file the usual mode
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


@contextlib.contextmanager
def _naming(path: Path) -> Iterator[None]:
    """An ``OSError`` without a file name (a full disk refusing ``write``/``fsync``) gets ``path``."""
    try:
        yield
    except OSError as e:
        if not e.filename:
            e.filename = str(path)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any, indent: int | None = 2) -> None:
    atomic_write_text(path, json.dumps(obj, indent=indent, ensure_ascii=False) + "\n")


def atomic_write_jsonl(path: str | os.PathLike, records: Iterable[Mapping[str, Any]]) -> None:
    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))


def read_json(path: str | os.PathLike) -> Any:
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise RecordError(f"{path}: file not found") from None
    except OSError as e:
        raise RecordError(f"{path}: cannot read ({e.strerror})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        where = f":{e.lineno}" if isinstance(e, json.JSONDecodeError) else ""
        raise RecordError(f"{path}{where}: invalid JSON ({getattr(e, 'msg', e)})") from None
    except RecursionError:
        raise RecordError(f"{path}: JSON nested too deeply") from None


def iter_jsonl(path: str | os.PathLike, required: Iterable[str] = ()) -> Iterator[tuple[int, dict]]:
    """Yield ``(line_number, record)``; raise :class:`RecordError` naming the bad line."""
    path = Path(path)
    required = tuple(required)
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        raise RecordError(f"{path}: file not found") from None
    except OSError as e:
        raise RecordError(f"{path}: cannot read ({e.strerror})") from None
    with f:
        for lineno, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            try:
                rec = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError as e:
                raise RecordError(f"{path}:{lineno}: not UTF-8 ({e.reason} at byte {e.start})") from None
            except json.JSONDecodeError as e:
                raise RecordError(f"{path}:{lineno}: invalid JSON ({e.msg})") from None
            except RecursionError:
                raise RecordError(f"{path}:{lineno}: JSON nested too deeply") from None
            if not isinstance(rec, dict):
                raise RecordError(f"{path}:{lineno}: expected a JSON object")
            missing = [k for k in required if k not in rec]
            if missing:
                raise RecordError(f"{path}:{lineno}: missing field(s) {', '.join(missing)}")
            yield lineno, rec


def read_jsonl(path: str | os.PathLike, required: Iterable[str] = ()) -> list[dict]:
    return [rec for _, rec in iter_jsonl(path, required)]


class ResumableJsonl(Generic[RecT]):
    """An append-only JSONL output of one kind of record (``ResumableJsonl[Sample]``; plain dicts
    when none is named) that survives interruption.

    Opening it repairs a torn tail (a last line without newline or with invalid JSON, left by
    a crash mid-write) and loads the ids already written, so the caller can skip them::

        out = ResumableJsonl(path)
        todo = [item for item in items if item["id"] not in out.done]
        for chunk in chunks(todo):
            out.append(process(chunk))
    """

    def __init__(self, path: str | os.PathLike, key: str = "id"):
        self.path = Path(path)
        self.key = key
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.records: list[RecT] = []
        self.done: set[str] = set()
        self.repaired_bytes = 0
        if self.path.exists():
            self._load_and_repair()

    def _load_and_repair(self) -> None:
        data = self.path.read_bytes()
        good_end = 0
        pos = 0
        lineno = 0
        while pos < len(data):
            nl = data.find(b"\n", pos)
            if nl == -1:  # torn last line: no newline
                break
            lineno += 1
            line = data[pos:nl]
            if line.strip():
                try:
                    rec = json.loads(line)
                except (ValueError, RecursionError):
                    if data.find(b"\n", nl + 1) == -1 and not data[nl + 1 :].strip():
                        break  # torn (corrupt) last line
                    raise RecordError(f"{self.path}:{lineno}: invalid JSON in the middle of the file") from None
                rid = rec.get(self.key) if isinstance(rec, dict) else None
                if rid is None:
                    raise RecordError(f"{self.path}:{lineno}: record without '{self.key}'")
                if rid in self.done:
                    raise RecordError(
                        f"{self.path}:{lineno}: duplicate id {rid!r} (an earlier line has it); delete one of "
                        "the two lines and rerun"
                    )
                self.done.add(rid)
                self.records.append(rec)
            good_end = nl + 1
            pos = nl + 1
        if good_end < len(data):
            self.repaired_bytes = len(data) - good_end
            with open(self.path, "r+b") as f:
                f.truncate(good_end)
            log.warning(
                "%s: dropped a torn last line (%d bytes) left by an interrupted run", self.path, self.repaired_bytes
            )

    def append(self, records: Iterable[RecT]) -> None:
        """Append whole records (fsync'ed). An id the file holds already is not written again: the
        record there is whole (a torn line was cut when the file was opened), so it is kept and
        the new one is skipped, with a warning naming the file. After a stop signal nothing is
        appended (:mod:`selfimprove.core.stop`); a signal during the write waits until it is done.
        A write the disk refuses leaves the file as it was and raises ``OSError`` naming it."""
        stop.check()
        new: list[RecT] = []
        again: list[str] = []
        ids: set[str] = set()
        for rec in records:
            rid = rec[self.key]
            if rid in self.done or rid in ids:
                again.append(rid)
                continue
            ids.add(rid)
            new.append(rec)
        if again:
            log.warning(
                "%s: %d record(s) already written were produced again (first: %r); kept the ones in the file",
                self.path,
                len(again),
                again[0],
            )
        if not new:
            return
        data = "".join(json.dumps(rec, ensure_ascii=False) + "\n" for rec in new).encode("utf-8")
        with stop.deferred(), _naming(self.path):
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
            try:
                start = os.lseek(fd, 0, os.SEEK_END)
                try:
                    view = memoryview(data)
                    while view:
                        view = view[os.write(fd, view) :]
                    os.fsync(fd)
                except OSError:
                    with contextlib.suppress(OSError):  # whole records only: drop the part written
                        os.ftruncate(fd, start)
                    raise
            finally:
                os.close(fd)
            self.done.update(ids)
            self.records.extend(new)
            stop.note_output(self.path, len(self.done))


def chunks(items: list, size: int) -> Iterator[list]:
    size = max(1, int(size))
    for i in range(0, len(items), size):
        yield items[i : i + size]
