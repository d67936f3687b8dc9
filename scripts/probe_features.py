#!/usr/bin/env python3
"""Is a step's correctness already readable from a model's hidden states? A linear probe per layer.

A critic that answers one verdict for everything can mean two things: the model has nothing to
tell right steps from wrong ones, or fine-tuning has not yet brought it out. This probe separates
them. It runs the model (untrained or trained) over critique examples in the critic's own format
(the ``04_dataset.json`` of ``critic_dataset``, ShareGPT rows), takes the hidden state of every
layer where the critic decides a step (the token ``:`` of "Correctness of the step:", for every
step up to and including the first wrong one; later steps only repeat the verdict), fits a
class-balanced logistic regression per layer on the ``--train`` examples and reports, on the
``--test`` examples, its AUC and balanced accuracy, for all decisions and for the decisions before
a solution's last step (the last step, "The answer is …", is never the first error of a carried
RG3 path, so it is an easy cue the second figure leaves out)::

    python scripts/probe_features.py --train runs/demo/critic/04_dataset.json \\
        --test runs/heldout/critic/04_dataset.json --model models/SmolLM2-135M-Instruct

Uses transformers on CPU (bf16 autocast where the CPU has it) or the first GPU; nothing is
generated and nothing is trained but the probes.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from selfimprove.evaluation.estimators import auc  # noqa: E402
from selfimprove.training.launcher import cpu_has_bf16  # noqa: E402

DEFAULT_SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
_CUE = "Correctness of the step:"
_DECISION = re.compile(re.escape(_CUE) + r"\s*(Correct|Wrong)")


def decision_points(critique: str) -> list[tuple[int, bool, bool]]:
    """``(end, wrong, last)`` for each step verdict up to the first wrong one.

    ``end`` is the character offset just after "Correctness of the step:", ``wrong`` the gold
    verdict, ``last`` whether the step is the critique's last step.
    """
    matches = list(_DECISION.finditer(critique))
    points = []
    for i, m in enumerate(matches):
        wrong = m.group(1) == "Wrong"
        points.append((m.start() + len(_CUE), wrong, i == len(matches) - 1))
        if wrong:
            break
    return points


def balanced_accuracy(scores: list[float], labels: list[bool]) -> float | None:
    pos = [s > 0 for s, y in zip(scores, labels) if y]
    neg = [s <= 0 for s, y in zip(scores, labels) if not y]
    if not pos or not neg:
        return None
    return 0.5 * (sum(pos) / len(pos) + sum(neg) / len(neg))


def fit_probe(x, y, steps: int = 500, l2: float = 1e-2):
    """A class-balanced logistic regression on standardised features; returns a scoring function."""
    import torch

    mu, sd = x.mean(0), x.std(0) + 1e-4
    z = (x - mu) / sd
    yf = y.float()
    pos_weight = (1 - yf.mean()) / yf.mean().clamp(min=1e-6)
    w = torch.zeros(x.shape[1], requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    opt = torch.optim.Adam([w, b], lr=0.01)
    for _ in range(steps):
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(z @ w + b, yf, pos_weight=pos_weight)
        (loss + l2 * (w * w).sum()).backward()
        opt.step()
    w, b = w.detach(), b.detach()
    return lambda xs: (((xs - mu) / sd) @ w + b).tolist()


def features(model, tok, rows: list[dict], system: str, bf16: bool):
    """Hidden states ``[points, layers+1, dim]``, gold verdicts and last-step flags."""
    import torch

    xs, wrong, last = [], [], []
    for row in rows:
        user, critique = row["conversations"][0]["value"], row["conversations"][1]["value"]
        msgs = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": user}]
        prompt = str(tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True))
        points = decision_points(critique)
        if not points:
            continue
        enc = tok(prompt + critique, return_offsets_mapping=True)
        ends = [end for _, end in enc["offset_mapping"]]
        with torch.no_grad(), torch.autocast(model.device.type, dtype=torch.bfloat16, enabled=bf16):
            out = model(torch.tensor([enc["input_ids"]], device=model.device), output_hidden_states=True)
        for end, w, is_last in points:
            pos = max(i for i, e in enumerate(ends) if e <= len(prompt) + end)
            xs.append(torch.stack([h[0, pos].float().cpu() for h in out.hidden_states]))
            wrong.append(w)
            last.append(is_last)
    return torch.stack(xs), torch.tensor(wrong), last


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", required=True, help="critique examples the probes are fitted on (04_dataset.json)")
    ap.add_argument("--test", required=True, help="held-out critique examples (no question shared with --train)")
    ap.add_argument("--model", required=True, help="model folder (an untrained base or a trained critic)")
    ap.add_argument("--system", default=DEFAULT_SYSTEM, help="system prompt of the chat template")
    ap.add_argument("--train-limit", type=int, default=800, help="training examples (seeded subset; 0: all)")
    ap.add_argument("--test-limit", type=int, default=200, help="held-out examples (first N; 0: all)")
    ap.add_argument("--every", type=int, default=3, help="probe every k-th layer")
    args = ap.parse_args(argv)

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    train = json.loads(Path(args.train).read_text())
    test = json.loads(Path(args.test).read_text())
    random.Random(0).shuffle(train)
    train = train[: args.train_limit] if args.train_limit > 0 else train
    test = test[: args.test_limit] if args.test_limit > 0 else test
    device = "cuda" if torch.cuda.is_available() else "cpu"
    bf16 = device == "cuda" or cpu_has_bf16()
    tok = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32)
    model = model.to(device).eval()  # type: ignore[arg-type]
    xtr, ytr, _ = features(model, tok, train, args.system, bf16)
    xte, yte, last = features(model, tok, test, args.system, bf16)
    labels = [bool(v) for v in yte]
    inner = [i for i, is_last in enumerate(last) if not is_last]
    print(f"decisions: train {len(ytr)} ({int(ytr.sum())} wrong), held-out {len(yte)} ({int(yte.sum())} wrong)")
    print("| layer | AUC | balanced accuracy | AUC, before the last step | balanced accuracy, before the last step |")
    print("|---|---|---|---|---|")
    fmt = lambda v: "–" if v is None else f"{v:.3f}"  # noqa: E731
    for layer in range(0, xtr.shape[1], args.every):
        score = fit_probe(xtr[:, layer], ytr)(xte[:, layer])
        sub_s, sub_y = [score[i] for i in inner], [labels[i] for i in inner]
        print(
            f"| {layer} | {fmt(auc(score, labels))} | {fmt(balanced_accuracy(score, labels))} "
            f"| {fmt(auc(sub_s, sub_y))} | {fmt(balanced_accuracy(sub_s, sub_y))} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
