"""The state of a sweep (``RUNS_DIR/<sweep>/sweep.json``): its grid expanded into cells, and their status.

:func:`plan` reads the preset at ``SCALE`` (default tiny; grammar in :mod:`selfimprove.core.grid`)
and returns the state: the preset, scale, drivers, the grid (axis -> values) and one record per
cell (``name``, ``values``, ``drivers``, ``knobs`` per driver, ``inherited``: the environment's
other knobs, ``fingerprint`` of both, ``run``, ``status`` pending/running/done/failed,
``started``, ``finished``, ``seconds``, ``rc``). A cell that finished keeps its status while its
fingerprint is unchanged; with other knobs it is run again (its drivers still skip the steps whose
settings did not change). ``scripts/sweep.sh`` drives it through ``python -m selfimprove sweep``
(:mod:`selfimprove.stages.sweep`).
"""

from __future__ import annotations

import hashlib
import json
import shlex
import time
from pathlib import Path

from selfimprove.core import config as C
from selfimprove.core import grid
from selfimprove.core.errors import UsageError
from selfimprove.core.io import atomic_write_json, read_json
from selfimprove.core.layout import EVAL_FILES, RunLayout

SWEEP_VERSION = 1
STATUSES = ("pending", "running", "done", "failed")
#: knobs of the environment that do not change what a cell computes
_NOT_RECORDED = {"LOG_LEVEL", "RUNS_DIR", "EXP_NUM", "PYTHON", "CHUNK_SIZE", "TRAIN_REUSE_DIR"}


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def state_path(sweep_dir: str | Path) -> Path:
    return RunLayout.sweep_state(sweep_dir)


def load_state(sweep_dir: str | Path) -> dict:
    path = state_path(sweep_dir)
    if not path.is_file():
        raise UsageError(f"{path} not found; start the sweep with scripts/sweep.sh PRESET")
    return read_json(path)


def _cell(state: dict, name: str) -> dict:
    for c in state["cells"]:
        if c["name"] == name:
            return c
    raise UsageError(f"{state_path(state['dir'])}: no cell {name}")


def driver_dir(env: dict[str, str]) -> Path:
    return Path(env.get("SWEEP_DRIVER_DIR") or grid.DRIVER_DIR)


def plan(preset: str, env: dict[str, str]) -> dict:
    """Parse the preset, expand the grid and merge it with an existing ``sweep.json`` (not written)."""
    scale = env.get("SCALE") or "tiny"
    drivers_at = driver_dir(env)
    known = grid.known_knobs(grid.DRIVERS, drivers_at)
    sweep = grid.read_sweep(C.preset_path(preset), scale, known, env.get("SWEEP_NAME") or None)
    sweep_dir = Path(env.get("RUNS_DIR") or C.ROOT / "runs") / sweep.name
    cells = grid.expand(sweep, sweep_dir.resolve(), env)
    if any("PLAN" in knobs for c in cells for knobs in c.knobs.values()):
        raise UsageError(
            f"{sweep.preset}: PLAN is set in the environment (PLAN=1 bash scripts/sweep.sh PRESET), not here"
        )
    for d in sorted({d for c in cells for d in c.drivers}):
        if not grid.driver_script(d, drivers_at).is_file():
            raise UsageError(f"{sweep.preset}: driver {grid.driver_script(d, drivers_at)} not found")
    old = read_json(state_path(sweep_dir)) if state_path(sweep_dir).is_file() else {}
    if old and old.get("scale") != scale:
        raise UsageError(
            f"{sweep_dir} holds the {old.get('scale')} scale of this sweep; set SWEEP_NAME=<another name> "
            f"for SCALE={scale}, or remove {sweep_dir}"
        )
    previous = {c["name"]: c for c in old.get("cells", [])}
    records = []
    for c in cells:
        own = {k for knobs in c.knobs.values() for k in knobs}
        inherited = {k: env[k] for k in sorted(known - own - _NOT_RECORDED) if k in env}
        blob = json.dumps([c.drivers, c.knobs, inherited], sort_keys=True).encode()
        rec = {
            "name": c.name,
            "values": c.values,
            "drivers": list(c.drivers),
            "knobs": c.knobs,
            "inherited": inherited,
            "fingerprint": hashlib.sha256(blob).hexdigest()[:16],
            "run": str(sweep_dir.resolve() / c.name),
            "status": "pending",
        }
        prev = previous.get(c.name)
        if prev and prev.get("fingerprint") == rec["fingerprint"]:
            rec.update(
                {k: prev[k] for k in ("status", "started", "finished", "seconds", "rc", "failed_driver") if k in prev}
            )
        elif prev and prev.get("status") == "done":
            rec["note"] = "knobs changed since it finished; run again"
        records.append(rec)
    state = {
        "sweep_version": SWEEP_VERSION,
        "sweep": sweep.name,
        "dir": str(sweep_dir.resolve()),
        "preset": sweep.preset,
        "scale": scale,
        "drivers": list(sweep.drivers),
        "grid": {axis: [lv.label for lv in levels] for axis, levels in sweep.axes},
        "planned": _now(),
        "cells": records,
    }
    return state


