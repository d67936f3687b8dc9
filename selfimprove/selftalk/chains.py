"""Self-talk chain construction (the paper's "self-talk via critique"), engine- and judge-agnostic.

For every initial solution (one sampled answer of the actor):

1. **initial construction** — the solution is cut into steps (one per line, up to its final-answer
   line) and the judge writes a step-level critique after each step;
2. **iterative refine and critique** — at the first step judged wrong the actor rewrites that step
   (:func:`~selfimprove.selftalk.prompts.rewrite_prompt`, guided by the critique) and the judge
   judges the rewrite, until it is accepted or ``max_rounds`` rewrites were rejected; the rest of
   the flawed solution is discarded and the actor continues from the corrected step, one step at
   a time (:func:`~selfimprove.selftalk.prompts.next_step_prompt`), each new step judged and, when
   wrong, rewritten the same way, until a step states the final answer;
3. **final verification** — a chain is kept only when it completed and its final answer is
   correct (:func:`verify`). Smoothing into a monologue is :mod:`selfimprove.selftalk.smoothing`.

A chain ends ``complete`` (an accepted final-answer step), ``unresolved`` (a step still wrong
after ``max_rounds`` rewrites), ``too_long`` (``max_steps`` accepted steps without a final
answer) or ``empty_step`` (the actor wrote nothing). With ``force_answer`` (default) the step at
the last allowed position is prefilled with the answer phrase ("The answer is ..."), so a chain
that runs out of steps states an answer the judge can accept or send back for rewriting. All chains of a batch advance together:
each tick is one actor call for every running chain, then one judge call.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from tqdm import tqdm

from selfimprove.generation.engines import Engine, SamplingParams
from selfimprove.generation.prompts import Prompt
from selfimprove.selftalk.judges import StepItem, StepJudge
from selfimprove.selftalk.prompts import answer_lead, next_step_prompt, rewrite_prompt, solution_text
from selfimprove.selftalk.steps import completion_text, first_step, is_final, split_steps

STATUSES = ("running", "complete", "unresolved", "too_long", "empty_step")


@dataclass(frozen=True)
class ChainConfig:
    max_rounds: int = 3  # rewrites of one step before the chain is given up
    max_steps: int = 12  # accepted steps before a chain without final answer is given up
    step_max_tokens: int = 128  # new tokens per generated or rewritten step
    temperature: float = 0.7  # of rewrites and continuation steps
    seed: int = 0
    force_answer: bool = True  # prefill the answer phrase at the last allowed position

    def __post_init__(self) -> None:
        if self.max_rounds < 0 or self.max_steps < 1 or self.step_max_tokens < 1:
            raise ValueError(f"invalid chain configuration {self}")


@dataclass
class Attempt:
    text: str
    ok: bool
    explanation: str
    origin: str  # "initial" (from the solution), "rewrite", "generated" (after the corrected step)
    forced: bool = False  # written after the prefilled answer phrase

    def as_dict(self) -> dict:
        return {
            "text": self.text,
            "ok": self.ok,
            "explanation": self.explanation,
            "origin": self.origin,
            "forced": self.forced,
        }


@dataclass
class Slot:
    """One position of the chain: its attempts in order; the last one stands."""

    attempts: list[Attempt]

    @property
    def last(self) -> Attempt:
        return self.attempts[-1]

    @property
    def rounds(self) -> int:
        return sum(a.origin == "rewrite" for a in self.attempts)


@dataclass
class Chain:
    id: str
    question: Mapping[str, Any]
    source_id: str | None
    initial_steps: list[str]
    initial_judgements: list[tuple[bool, str]] = field(default_factory=list)
    slots: list[Slot] = field(default_factory=list)
    status: str = "running"
    actor_calls: int = 0

    @property
    def steps(self) -> list[str]:
        """The standing text of every position."""
        return [s.last.text for s in self.slots]

    @property
    def accepted(self) -> list[str]:
        """The standing steps before a pending rewrite (all of them when none is pending)."""
        return self.steps[:-1] if self.pending == "rewrite" else self.steps

    @property
    def pending(self) -> str:
        return "rewrite" if self.slots and not self.slots[-1].last.ok else "next"

    @property
    def first_wrong(self) -> int | None:
        return next((i for i, (ok, _) in enumerate(self.initial_judgements) if not ok), None)

    def lead(self, cfg: ChainConfig) -> str:
        """The answer phrase the next attempt starts with ("" unless it is at the last position)."""
        position = len(self.slots) - 1 if self.pending == "rewrite" else len(self.slots)
        return answer_lead(self.question["dataset_type"]) if cfg.force_answer and position == cfg.max_steps - 1 else ""

    def prompt(self, lead: str = "") -> Prompt:
        q = self.question
        if self.pending == "rewrite":
            last = self.slots[-1].last
            p = rewrite_prompt(q["question"], q["dataset_type"], self.accepted, last.text, last.explanation)
        else:
            p = next_step_prompt(q["question"], q["dataset_type"], self.steps)
        return replace(p, prefix=p.prefix + lead) if lead else p

    def advance(self, cfg: ChainConfig) -> None:
        """Set the status from the last position."""
        if not self.slots:
            return
        last = self.slots[-1]
        if not last.last.ok:
            if last.rounds >= cfg.max_rounds:
                self.status = "unresolved"
        elif is_final(last.last.text):
            self.status = "complete"
        elif len(self.slots) >= cfg.max_steps:
            self.status = "too_long"

    def response(self) -> str:
        return solution_text(self.steps).rstrip("\n")


def start_chain(
    chain_id: str,
    question: Mapping[str, Any],
    solution: str,
    judgements: Sequence,
    cfg: ChainConfig,
    source_id: str | None = None,
) -> Chain:
    """Initial construction from a solution and the judge's verdicts on its steps: keep the steps up
    to the first wrong one (inclusive: it is the one to rewrite); later steps are discarded."""
    steps = split_steps(solution)
    if len(judgements) != len(steps):
        raise ValueError(f"{chain_id}: {len(judgements)} judgements for {len(steps)} steps")
    chain = Chain(chain_id, question, source_id, steps, [(j.ok, j.explanation) for j in judgements])
    for text, j in zip(steps, judgements):
        chain.slots.append(Slot([Attempt(text, j.ok, j.explanation, "initial")]))
        if not j.ok:
            break
    # a chain never holds more than max_steps positions: a first wrong step beyond the cap is
    # discarded with the rest, and the chain (all of its kept steps accepted) ends too_long
    del chain.slots[cfg.max_steps :]
    chain.advance(cfg)
    return chain


def build_chains(
    actor: Engine,
    judge: StepJudge,
    starts: Sequence[tuple[str, Mapping[str, Any], str, str | None]],
    cfg: ChainConfig,
) -> list[Chain]:
    """Build one chain per ``(chain_id, question_record, initial_solution, source_id)``."""
    steps = [split_steps(solution) for _, _, solution, _ in starts]
    items = [StepItem(q, tuple(st[:i]), s) for (_, q, _, _), st in zip(starts, steps) for i, s in enumerate(st)]
    verdicts = iter(judge.judge(items))
    chains = [
        start_chain(cid, q, solution, [next(verdicts) for _ in st], cfg, source_id)
        for (cid, q, solution, source_id), st in zip(starts, steps)
    ]
    params = SamplingParams(n=1, temperature=cfg.temperature, max_tokens=cfg.step_max_tokens, seed=cfg.seed)
    tick = 0
    bar = tqdm(total=len(chains), desc="self-talk chains", unit="chain", file=sys.stderr, dynamic_ncols=True)
    while True:
        running = [c for c in chains if c.status == "running"]
        bar.update(len(chains) - len(running) - bar.n)
        if not running:
            bar.close()
            return chains
        tick += 1
        bar.set_postfix(round=tick, running=len(running))
        leads = [c.lead(cfg) for c in running]
        outs = actor.generate(
            [c.prompt(lead) for c, lead in zip(running, leads)], replace(params, seed=cfg.seed + tick)
        )
        if len(outs) != len(running):
            raise RuntimeError(f"actor returned {len(outs)} results for {len(running)} prompts")
        todo: list[tuple[Chain, str, bool]] = []
        for c, lead, completions in zip(running, leads, outs):
            c.actor_calls += 1
            text = completion_text(completions[0]) if completions else ""
            step = first_step(lead + text) if text.strip() else ""
            if step:
                todo.append((c, step, bool(lead)))
            else:
                c.status = "empty_step"
        judged = judge.judge([StepItem(c.question, tuple(c.accepted), step) for c, step, _ in todo])
        for (c, step, forced), j in zip(todo, judged):
            if c.pending == "rewrite":
                c.slots[-1].attempts.append(Attempt(step, j.ok, j.explanation, "rewrite", forced))
            else:
                c.slots.append(Slot([Attempt(step, j.ok, j.explanation, "generated", forced)]))
            c.advance(cfg)


def verify(chain: Chain, correct: bool) -> str | None:
    """Final verification: None when the chain is kept, else why it is dropped."""
    if chain.status != "complete":
        return chain.status
    return None if correct else "wrong_answer"


def chain_record(chain: Chain) -> dict:
    """The chain with its provenance: every position's attempts, which steps were rewritten and
    in how many rounds, how much of the initial solution survived."""
    q = chain.question
    t = chain.first_wrong
    kept_initial = sum(a.origin == "initial" for s in chain.slots for a in s.attempts[:1])
    return {
        "id": chain.id,
        "qid": q["id"],
        "source_id": chain.source_id,
        "dataset": q.get("dataset"),
        "dataset_type": q["dataset_type"],
        "level": q.get("level"),
        "question": q["question"],
        "gold": q["gold"],
        "status": chain.status,
        "initial": {
            "steps": chain.initial_steps,
            "judgements": [{"ok": ok, "explanation": e} for ok, e in chain.initial_judgements],
            "first_wrong": t,
            "discarded": len(chain.initial_steps) - kept_initial,
        },
        "steps": [
            {"position": i, "rounds": s.rounds, "accepted": s.last.ok, "attempts": [a.as_dict() for a in s.attempts]}
            for i, s in enumerate(chain.slots)
        ],
        "rewritten_steps": [i for i, s in enumerate(chain.slots) if s.rounds],
        "rounds": sum(s.rounds for s in chain.slots),
        "generated_steps": sum(s.attempts[0].origin == "generated" for s in chain.slots),
        "actor_calls": chain.actor_calls,
        "response": chain.response(),
    }
