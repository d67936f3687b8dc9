"""Load the datasets of a run into question records (``runs/<EXP>/data/<split>.jsonl``).

Several datasets can be combined (``--dataset gsm8k math``); each record keeps its dataset,
type, stable id, reference solution, gold answer and level. ``--check`` only validates the
dataset names (no download, no compute), so a driver can fail fast on a typo. With ``--run-dir``
the output is the run's ``data/<split>.jsonl`` and the step is ``data/<split>``. The step counts,
per dataset spec, the questions taken (``<spec>``), the source rows skipped (``<spec>_skipped``)
and the questions taken whose row was used with a note, e.g. bytes replaced by U+FFFD
(``<spec>_kept_with_notes``).
"""

from __future__ import annotations

import logging

from selfimprove.core.cli import parser
from selfimprove.core.config import env_data_folder
from selfimprove.core.errors import DataError, UsageError
from selfimprove.core.io import atomic_write_jsonl
from selfimprove.core.layout import SPLITS, RunLayout
from selfimprove.core.manifest import Step
from selfimprove.data.datasets import DatasetError, check_spec, known_specs, load_questions_with_report
from selfimprove.data.records import Note

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> int:
    ap = parser("prepare", (__doc__ or "").split("\n\n")[0])
    ap.add_argument(
        "--dataset",
        nargs="+",
        required=True,
        help=f"dataset specs, e.g. {', '.join(known_specs())}, or file:PATH?type=...",
    )
    ap.add_argument("--split", required=True, choices=SPLITS)
    ap.add_argument("--limit", type=int, default=None, help="questions per dataset (seeded subset)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--out", default=None, help="output question records (JSONL; default: the run's data/<split>.jsonl)"
    )
    ap.add_argument("--check", action="store_true", help="only validate the dataset specs")
    ap.add_argument("--run-dir", default=None)
    ap.add_argument("--step", default=None)
    args = ap.parse_args(argv)
    data_dir = env_data_folder()  # the knob DATA_DIR, as the driver exports it
    try:
        for spec in args.dataset:
            check_spec(spec, args.split, data_dir)
    except DatasetError as e:
        raise UsageError(str(e)) from None
    if args.check:
        return 0
    if args.out is None and args.run_dir is not None:
        args.out = str(RunLayout(args.run_dir).questions(args.split))
    if not args.out:
        raise UsageError("give --out or --run-dir (unless --check)")
    if args.limit is not None and args.limit <= 0:
        raise UsageError(f"--limit must be positive (got {args.limit})")
    step = Step(
        args.run_dir,
        args.step or RunLayout.data_step(args.split),
        {"dataset": args.dataset, "limit": args.limit, "seed": args.seed},
        outputs=[args.out],
    )
    if step.skip():
        return 0
    with step:
        records, seen = [], set()
        for spec in args.dataset:
            try:
                recs, problems = load_questions_with_report(
                    spec,
                    args.split,
                    limit=args.limit,
                    seed=args.seed,
                    shuffle=args.limit is not None,
                    data_dir=data_dir,
                )
            except DatasetError as e:
                raise DataError(str(e)) from None
            skipped = [p for p in problems if not isinstance(p, Note)]
            for p in skipped:
                log.warning("skipped: %s", p)
            for r in recs:
                if r["id"] in seen:
                    raise DataError(f"question id {r['id']} appears in two datasets ({spec} and an earlier one)")
                seen.add(r["id"])
            taken = {r["id"] for r in recs}
            noted = [p for p in problems if isinstance(p, Note) and p.id in taken]  # taken, with a note
            for p in noted:
                log.warning("%s", p)
            records += recs
            step.count(**{f"{spec}": len(recs), f"{spec}_skipped": len(skipped), f"{spec}_kept_with_notes": len(noted)})
        atomic_write_jsonl(args.out, records)
        step.count(questions=len(records))
    log.info("%d %s questions -> %s", len(records), args.split, args.out)
    return 0
