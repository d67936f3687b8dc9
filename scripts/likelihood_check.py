#!/usr/bin/env python3
"""How well does a model's likelihood of the steps tell wrong responses from right ones?

The measurement behind the likelihood critic (:mod:`selfimprove.critic.likelihood`), for any model
folder, fine-tuned or not, without training or calibrating anything into it: each path's steps are
scored (negative log-likelihood of their equations in the actor's prompt), a response's score is
its most improbable step, the threshold is fitted on the ``--calibration`` paths and applied to
the ``--responses`` (a balanced draw of ``--per-class`` right and as many wrong paths, the critic
comparison's held-out set). Prints the AUC on both sets, the verdict's accuracy (discrimination)
on the responses, its hits on wrong and false alarms on right ones, and how often the first step
over the threshold is the labelled first wrong step::

    python scripts/likelihood_check.py --model runs/demo/critic/likelihood \\
        --calibration <training paths of other questions>.jsonl --responses <held-out paths>.jsonl

Uses transformers on CPU, one thread by default.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def read_jsonl(path: str) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def main(argv: list[str] | None = None) -> int:
    from selfimprove.critic.evaluate import balanced_responses
    from selfimprove.critic.likelihood import StepScorer, fit_threshold, judge, response_score, separation

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="the scoring model (folder)")
    ap.add_argument("--calibration", required=True, help="paths (JSONL) the threshold is fitted on")
    ap.add_argument("--responses", required=True, help="held-out paths (JSONL)")
    ap.add_argument("--per-class", type=int, default=100, help="held-out right and as many wrong responses")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)

    calibration = [p for p in read_jsonl(args.calibration) if p.get("response")]
    responses = balanced_responses(read_jsonl(args.responses), args.per_class)
    scorer = StepScorer(args.model, threads=args.threads)
    start = time.time()
    cal_steps = scorer.score_many([(p["question"], p["response"], p["dataset_type"]) for p in calibration])
    res_steps = scorer.score_many([(p["question"], p["response"], p["dataset_type"]) for p in responses])
    seconds = time.time() - start

    cal_scores, cal_wrong = [response_score(s) for s in cal_steps], [not p["correct"] for p in calibration]
    scores, wrong = [response_score(s) for s in res_steps], [not p["correct"] for p in responses]
    threshold = fit_threshold(cal_scores, cal_wrong)
    cal, held = separation(cal_scores, cal_wrong, threshold), separation(scores, wrong, threshold)
    located = [p for p in responses if p.get("label_status") == "ok" and p.get("label_first_error") is not None]
    exact = sum(
        judge(s, threshold).first_wrong == p["label_first_error"] for p, s in zip(responses, res_steps) if p in located
    )
    print(f"model {args.model}: {len(calibration) + len(responses)} paths scored in {seconds:.0f} s")
    print(f"calibration: {cal.n} paths ({cal.wrong} wrong), AUC {cal.auc:.3f}")
    print(f"threshold {threshold:.2f}")
    print(
        f"responses: {held.n} ({held.wrong} wrong), AUC {held.auc:.3f}, discrimination {held.accuracy:.3f} "
        f"(wrong called wrong {held.hits}/{held.wrong}, right called wrong {held.false_alarms}/{held.n - held.wrong}), "
        f"first wrong step exact {exact}/{len(located)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
