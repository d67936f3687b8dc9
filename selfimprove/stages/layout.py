"""Print a path (or, with ``--step``, a step name) of a run's layout, for the shell drivers.

::

    python -m selfimprove layout RUN samples --iter 1          # RUN/iter_1/01_samples.jsonl
    python -m selfimprove layout RUN samples --iter 1 --step   # iter_1/01_samples
    python -m selfimprove layout RUN results --label iter_1    # RUN/eval/iter_1/results.json

The names themselves live in :mod:`selfimprove.core.layout`; drivers ask here instead of spelling them.
"""

from __future__ import annotations

from selfimprove.core.errors import UsageError
from selfimprove.core.layout import EVAL_FILES, ITER_FILES, SPLITS, RunLayout
from selfimprove.core.parsing import ArgumentParser

_RUN_PATHS = ("root", "manifest", "accuracy", "plan", "data_dir", "eval_root", "report", "critic_root", "run_lock")


def main(argv: list[str] | None = None) -> int:
    ap = ArgumentParser(
        prog="python -m selfimprove layout",
        description="Print a path (or, with --step, a step name) of a run's layout; drivers use it "
        "instead of spelling file names.",
    )
    ap.add_argument("run_dir", help="the experiment folder, runs/<EXP>")
    ap.add_argument(
        "what",
        help=f"an iteration file ({', '.join(ITER_FILES)}), a split's questions (train, test), "
        f"an evaluation file or folder (eval_dir, {', '.join(EVAL_FILES)}; with --label), "
        f"or a run path ({', '.join(_RUN_PATHS)})",
    )
    ap.add_argument("--iter", type=int, default=None, help="iteration k (for iteration files and steps)")
    ap.add_argument("--label", default=None, help="evaluated actor's label (for evaluation files)")
    ap.add_argument("--step", action="store_true", help="print the manifest step name instead of a path")
    args = ap.parse_args(argv)
    lay = RunLayout(args.run_dir)
    w = args.what
    if args.step:
        if w in SPLITS:
            out = lay.data_step(w)
        elif w == "eval":
            out = lay.eval_step(_need(args.label, "--label"))
        else:
            out = lay.step(w, _need(args.iter, "--iter"))
    elif w in ITER_FILES:
        out = str(lay.iter_file(w, _need(args.iter, "--iter")))
    elif w == "iter_dir":
        out = str(lay.iter_dir(_need(args.iter, "--iter")))
    elif w in SPLITS:
        out = str(lay.questions(w))
    elif w == "eval_dir":
        out = str(lay.eval_dir(_need(args.label, "--label")))
    elif w in EVAL_FILES:
        out = str(lay.eval_file(_need(args.label, "--label"), w))
    elif w in _RUN_PATHS:
        out = str(getattr(lay, w))
    else:
        raise UsageError(f"layout has no {w!r}; see --help")
    print(out)
    return 0


def _need(value, flag: str):
    if value is None:
        raise UsageError(f"{flag} is required for this query")
    return value
