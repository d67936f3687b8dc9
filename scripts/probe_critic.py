#!/usr/bin/env python3
"""Has a critic learned to check a step? Its score for "Wrong" against "Correct", read directly.

Greedy critiques show a critic's verdicts; they cannot show a critic that has learned something
but not enough to change its argmax. This probe reads the decision itself: for every held-out
response (a critic evaluation's ``responses.jsonl``) it gives the critic its prompt and its own
first lines, ``Step sentence: <the response's first step>`` and ``Correctness of the step:``, and
scores log P(" Wrong") - log P(" Correct") for the next token. The AUC of that score between
responses whose first step is wrong (``label_first_error == 0``) and the others says how well the
critic separates them (0.5: not at all), whatever its threshold. Several critics are probed on the
same responses, side by side (e.g. the base model and a trained critic)::

    python scripts/probe_critic.py --responses runs/demo/critic/eval/responses.jsonl \\
        --critic base=models/SmolLM2-135M-Instruct --critic trained=runs/demo/critic/model

Uses transformers on CPU (or the first GPU); nothing is generated.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from selfimprove.core.io import read_jsonl  # noqa: E402
from selfimprove.critic.programmatic import solution_steps, step_sentence  # noqa: E402
from selfimprove.evaluation.estimators import auc  # noqa: E402
from selfimprove.generation.prompts import critique_message  # noqa: E402

DEFAULT_SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"


def probe(model_dir: str, responses: list[dict], system: str) -> list[float]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    wrong, right = tok(" Wrong")["input_ids"][0], tok(" Correct")["input_ids"][0]
    scores = []
    for r in responses:
        first = solution_steps(r["response"])[0]
        msgs = [{"role": "user", "content": critique_message(r["question"], r["response"])}]
        if system:
            msgs.insert(0, {"role": "system", "content": system})
        text = str(tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True))
        text += f"Step sentence: {step_sentence(first)}\nCorrectness of the step:"
        with torch.no_grad():
            logits = model(tok(text, return_tensors="pt")["input_ids"]).logits[0, -1]
        lp = torch.log_softmax(logits.float(), -1)
        scores.append(float(lp[wrong] - lp[right]))
    return scores


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--responses", required=True, help="a critic evaluation's responses.jsonl")
    ap.add_argument("--critic", action="append", required=True, metavar="NAME=MODEL", help="a chat critic (repeatable)")
    ap.add_argument("--system", default=DEFAULT_SYSTEM, help="system prompt of the critic's chat template")
    ap.add_argument("--limit", type=int, default=0, help="first N responses (0: all)")
    args = ap.parse_args(argv)
    rows = [r for r in read_jsonl(args.responses) if r.get("label_status") == "ok" and solution_steps(r["response"])]
    if args.limit > 0:
        rows = rows[: args.limit]
    first_wrong = [r.get("label_first_error") == 0 for r in rows]
    print(f"{len(rows)} responses: first step wrong {sum(first_wrong)}, right {len(rows) - sum(first_wrong)}")
    print("| critic | AUC | mean score, first step wrong | mean score, first step right |")
    print("|---|---|---|---|")
    for item in args.critic:
        name, _, model = item.partition("=")
        scores = probe(model, rows, args.system)
        pos = [s for s, y in zip(scores, first_wrong) if y]
        neg = [s for s, y in zip(scores, first_wrong) if not y]
        a = auc(scores, first_wrong)
        mean = lambda xs: f"{sum(xs) / len(xs):.2f}" if xs else "–"  # noqa: E731
        print(f"| {name} | {'–' if a is None else f'{a:.3f}'} | {mean(pos)} | {mean(neg)} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
