"""Print where a run's files are, its per-step timings and counts, and accuracy per iteration.

Also writes ``runs/<EXP>/accuracy.json``: for each iteration, the actor's accuracy on the
training questions it sampled, the refinements kept, the SFT set size and the training loss,
and — once evaluated — the test accuracy of that iteration's actor.
"""

from __future__ import annotations

import json
from pathlib import Path

from selfimprove.core.cli import parser
from selfimprove.core.errors import DataError
from selfimprove.core.io import atomic_write_json
from selfimprove.core.layout import RunLayout
from selfimprove.core.manifest import read, summary_lines


def per_iteration(run_dir: Path) -> dict:
    steps = read(run_dir)["steps"]
    lay = RunLayout(run_dir)
    out: dict[str, dict] = {}
    for k in lay.iterations():
        it = lay.iter_dir(k).name

        def c(role: str, k: int = k) -> dict:
            return (steps.get(lay.step(role, k)) or {}).get("counts") or {}

        row = {
            "actor": str(lay.actor(k)) if lay.actor(k).is_dir() else None,
            "train_sample_accuracy": c("samples").get("accuracy"),
            "refinements_kept": c("refinements").get("kept"),
            "sft_examples": c("sft").get("total"),
            "train_loss": c("train").get("train_loss"),
        }
        res = lay.eval_file(it, "results")
        if res.is_file():
            r = json.loads(res.read_text())
            for name, block in (r.get("datasets") or {}).items():
                greedy = ((block.get("overall") or {}).get("response_only") or {}).get("greedy") or {}
                row[f"test_greedy_accuracy[{name}]"] = greedy.get("value")
        out[it] = row
    return out


def main(argv=None) -> int:
    ap = parser("summary", __doc__.split("\n\n")[0])
    ap.add_argument("run_dir")
    args = ap.parse_args(argv)
    run_dir = Path(args.run_dir)
    lay = RunLayout(run_dir)
    if not lay.manifest.is_file():
        raise DataError(f"{run_dir} has no {lay.manifest.name}")
    print(f"\nrun: {run_dir}")
    print("\n".join(summary_lines(run_dir)))
    acc = per_iteration(run_dir)
    atomic_write_json(lay.accuracy, acc)
    print("\naccuracy per iteration:")
    for it, row in acc.items():
        print(f"  {it}: " + ", ".join(f"{k}={v}" for k, v in row.items() if k != "actor" and v is not None))
    print(f"(written to {lay.accuracy})")
    return 0
