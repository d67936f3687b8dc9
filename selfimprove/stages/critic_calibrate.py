"""The likelihood critic's threshold, fitted on the flawed paths of questions its model was not tuned on.

Scores every path of the calibration questions (``critic_solutions``' split file) with the
fine-tuned scoring model (``--model``: each step's equations, or numbers, as negative
log-likelihood in the actor's prompt), takes a response's most improbable step as its score, and
fits the threshold with the best balanced accuracy of the verdict "wrong when above it". Writes
the scores (``--out``, JSONL: path id, right or wrong, step scores) and ``<model>/likelihood.json``
(threshold, dataset type, the calibration's counts, AUC and balanced accuracy), which makes the
model folder a likelihood critic wherever a critic model is named. See
:mod:`selfimprove.critic.likelihood`.
"""

from __future__ import annotations

from tqdm import tqdm

from selfimprove.core.cli import add_run_args, parser
from selfimprove.core.errors import UsageError
from selfimprove.core.io import atomic_write_jsonl, read_json, read_jsonl
from selfimprove.core.knob import CRITIC
from selfimprove.core.manifest import Step
from selfimprove.critic.likelihood import (
    CALIBRATION,
    NAME,
    StepScorer,
    calibration_paths,
    fit_threshold,
    response_score,
    separation,
    write_calibration,
)

CHUNK = 64  # paths scored between progress updates (the scorer batches within)


def main(argv: list[str] | None = None) -> int:
    ap = parser("critic_calibrate", __doc__, scope=CRITIC)
    ap.add_argument("--paths", required=True, help="flawed paths of the training questions (JSONL)")
    ap.add_argument("--split", required=True, help="critic_solutions' split file (.split.json)")
    ap.add_argument("--model", required=True, help="the fine-tuned scoring model (folder); likelihood.json goes there")
    ap.add_argument("--out", required=True, help="the calibration paths' step scores (JSONL)")
    ap.add_argument("--model-type", default="auto", help="prompt format of the model: auto, chat, base")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    add_run_args(ap)
    args = ap.parse_args(argv)
    split = read_json(args.split)
    if not isinstance(split, dict) or not isinstance(split.get("calibration"), list):
        raise UsageError(f"{args.split}: expected {{'calibration': [question ids], ...}}")
    paths = calibration_paths(
        read_jsonl(args.paths, required=("id", "qid", "question", "response", "dataset_type", "correct")),
        split["calibration"],
    )
    types = sorted({p["dataset_type"] for p in paths})
    if len(types) != 1 or all(p["correct"] for p in paths) or not any(p["correct"] for p in paths):
        raise UsageError(
            f"{args.paths}: the calibration questions need right and wrong paths of one dataset type "
            f"(found {len(paths)} paths, types {types})"
        )
    step = Step(
        args.run_dir,
        args.step or "critic_calibrate",
        {"model": args.model, "split": args.split, "model_type": args.model_type},
        inputs=[args.paths, args.split],
        outputs=[args.out, f"{args.model}/{CALIBRATION}"],
    )
    if step.skip():
        return 0
    with step:
        scorer = StepScorer(args.model, threads=args.threads, model_type=args.model_type)
        rows = []
        with tqdm(total=len(paths), desc="calibrating the likelihood critic", unit="path") as bar:
            for start in range(0, len(paths), CHUNK):
                chunk = paths[start : start + CHUNK]
                scored = scorer.score_many([(p["question"], p["response"], p["dataset_type"]) for p in chunk])
                rows += [{"id": p["id"], "correct": p["correct"], "step_scores": v} for p, v in zip(chunk, scored)]
                bar.update(len(chunk))
        scores = [response_score(r["step_scores"]) for r in rows]
        wrong = [not r["correct"] for r in rows]
        threshold = fit_threshold(scores, wrong)
        sep = separation(scores, wrong, threshold)
        facts = {
            "critic": NAME,
            "paths": sep.n,
            "wrong": sep.wrong,
            "auc": sep.auc,
            "balanced_accuracy": sep.balanced_accuracy,
        }
        atomic_write_jsonl(args.out, rows)
        write_calibration(args.model, threshold, types[0], **facts)
        step.count(threshold=round(threshold, 4), **{k: v for k, v in facts.items() if k != "critic"})
    return 0
