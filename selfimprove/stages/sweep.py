"""The bookkeeping of ``scripts/sweep.sh``: its grid, its cells, ``sweep.json``.

::

    eval "$(python -m selfimprove sweep plan PRESET --owner-pid $$)"   # SWEEP_DIR=..., cells=(...)
    eval "$(python -m selfimprove sweep start SWEEP_DIR CELL)"          # skip=0|1, drivers=(...), knobs[DRIVER]=...
    python -m selfimprove sweep finish SWEEP_DIR CELL done|failed [--rc N --driver D]
    python -m selfimprove sweep runs SWEEP_DIR             # the cells' run folders that hold evaluations
    python -m selfimprove sweep critic-runs SWEEP_DIR      # ... that hold critic evaluations (critic-only sweeps)
    python -m selfimprove sweep end SWEEP_DIR --owner-pid $$

``plan`` reads the preset at ``SCALE`` (default tiny), takes the sweep's lock, and writes
``RUNS_DIR/<sweep>/sweep.json`` (what it holds: :mod:`selfimprove.core.sweep`).
"""

from __future__ import annotations

import os
import shlex

from selfimprove.core import runlock, sweep
from selfimprove.core.io import atomic_write_json
from selfimprove.core.parsing import ArgumentParser


def main(argv: list[str] | None = None) -> int:
    ap = ArgumentParser(prog="python -m selfimprove sweep", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("plan", help="expand the preset's grid, lock the sweep, write sweep.json")
    p.add_argument("preset", help="sweep preset file, or a name of selfimprove/presets/<name>.env")
    p.add_argument("--owner-pid", type=int, required=True, help="the sweep script's process id ($$)")
    q = sub.add_parser("start", help="skip=1 when the cell is done; else mark it running, print its drivers and knobs")
    q.add_argument("sweep_dir")
    q.add_argument("cell")
    q = sub.add_parser("finish", help="record how a cell ended")
    q.add_argument("sweep_dir")
    q.add_argument("cell")
    q.add_argument("status", choices=("done", "failed"))
    q.add_argument("--rc", type=int)
    q.add_argument("--driver")
    q = sub.add_parser("runs", help="run folders with evaluations, one per line (recorded as compared)")
    q.add_argument("sweep_dir")
    q = sub.add_parser(
        "critic-runs", help="critic-only sweeps: run folders with critic evaluations, one per line (recorded)"
    )
    q.add_argument("sweep_dir")
    q = sub.add_parser("end", help="release the sweep's lock")
    q.add_argument("sweep_dir")
    q.add_argument("--owner-pid", type=int, required=True)
    args = ap.parse_args(argv)
    if args.cmd == "plan":
        env = dict(os.environ)
        state = sweep.plan(args.preset, env)
        runlock.acquire(state["dir"], args.owner_pid, env={})
        atomic_write_json(sweep.state_path(state["dir"]), state)
        names = " ".join(shlex.quote(c["name"]) for c in state["cells"])
        print(f"SWEEP_DIR={shlex.quote(state['dir'])}\ncells=({names})")
        return 0
    if args.cmd == "end":
        runlock.release(args.sweep_dir, args.owner_pid)
        return 0
    state = sweep.load_state(args.sweep_dir)
    if args.cmd == "start":
        print(sweep.start_lines(state, args.cell), end="")
    elif args.cmd == "finish":
        sweep.mark(state, args.cell, args.status, args.rc, args.driver)
    elif args.cmd in ("runs", "critic-runs"):
        runs = sweep.compared_runs(state) if args.cmd == "runs" else sweep.critic_runs(state)
        if runs or args.cmd == "runs":
            sweep.record_compared(state, runs, "compare" if args.cmd == "runs" else "critic_curve")
        print("\n".join(runs))
    return 0
