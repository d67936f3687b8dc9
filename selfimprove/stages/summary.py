"""Print where a run's files are, its per-step timings and counts, and accuracy per iteration.

Also writes ``runs/<EXP>/accuracy.json``: for each iteration, the actor's accuracy on the
training questions it sampled, the refinements kept, the SFT set size and the training loss,
and — once evaluated — the test accuracy of that iteration's actor.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from selfimprove.core.cli import parser, run
from selfimprove.core.io import atomic_write_json
from selfimprove.core.manifest import main as manifest_main
from selfimprove.core.manifest import read


def _counts(steps: dict, it: str, step: str) -> dict:
    return (steps.get(f"{it}/{step}") or {}).get("counts") or {}


def per_iteration(run_dir: Path) -> dict:
    steps = read(run_dir)["steps"]
    out: dict[str, dict] = {}
    iters = (p.name.split("_", 1)[1] for p in run_dir.glob("iter_*") if p.is_dir())
    for k in sorted(int(x) for x in iters if x.isdigit()):
        it = f"iter_{k}"

        def c(step: str, it: str = it) -> dict:
            return _counts(steps, it, step)

        row = {
            "actor": str(run_dir / it / "actor") if (run_dir / it / "actor").is_dir() else None,
            "train_sample_accuracy": c("01_samples").get("accuracy"),
            "refinements_kept": c("03_refinements").get("kept"),
            "sft_examples": c("04_sft" if k else "sft").get("total"),
            "train_loss": c("05_train").get("train_loss"),
        }
        res = run_dir / "eval" / it / "results.json"
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
    if not (run_dir / "manifest.json").is_file():
        print(f"error: {run_dir} has no manifest.json", file=sys.stderr)
        return 2
    print(f"\nrun: {run_dir}")
    manifest_main(["summary", str(run_dir)])
    acc = per_iteration(run_dir)
    atomic_write_json(run_dir / "accuracy.json", acc)
    print("\naccuracy per iteration:")
    for it, row in acc.items():
        print(f"  {it}: " + ", ".join(f"{k}={v}" for k, v in row.items() if k != "actor" and v is not None))
    print(f"(written to {run_dir / 'accuracy.json'})")
    return 0


if __name__ == "__main__":
    run(main)
