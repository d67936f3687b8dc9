#!/usr/bin/env python3
"""Does the critic learn its verdicts when they weigh more in the loss? A plain PyTorch fine-tune.

An exploratory loop, not the pipeline's trainer (that is LLaMA-Factory, ``python -m selfimprove
train``): it fine-tunes the critic the way the ``[tiny]`` recipe does (response-only loss, top
``--layers`` layers trainable in fp32, the rest frozen in bf16, bf16 autocast, AdamW, linear
warm-up then cosine, batches of 8) on critique examples in the critic's own format (the
``04_dataset.json`` of ``critic_dataset``), with one change LLaMA-Factory has no option for: the
loss of the verdict tokens ("Correctness of the step: **Wrong**", "… of the final answer: …")
multiplied by ``--verdict-weight`` (1: the plain SFT loss). ``--eaft ALPHA`` instead weights
every token by its predictive entropy (LLaMA-Factory's ``use_eaft_loss``), for comparison.

Every ``--eval-every`` optimizer steps and at the end it scores held-out examples teacher-forced:
at each step decision up to the first wrong one (:func:`probe_features.decision_points`), the
critic says "Wrong" when log P(" Wrong") > log P(" Correct"). It prints the balanced accuracy of
all decisions, of the first decision, and of whole examples (every decision right), with the
share of "Wrong" predictions::

    python scripts/verdict_weight.py --train runs/<EXP>/critic/04_dataset.json \\
        --test <held-out 04_dataset.json> --n 1024 --verdict-weight 10

``--drill N`` mixes in N one-step arithmetic checks built from the training critiques' right steps
(``drill_examples``: "Check this step: Ines now has 22 + 9 = $40." -> the critique of that one
step; half keep the result, half change it by 1-9), in batches of ``--drill-batch``: a few dozen
tokens per decision instead of a few hundred; the evaluation then also scores 200 such checks built
from the held-out critiques.

One thread by default: on 2 busy cores two threads cost far more than one (oversubscribed
OpenMP); ``--threads`` to change it.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import random
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("probe_features", ROOT / "probe_features.py")
assert _spec is not None and _spec.loader is not None
probe = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(probe)

VERDICT = re.compile(r"Correctness of the (?:step|final answer):( (?:Correct|Wrong))")
RIGHT_STEP = re.compile(r"Step sentence: (?P<sentence>[^\n]*)\nCorrectness of the step: Correct\n")
EQUATION = re.compile(r"(?P<lhs>\d+(?: [-+*/] \d+)+) = (?P<dollar>\$?)(?P<value>\d+)")
DRILL_PROMPT = "Check this step:\n{sentence}"


def drill_examples(rows: list[dict], n: int, seed: int = 0) -> list[dict]:
    """``n`` one-step arithmetic checks (half right, half with the result changed by 1-9), in the
    critique format, from the right steps of the training critiques that state one equation: the
    cheap way to show the critic many "a op b = c" decisions (a few dozen tokens each)."""
    rng = random.Random(seed)
    sentences = sorted(
        {
            m["sentence"]
            for row in rows
            for m in RIGHT_STEP.finditer(row["conversations"][1]["value"])
            if len(EQUATION.findall(m["sentence"])) == 1
        }
    )
    rng.shuffle(sentences)
    out = []
    for i in range(n):
        sentence = sentences[(i // 2) % len(sentences)]
        eq = EQUATION.search(sentence)
        assert eq is not None
        value = int(eq["value"])
        if i % 2:
            stated = value + rng.choice([d for d in range(-9, 10) if d and value + d > 0])
            sentence = sentence[: eq.start("value")] + str(stated) + sentence[eq.end("value") :]
            verdict, why = "Wrong", f"{eq['lhs']} = {value}, not {stated}."
        else:
            verdict, why = "Correct", f"{eq['lhs']} = {value} is correct."
        critique = f"Step sentence: {sentence}\nCorrectness of the step: {verdict}\nExplanation: {why}"
        out.append(
            {
                "conversations": [
                    {"from": "human", "value": DRILL_PROMPT.format(sentence=sentence)},
                    {"from": "gpt", "value": critique},
                ]
            }
        )
    return out


def verdict_spans(critique: str) -> list[tuple[int, int]]:
    """Character spans of the verdict words (with their leading space) in a critique."""
    return [m.span(1) for m in VERDICT.finditer(critique)]


def token_weights(
    offsets: list[tuple[int, int]],
    spans: list[tuple[int, int]],
    weight: float,
    other: float = 1.0,
    wrong: list[bool] | None = None,
    wrong_factor: float = 1.0,
) -> list[float]:
    """Loss weight of each response token: ``weight`` where it overlaps a verdict span (times
    ``wrong_factor`` where that verdict, ``wrong[i]`` of span i, is "Wrong"), else ``other``."""
    out = []
    for s, e in offsets:
        hit = [i for i, (s2, e2) in enumerate(spans) if s < e2 and e > s2]
        if not hit:
            out.append(other)
        else:
            out.append(weight * (wrong_factor if wrong and wrong[hit[0]] else 1.0))
    return out


def best_threshold(margins: list[tuple[float, bool]]) -> float:
    """The balanced accuracy (%) of ``(score, gold wrong)`` pairs at the best threshold: what a
    perfectly calibrated verdict would reach with this ranking (an upper bound, not a result)."""
    cuts = sorted({m for m, _ in margins})
    best = 50.0
    for cut in cuts:
        best = max(best, balanced([(m >= cut, w) for m, w in margins]))
    return best


FIRST_WRONG = re.compile(r"Correctness of the step: Wrong\nExplanation: ([^\n]*)")


def mistake_kind(critique: str) -> str | None:
    """How the first wrong step of a programmatic critique is wrong: ``"calculation"`` (its
    arithmetic: "12 + 19 = 31, not 26."), ``"setup"`` (a wrong operation or quantity: "This step
    gives 41, but it should give 15 (...)"), None for a critique without a wrong step."""
    m = FIRST_WRONG.search(critique)
    if not m:
        return None
    return "calculation" if re.fullmatch(r"[^,]*= [-\d.,$]+, not [-\d.,$]+\.", m.group(1)) else "setup"


def balanced(pairs: list[tuple[bool, bool]]) -> float:
    """Balanced accuracy (%) of ``(predicted wrong, gold wrong)`` pairs."""
    hit_w = [p for p, g in pairs if g]
    hit_c = [not p for p, g in pairs if not g]
    return 50 * (sum(hit_w) / max(1, len(hit_w)) + sum(hit_c) / max(1, len(hit_c)))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", required=True, help="critique examples to train on (04_dataset.json)")
    ap.add_argument("--test", required=True, help="held-out critique examples (no question shared with --train)")
    ap.add_argument("--model", default="models/SmolLM2-135M-Instruct", help="model folder")
    ap.add_argument("--n", type=int, default=512, help="training examples (seeded subset)")
    ap.add_argument("--ntest", type=int, default=120, help="held-out examples (seeded subset)")
    ap.add_argument("--epochs", type=float, default=1.0)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--layers", type=int, default=10, help="top layers trained (0: all)")
    ap.add_argument("--cutoff", type=int, default=512, help="tokens per example")
    ap.add_argument("--verdict-weight", type=float, default=1.0, help="loss weight of the verdict tokens")
    ap.add_argument("--other-weight", type=float, default=1.0, help="loss weight of the other response tokens")
    ap.add_argument("--wrong-factor", type=float, default=1.0, help='extra factor on the "Wrong" verdicts\' weight')
    ap.add_argument("--accumulate", type=int, default=1, help="batches per optimizer step")
    ap.add_argument("--schedule", choices=["cosine", "constant"], default="cosine", help="after the warm-up")
    ap.add_argument("--eaft", type=float, default=0.0, help="entropy-adaptive weights with this alpha (0: off)")
    ap.add_argument("--eval-every", type=int, default=32, help="optimizer steps between evaluations (0: end only)")
    ap.add_argument("--drill", type=int, default=0, help="one-step arithmetic checks mixed in (0: none)")
    ap.add_argument("--drill-batch", type=int, default=32, help="arithmetic checks per batch")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    rng = random.Random(args.seed)
    tok = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.bfloat16)
    layers = model.model.layers
    trained = layers if args.layers == 0 else layers[len(layers) - args.layers :]
    for p in model.parameters():
        p.requires_grad = args.layers == 0
    for layer in trained:
        for p in layer.parameters():
            p.requires_grad = True
    params = [p for p in model.parameters() if p.requires_grad]
    for p in params:  # trainable weights in fp32, as LLaMA-Factory casts them
        p.data = p.data.float()

    def prompt_of(row: dict) -> str:
        msgs = [{"role": "user", "content": row["conversations"][0]["value"]}]
        return str(tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True))

    def encode(row: dict) -> tuple[list[int], list[float]]:
        critique = row["conversations"][1]["value"] + tok.eos_token
        p_ids = tok(prompt_of(row), add_special_tokens=False)["input_ids"]
        r = tok(critique, add_special_tokens=False, return_offsets_mapping=True)
        spans = verdict_spans(critique)
        wrong = [critique[s:e].strip() == "Wrong" for s, e in spans]
        w = [0.0] * len(p_ids) + token_weights(
            r["offset_mapping"], spans, args.verdict_weight, args.other_weight, wrong, args.wrong_factor
        )
        return (p_ids + r["input_ids"])[: args.cutoff], w[: args.cutoff]

    def held_out(row: dict) -> tuple[list[int], list[tuple[int, bool]], bool, str | None]:
        prompt, critique = prompt_of(row), row["conversations"][1]["value"]
        enc = tok(prompt + critique, add_special_tokens=False, return_offsets_mapping=True)
        ends = [e for _, e in enc["offset_mapping"]]
        points = [
            (max(i for i, e in enumerate(ends) if e <= len(prompt) + end), wrong)
            for end, wrong, _ in probe.decision_points(critique)
        ]
        return enc["input_ids"], points, "Wrong" in critique, mistake_kind(critique)

    train = json.loads(Path(args.train).read_text())
    test = json.loads(Path(args.test).read_text())
    rng.shuffle(train)
    random.Random(1).shuffle(test)
    data = [encode(r) for r in train[: args.n]]
    drills = [encode(r) for r in drill_examples(train, args.drill, args.seed)] if args.drill else []
    tests = [held_out(r) for r in test[: args.ntest]]
    drill_tests = [held_out(r) for r in drill_examples(test, 200, args.seed + 1)] if args.drill else []
    (wrong_id,), (correct_id,) = (
        tok(" Wrong", add_special_tokens=False)["input_ids"],
        tok(" Correct", add_special_tokens=False)["input_ids"],
    )

    @torch.no_grad()
    def evaluate() -> str:
        model.eval()
        decisions, first, examples, margins = [], [], [], list[tuple[float, bool]]()
        by_kind: dict[str, list[float]] = {"calculation": [], "setup": []}
        for ids, points, gold_wrong, kind in tests:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                logits = model(torch.tensor([ids])).logits[0].float()
            margins += [(float(logits[pos, wrong_id] - logits[pos, correct_id]), wrong) for pos, wrong in points]
            if kind:
                by_kind[kind].append(margins[-1][0])
            ok = True
            for i, (pos, wrong) in enumerate(points):
                said_wrong = bool(logits[pos, wrong_id] > logits[pos, correct_id])
                decisions.append((said_wrong, wrong))
                first += [(said_wrong, wrong)] if i == 0 else []
                ok = said_wrong == wrong
                if not ok:
                    break
            examples.append((ok, gold_wrong))
        checks = []
        for ids, points, _, _ in drill_tests:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                logits = model(torch.tensor([ids])).logits[0].float()
            checks += [(float(logits[pos, wrong_id] - logits[pos, correct_id]), wrong) for pos, wrong in points]
        model.train()
        drill = (
            f"; held-out arithmetic checks {balanced([(m > 0, w) for m, w in checks]):.1f} "
            f"(AUC {probe.auc([m for m, _ in checks], [w for _, w in checks]) or 0:.3f}, n = {len(checks)})"
            if checks
            else ""
        )
        share = sum(p for p, _ in decisions) / max(1, len(decisions))
        whole = balanced([(gold if ok else not gold, gold) for ok, gold in examples])
        ranking = probe.auc([m for m, _ in margins], [w for _, w in margins])
        right = [m for m, w in margins if not w]
        kinds = ", ".join(
            f"{k} {probe.auc(v + right, [True] * len(v) + [False] * len(right)) or 0:.3f} (n = {len(v)})"
            for k, v in by_kind.items()
        )
        return (
            f"decisions {balanced(decisions):.1f} (said wrong {share:.2f}, AUC {ranking or 0:.3f}, "
            f"best threshold {best_threshold(margins):.1f}; AUC by first mistake: {kinds}), "
            f"first decision {balanced(first):.1f}, "
            f"whole examples {whole:.1f} (n = {len(tests)}){drill}"
        )

    def micro_loss(batch: list[tuple[list[int], list[float]]]) -> torch.Tensor:
        width = max(len(ids) for ids, _ in batch)
        ids = torch.full((len(batch), width), tok.pad_token_id or 0)
        weight = torch.zeros(len(batch), width)
        mask = torch.zeros(len(batch), width, dtype=torch.long)
        for i, (x, wx) in enumerate(batch):
            ids[i, : len(x)], weight[i, : len(wx)], mask[i, : len(x)] = torch.tensor(x), torch.tensor(wx), 1
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
        nll = torch.nn.functional.cross_entropy(logits.transpose(1, 2), ids[:, 1:], reduction="none")
        w = weight[:, 1:]
        if args.eaft:
            with torch.no_grad():
                top = torch.topk(logits, k=20, dim=-1).values
                logp = top - torch.logsumexp(top, dim=-1, keepdim=True)
                w = w * (-(logp.exp() * logp).sum(-1) / 3.0).pow(args.eaft)
        return (nll * w).sum() / (weight[:, 1:] > 0).sum()

    def batches() -> list[list[int]]:
        """One epoch's batches: critiques in ``--batch``, arithmetic checks in ``--drill-batch``
        (indices into data + drills), shuffled together."""
        crit, dr = list(range(len(data))), list(range(len(data), len(data) + len(drills)))
        rng.shuffle(crit)
        rng.shuffle(dr)
        out = [crit[i : i + args.batch] for i in range(0, len(crit), args.batch)]
        out += [dr[i : i + args.drill_batch] for i in range(0, len(dr), args.drill_batch)]
        rng.shuffle(out)
        return out

    examples = data + drills
    per_epoch = math.ceil(len(data) / args.batch) + math.ceil(len(drills) / args.drill_batch)
    total = math.ceil(per_epoch / args.accumulate * args.epochs)
    warm = max(1, total // 16)
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt,
        lambda s: (
            min(1.0, (s + 1) / warm)
            * (1.0 if args.schedule == "constant" else 0.5 * (1 + math.cos(math.pi * min(1.0, s / total))))
        ),
    )
    print(f"{len(data)} examples + {len(drills)} arithmetic checks, {total} steps; base: {evaluate()}", flush=True)
    start, queue = time.time(), list[list[int]]()
    for step in range(1, total + 1):
        for _ in range(args.accumulate):
            if not queue:
                queue = batches()
            loss = micro_loss([examples[i] for i in queue.pop()])
            (loss / args.accumulate).backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        opt.zero_grad()
        if step % 10 == 0:
            print(f"step {step}/{total} loss {loss.item():.3f} {time.time() - start:.0f}s", flush=True)
        if args.eval_every and step % args.eval_every == 0 and step < total:
            print(f"step {step}: {evaluate()}", flush=True)
    print(f"end ({time.time() - start:.0f} s of training): {evaluate()}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
