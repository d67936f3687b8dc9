"""Read a run manifest: whether a step is done, or a summary; or record a run's configuration.

::

    python -m selfimprove manifest is-done RUN STEP   # exit 0 when done and its files are as recorded, else 1
    python -m selfimprove manifest summary RUN        # per-step status, seconds and counts
    python -m selfimprove manifest init RUN --config JSON [--driver NAME]

The manifest itself is :mod:`selfimprove.core.manifest`.
"""

from __future__ import annotations

import json

from selfimprove.core import manifest
from selfimprove.core.errors import ManifestError
from selfimprove.core.parsing import ArgumentParser


def main(argv: list[str] | None = None) -> int:
    ap = ArgumentParser(
        prog="python -m selfimprove manifest", description="Read a run manifest: whether a step is done, or a summary."
    )
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("is-done", help="exit 0 if the step is done and its files are as recorded, 1 otherwise")
    d.add_argument("run_dir")
    d.add_argument("step")
    s = sub.add_parser("summary", help="print per-step timings and counts")
    s.add_argument("run_dir")
    i = sub.add_parser("init", help="record a configuration and the package versions")
    i.add_argument("run_dir")
    i.add_argument("--config", default="{}", help="JSON object of the knobs")
    i.add_argument("--driver", default="inference")
    args = ap.parse_args(argv)
    if args.cmd == "is-done":
        entry = manifest.read(args.run_dir)["steps"].get(args.step, {})
        step = manifest.Step(args.run_dir, args.step)
        return 0 if entry.get("status") == "done" and not step.verify(entry) else 1
    if args.cmd == "init":
        try:
            cfg = json.loads(args.config)
        except ValueError as e:
            raise ManifestError(f"--config: invalid JSON ({e})") from None
        manifest.record_run(args.run_dir, args.driver, cfg)
        return 0
    print("\n".join(manifest.summary_lines(args.run_dir)))
    return 0