def _evaluated(run: str | Path) -> bool:
    """The run holds at least one actor's ``eval/<label>/results.json``."""
    return any(RunLayout(run).eval_root.glob(f"*/{EVAL_FILES['results']}"))


def _critic_evaluated(run: str | Path) -> bool:
    return RunLayout.critic_eval_file(RunLayout(run).critic_eval_dir, "results").is_file()


def is_done(cell: dict) -> bool:
    """Finished with the recorded knobs, and its run folder (with evaluations, if evaluated) is there."""
    run = Path(cell["run"])
    if cell.get("status") != "done" or not run.is_dir():
        return False
    return "evaluate" not in cell["drivers"] or _evaluated(run)


def mark(state: dict, name: str, status: str, rc: int | None = None, driver: str | None = None) -> dict:
    cell = _cell(state, name)
    cell["status"] = status
    if status == "running":
        cell["started"], cell["started_unix"] = _now(), time.time()
        for k in ("finished", "seconds", "rc", "failed_driver", "note"):
            cell.pop(k, None)
    else:
        cell["finished"] = _now()
        if "started_unix" in cell:
            cell["seconds"] = round(time.time() - cell.pop("started_unix"), 1)
        if rc is not None:
            cell["rc"] = rc
        if driver:
            cell["failed_driver"] = driver
    atomic_write_json(state_path(state["dir"]), state)
    return cell


def compared_runs(state: dict) -> list[str]:
    """The cells' run folders, in grid order, that hold at least one ``eval/<actor>/results.json``."""
    return [c["run"] for c in state["cells"] if _evaluated(c["run"])]


def critic_runs(state: dict) -> list[str]:
    """For a sweep whose every cell runs only the critic driver (a learning curve): the cells' run
    folders, in grid order, that hold ``critic/eval/results.json``; otherwise none."""
    if not state["cells"] or any(c["drivers"] != ["critic"] for c in state["cells"]):
        return []
    return [c["run"] for c in state["cells"] if _critic_evaluated(c["run"])]


def env_lines(cell: dict, driver: str) -> str:
    if driver not in cell["drivers"]:
        raise UsageError(f"cell {cell['name']} does not run the {driver} driver")
    return "".join(f"export {k}={shlex.quote(v)}\n" for k, v in cell["knobs"][driver].items())


def start_lines(state: dict, name: str) -> str:
    """Shell lines for one cell: ``skip=1`` when it is done; else (marked running) ``skip=0``, its
    ``drivers=(...)`` and ``knobs[DRIVER]=<export lines>`` (bash associative array)."""
    cell = _cell(state, name)
    if is_done(cell):
        return "skip=1\n"
    mark(state, name, "running")
    lines = ["skip=0", f"drivers=({' '.join(cell['drivers'])})"]
    lines += [f"knobs[{d}]={shlex.quote(env_lines(cell, d))}" for d in cell["drivers"]]
    return "\n".join(lines) + "\n"


def record_compared(state: dict, runs: list[str], by: str) -> None:
    """Record in ``sweep.json`` which runs the sweep's comparison (``by``: the command) reads."""
    state["compared"] = {"runs": runs, "at": _now(), "by": by}
    atomic_write_json(state_path(state["dir"]), state)
