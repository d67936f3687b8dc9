"""The critique dataset for LLaMA-Factory, with its statistics (AutoMathCritique output).

Reads the paths, the annotations and the filter's decisions; writes into ``--out-dir``:
``04_dataset.json`` (the kept critiques, deduplicated and balanced: sharegpt for chat critics,
alpaca for base critics), ``dataset_info.json`` (its entry, named ``critic_sft``) and
``stats.json`` (per strategy, per verdict, per first-error step, per annotator, filter pass rate).
``--examples N`` keeps N of them, verdict-balanced and nested across N (a learning curve's sets).
"""

from __future__ import annotations

import logging
from pathlib import Path

from selfimprove.core.cli import add_run_args, parser
from selfimprove.core.errors import UsageError
from selfimprove.core.io import atomic_write_json, read_json, read_jsonl
from selfimprove.core.knob import CRITIC
from selfimprove.core.layout import CRITIC_FILES, RunLayout
from selfimprove.core.manifest import Step
from selfimprove.critic.dataset import DATASET_NAME, select_examples, statistics, to_rows
from selfimprove.training.export import model_eos_token
from selfimprove.training.launcher import dataset_entry

log = logging.getLogger(__name__)
DATA_FILE, INFO_FILE, STATS_FILE = (CRITIC_FILES[r][0] for r in ("dataset", "dataset_info", "stats"))


def main(argv: list[str] | None = None) -> int:
    ap = parser("critic_dataset", __doc__, scope=CRITIC)
    ap.add_argument("--paths", required=True, help="flawed paths (JSONL)")
    ap.add_argument("--annotations", required=True, help="annotations (JSONL)")
    ap.add_argument("--decisions", required=True, help="Monte-Carlo filter decisions (JSONL)")
    ap.add_argument("--out-dir", required=True, help="folder for 04_dataset.json, dataset_info.json, stats.json")
    ap.add_argument("--format", default="sharegpt", choices=("sharegpt", "alpaca"), help="sharegpt: chat critic")
    ap.add_knob(
        None,
        "--balance",
        "balance",
        help="cut the larger verdict class to at most this many times the smaller one (0: off)",
    )
    ap.add_knob(None, "--examples", "critic_examples", help="keep this many examples, verdict-balanced (0: all)")
    ap.add_argument("--base-model", default=None, help="alpaca: the critic's base model, whose EOS ends each output")
    ap.add_argument("--eos-token", default=None, help="alpaca: the EOS token (instead of --base-model)")
    add_run_args(ap)
    args = ap.parse_args(argv)
    if args.balance < 0 or args.examples < 0:
        raise UsageError(f"--balance and --examples must not be negative (got {args.balance}, {args.examples})")
    eos = args.eos_token
    if args.format == "alpaca" and eos is None:
        eos = model_eos_token(args.base_model) if args.base_model else None
        if eos is None:
            raise UsageError("--format alpaca needs --eos-token or --base-model (a folder whose tokenizer has one)")
    out_dir = Path(args.out_dir)
    paths = read_jsonl(args.paths, required=("id", "question", "response", "strategy"))
    annotations = read_jsonl(args.annotations, required=("id", "path_id", "critique", "verdict"))
    decisions = read_jsonl(args.decisions, required=("id", "path_id", "kept", "reason"))
    step = Step(
        args.run_dir,
        args.step or RunLayout.pipeline_step("critic", "dataset"),
        {
            "format": args.format,
            "balance": args.balance,
            "examples": args.examples,
            "eos_token": eos,
            "seed": args.seed,
        },
        inputs=[args.paths, args.annotations, args.decisions],
        outputs=[out_dir / DATA_FILE, out_dir / STATS_FILE],
    )
    if step.skip():
        return 0
    with step:
        pmap = {p["id"]: p for p in paths}
        amap = {a["id"]: a for a in annotations}
        missing = [d["id"] for d in decisions if d["id"] not in amap or d["path_id"] not in pmap]
        if missing:
            raise UsageError(f"{args.decisions}: decision {missing[0]} has no annotation or path")
        examples, extra = select_examples(pmap, amap, decisions, args.balance, args.seed, args.examples)
        if args.examples and len(examples) < args.examples:
            log.warning("--examples %d: only %d kept critiques to train on", args.examples, len(examples))
        rows = to_rows(examples, args.format, eos or "")
        stats = statistics(paths, annotations, decisions, examples, {**extra, "format": args.format})
        atomic_write_json(out_dir / DATA_FILE, rows)
        info_path = out_dir / INFO_FILE
        info = read_json(info_path) if info_path.is_file() else {}
        info[DATASET_NAME] = dataset_entry(DATA_FILE, args.format)
        atomic_write_json(info_path, info)
        atomic_write_json(out_dir / STATS_FILE, stats)
        step.count(
            examples=len(rows),
            kept=stats["filter_kept"],
            duplicates=extra["duplicates"],
            balanced_out=extra["balanced_out"],
            limited_out=extra["limited_out"],
            per_verdict=stats["per_verdict"],
        )
    return 0
