#!/usr/bin/env python3
"""How much of the synthetic problems' arithmetic does a model know? Two cheap measurements.

A step-checking critic has to tell "Kim has 22 + 9 = 31 apples." from "... = 40 apples.". Before
blaming the data or the recipe for a critic that does not, measure what the untrained model knows
of the very equations the steps state (the single-operation steps ``a op b`` of question records
with true ``steps``, e.g. ``data/<split>.jsonl`` of ``prepare --dataset synthetic-easy``):

* **computes**: few-shot greedy completion of ``a op b =`` gives the true result;
* **prefers**: scored as text ("Kim has a op b = c apples."), the true result is more likely than
  a near miss (changed by 1-3), as a pairwise preference and as the AUC of the stated result's
  log-likelihood as a right/wrong score (what a verdict would need, one statement at a time).

::

    python scripts/arith_knowledge.py --questions runs/<EXP>/critic/data/test.jsonl --n 100

``--critiques`` (held-out critique examples, a ``04_dataset.json``) adds the same score where the
critic meets the steps: the log-likelihood of each step's stated result, and of its whole equation,
in the critic's prompt (the solution it reads), ranked against the labels of the step decisions up
to the first wrong one — what a verdict read from the model's own likelihood would reach.

``--train N`` then fine-tunes the model on N other equations of the same operations and operand
ranges (``a op b = c``, loss on the result, every layer, AdamW at ``--lr``, batches of 32) and
measures again: can a few thousand examples teach the arithmetic a step-checker needs?
One thread by default (``--threads``).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from selfimprove.evaluation.estimators import auc  # noqa: E402


def fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


EXPR = re.compile(r"(\d+)\s*([-+*/])\s*(\d+)")
STEP = re.compile(r"Step sentence: ([^\n]*)\nCorrectness of the step: (Correct|Wrong)")
EQUATION = re.compile(r"(\d+(?: [-+*/] \d+)+) = \$?(\d+)")
SHOTS = "3 + 4 = 7\n12 - 5 = 7\n6 * 3 = 18\n20 / 4 = 5\n"


def equations(path: str | Path, n: int, seed: int = 0) -> list[tuple[str, int]]:
    """Up to ``n`` distinct single-operation steps ``("a op b", value)`` of the question records,
    a seeded sample; records without ``steps`` contribute nothing."""
    found = set()
    for line in Path(path).read_text().splitlines():
        if not line.strip():
            continue
        for step in json.loads(line).get("steps") or []:
            m = EXPR.fullmatch(str(step.get("expr", "")).strip())
            if m and isinstance(step.get("value"), int):
                found.add((f"{m[1]} {m[2]} {m[3]}", step["value"]))
    eqs = sorted(found)
    random.Random(seed).shuffle(eqs)
    return eqs[:n]


def step_statements(prompt: str, critique: str) -> list[tuple[tuple[int, int], tuple[int, int], bool]]:
    """The critique's step decisions up to its first "Wrong" whose step states an equation, as
    ``(result span, equation span, wrong)``: character spans in ``prompt``, where the step stands in
    the solution the critic reads (not in the critic's own copy, which it can predict by copying)."""
    out = []
    for m in STEP.finditer(critique):
        eq, at = EQUATION.search(m[1]), prompt.find(m[1])
        if eq is not None and at >= 0:
            out.append(((at + eq.start(2), at + eq.end(2)), (at + eq.start(1), at + eq.end(2)), m[2] == "Wrong"))
        if m[2] == "Wrong":
            break
    return out


def near_miss(value: int, rng: random.Random) -> int:
    """A wrong result 1-3 away from ``value`` (never negative)."""
    return value + rng.choice([d for d in (-3, -2, -1, 1, 2, 3) if value + d >= 0])


def value_of(a: int, op: str, b: int) -> int | None:
    """``a op b`` when it is a whole number >= 0, else None."""
    if op == "+":
        return a + b
    if op == "-":
        return a - b if a >= b else None
    if op == "*":
        return a * b
    return a // b if b and a % b == 0 else None


def drill_equations(probed: list[tuple[str, int]], n: int, seed: int = 0) -> list[tuple[str, int]]:
    """``n`` random equations of the probed operations, each operand drawn from the range the
    probed ones of that operation span, none of them a probed one; operations as often as probed."""
    rng = random.Random(seed)
    ops: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for expr, _ in probed:
        left, sign, right = expr.split()
        ops[sign].append((int(left), int(right)))
    seen, out = {expr for expr, _ in probed}, list[tuple[str, int]]()
    weights = [len(v) for v in ops.values()]
    for _ in range(100 * n):
        if len(out) == n:
            break
        op = rng.choices(list(ops), weights)[0]
        (lo_a, hi_a), (lo_b, hi_b) = ((min(x), max(x)) for x in zip(*ops[op]))
        a, b = rng.randint(lo_a, hi_a), rng.randint(lo_b, hi_b)
        value = value_of(a, op, b)
        if value is not None and f"{a} {op} {b}" not in seen:
            out.append((f"{a} {op} {b}", value))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--questions", required=True, help="question records with true steps (JSONL)")
    ap.add_argument("--model", default="models/SmolLM2-135M-Instruct", help="model folder")
    ap.add_argument("--n", type=int, default=100, help="equations (seeded sample)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--critiques", help="held-out critique examples (04_dataset.json): also score their steps in context"
    )
    ap.add_argument("--train", type=int, default=0, help="equations to fine-tune on, then measure again (0: none)")
    ap.add_argument("--lr", type=float, default=2e-4, help="learning rate of --train")
    ap.add_argument("--save", help="folder to save the model fine-tuned by --train in")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    eqs = equations(args.questions, args.n, args.seed)
    if not eqs:
        print(f"error: {args.questions}: no single-operation steps with true values", file=sys.stderr)
        return 2

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(args.threads)
    tok = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32).eval()

    @torch.no_grad()
    def completion(prompt: str) -> str:
        ids = tok(prompt, return_tensors="pt").input_ids
        out = model.generate(ids, max_new_tokens=6, do_sample=False, pad_token_id=tok.eos_token_id)
        return str(tok.decode(out[0, ids.shape[1] :]))

    @torch.no_grad()
    def logprob(prefix: str, continuation: str) -> float:
        p = tok(prefix)["input_ids"]
        c = tok(prefix + continuation)["input_ids"][len(p) :]
        logp = model(torch.tensor([p + c])).logits[0].log_softmax(-1)
        return sum(float(logp[len(p) - 1 + i, t]) for i, t in enumerate(c))

    @torch.no_grad()
    def in_context() -> None:
        result, equation, wrong = [], [], []
        for row in json.loads(Path(args.critiques).read_text()):
            messages = [{"role": "user", "content": row["conversations"][0]["value"]}]
            prompt = str(tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))
            steps = step_statements(prompt, row["conversations"][1]["value"])
            if not steps:
                continue
            enc = tok(prompt, add_special_tokens=False, return_offsets_mapping=True)
            ids, spans = enc["input_ids"], enc["offset_mapping"]
            logp = model(torch.tensor([ids])).logits[0].log_softmax(-1)

            scored = [(spans[i], float(logp[i - 1, ids[i]])) for i in range(1, len(ids))]
            for res, eq, w in steps:  # the tokens that overlap each span
                result.append(-sum(lp for (a, b), lp in scored if a < res[1] and b > res[0]))
                equation.append(-sum(lp for (a, b), lp in scored if a < eq[1] and b > eq[0]))
                wrong.append(w)
        print(
            f"in the critic's prompt: {len(wrong)} step decisions with an equation ({sum(wrong)} wrong): "
            f"AUC of -log P(stated result) {fmt(auc(result, wrong))}, of -log P(whole equation) "
            f"{fmt(auc(equation, wrong))}",
            flush=True,
        )

    def measure(title: str) -> None:
        rows: dict[str, dict[str, list]] = defaultdict(
            lambda: {k: [] for k in ("computes", "prefers", "scores", "wrong")}
        )
        rng = random.Random(args.seed)
        model.eval()
        for expr, value in eqs:
            r = rows[expr.split()[1]]
            got = re.match(r"\s*(-?\d+)", completion(f"{SHOTS}{expr} ="))
            r["computes"].append(got is not None and int(got[1]) == value)
            prefix, miss = f"Kim has {expr} =", near_miss(value, rng)
            right, wrong = logprob(prefix, f" {value} apples."), logprob(prefix, f" {miss} apples.")
            r["prefers"].append(right > wrong)
            r["scores"] += [-right, -wrong]
            r["wrong"] += [False, True]
        if args.critiques:
            in_context()
        rows["all"] = {
            k: [x for op in sorted(rows) for x in rows[op][k]] for k in ("computes", "prefers", "scores", "wrong")
        }
        print(f"\n{title}\n")
        print("| operation | n | computes (greedy, few-shot) | prefers the true result | AUC of -log P(stated) |")
        print("|---|---|---|---|---|")
        for op, r in rows.items():
            n = len(r["computes"])
            print(
                f"| {op} | {n} | {sum(r['computes']) / n:.0%} | {sum(r['prefers']) / n:.0%} | "
                f"{fmt(auc(r['scores'], r['wrong']))} |",
                flush=True,
            )

    measure(f"{args.model}, {len(eqs)} equations")
    if args.train:
        import time

        drill = drill_equations(eqs, args.train, args.seed)
        opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0)
        model.train()
        start = time.time()
        for i in range(0, len(drill), 32):
            texts = [(f"{expr} =", f" {value}\n") for expr, value in drill[i : i + 32]]
            enc = [(tok(p)["input_ids"], tok(p + c)["input_ids"]) for p, c in texts]
            width = max(len(full) for _, full in enc)
            ids = torch.full((len(enc), width), tok.eos_token_id)
            mask = torch.zeros((len(enc), width), dtype=torch.long)
            labels = torch.full((len(enc), width), -100)
            for k, (head, full) in enumerate(enc):
                ids[k, : len(full)], mask[k, : len(full)] = torch.tensor(full), 1
                labels[k, len(head) : len(full)] = torch.tensor(full[len(head) :])
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
            loss.backward()
            opt.step()
            opt.zero_grad()
            if (i // 32 + 1) % 20 == 0:
                print(
                    f"{i + 32}/{len(drill)} equations, loss {loss.item():.3f}, {time.time() - start:.0f} s", flush=True
                )
        if args.save:
            model.save_pretrained(args.save)
            tok.save_pretrained(args.save)
        measure(f"after fine-tuning on {len(drill)} other equations ({time.time() - start:.0f} s, lr {args.lr})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
