"""The likelihood critic: a language model's surprise at each step, read as the step's verdict.

A model fine-tuned on right solutions of a kind of problem finds a wrong step of such a solution
improbable. This critic scores every step of a response by the negative log-likelihood, under such
a model and in the actor's own prompt (the question, then the solution up to that step), of the
step's arithmetic: the tokens of its equations (operands, operators and result), or of its numbers
where it has no equation. The solution is scored as the critique repeats it: one line per step,
calculator annotations (``<<3*7=21>>``) removed. The first step whose score passes a threshold is called wrong, and the
critique is written in the paper's format (steps up to that one, then the final verdict), so the
actor refines from it exactly as from a generated critique.

The threshold is fitted on labelled responses (:func:`fit_threshold`: the best balanced accuracy of
the whole-response verdict), from questions the scoring model was not fine-tuned on. It is a
verifier read from a model's likelihood, not a generative critique model: its explanations are
templated, and it judges only what shows in a step's numbers (a wrong step without numbers passes).

A model folder holding :data:`CALIBRATION` (``likelihood.json``: the threshold and the dataset type
whose prompt the model was fine-tuned in) is such a critic wherever a critic model is named: the
engine registry builds :class:`LikelihoodEngine` for it (registered by importing this module, which
the command line does), which reads the question and the solution back from the critique prompt.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selfimprove.core.errors import UsageError
from selfimprove.core.io import atomic_write_text
from selfimprove.critic.arith import find_equations, tokenize
from selfimprove.critic.programmatic import StepCheck, render_critique, solution_steps, step_sentence
from selfimprove.evaluation.estimators import auc
from selfimprove.generation.engines import Completion, Engine, EngineSettings, SamplingParams
from selfimprove.generation.engines.registry import LIKELIHOOD_CALIBRATION, register_engine
from selfimprove.generation.prompts import CRITIQUE_INSTRUCTION, Prompt, PromptFormat, solve_prompt

NAME = "likelihood"
#: the file that makes a model folder a likelihood critic
CALIBRATION = LIKELIHOOD_CALIBRATION


def step_texts(response: str) -> list[str]:
    """The steps as the critique repeats them and as they are scored: the solution's non-empty
    lines (:func:`~selfimprove.critic.programmatic.solution_steps`), calculator annotations removed,
    spaces collapsed (a calculator's ``<<3*7=21>>`` note is not part of the reasoning)."""
    return [step_sentence(line) for line in solution_steps(response)]


def scored_spans(line: str) -> list[tuple[int, int]]:
    """What of a step line is scored: each equation (operands to stated result), or, in a line
    without one, each number."""
    eqs = find_equations(line)
    if eqs:
        return [e.span for e in eqs]
    return [(t.start, t.end) for t in tokenize(line) if t.kind == "num"]


def step_scores(
    token_spans: Sequence[tuple[int, int]], token_nll: Sequence[float], steps: Sequence[str], offset: int
) -> list[float]:
    """Per step, the summed NLL of the tokens overlapping its scored spans; ``token_spans`` are
    character spans in a text where ``"\n".join(steps)`` starts at ``offset``."""
    scores, at = [], offset
    for step in steps:
        spans = [(at + s, at + e) for s, e in scored_spans(step)]
        scores.append(
            sum(nll for (ta, tb), nll in zip(token_spans, token_nll) if any(ta < e and tb > s for s, e in spans))
        )
        at += len(step) + 1
    return scores


class StepScorer:
    """A causal language model (transformers) that scores the steps of responses; loaded once, on
    the first GPU in bf16 where there is one, else on the CPU in fp32. Many responses are scored
    (and rewritten) in batches of ``batch_size``, shortest first."""

    def __init__(self, model: str, threads: int | None = None, model_type: str = "auto", batch_size: int = 8):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if threads:
            torch.set_num_threads(threads)
        self.torch = torch
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype = torch.bfloat16 if self.device == "cuda" else torch.float32
        self.tokenizer = AutoTokenizer.from_pretrained(model)
        loaded = AutoModelForCausalLM.from_pretrained(model, dtype=dtype)
        self.model: Any = loaded.to(self.device).eval()  # type: ignore[arg-type]
        self.format = PromptFormat.for_tokenizer(self.tokenizer, model_type)
        self.pad_id = (
            self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        )
        self.batch_size = max(1, batch_size)
        self.name = model

    def __call__(self, question: str, response: str, dataset_type: str) -> list[float]:
        return self.score_many([(question, response, dataset_type)])[0]

    def score_many(self, items: Sequence[tuple[str, str, str]]) -> list[list[float]]:
        """The step scores of each ``(question, response, dataset_type)``. Batches are padded on
        the right, which a causal model's logits of the real tokens never see."""
        torch, encoded = self.torch, []
        for question, response, dataset_type in items:
            head, steps = self.format.render(solve_prompt(question, dataset_type)), step_texts(response)
            enc = self.tokenizer(head + "\n".join(steps), add_special_tokens=False, return_offsets_mapping=True)
            encoded.append((list(enc["input_ids"]), enc["offset_mapping"], steps, len(head)))
        out: list[list[float]] = [[] for _ in items]
        for batch in self._batches([len(e[0]) for e in encoded]):
            rows = [encoded[i][0] for i in batch]
            ids, mask = self._padded(rows, left=False)
            with torch.no_grad():
                logits = self.model(ids, attention_mask=mask).logits.float()
            for row, i in enumerate(batch):
                tokens = rows[row]
                lp = logits[row, : len(tokens) - 1].log_softmax(-1)
                target = torch.tensor(tokens[1:], device=lp.device).unsqueeze(-1)
                nll = [0.0] + (-lp.gather(-1, target).squeeze(-1)).tolist()
                out[i] = step_scores(encoded[i][1], nll, encoded[i][2], encoded[i][3])
        return out

    def rewrite(self, question: str, response: str, step: int, dataset_type: str, max_new_tokens: int = 64) -> str:
        """The model's own version of step ``step`` (0-based), greedy, after the steps before it."""
        return self.rewrite_many([(question, response, step, dataset_type)], max_new_tokens)[0]

    def rewrite_many(self, items: Sequence[tuple[str, str, int, str]], max_new_tokens: int = 64) -> list[str]:
        """:meth:`rewrite` of each ``(question, response, step, dataset_type)`` ("" for a step the
        response does not have); batches are padded on the left for generation."""
        prompts: list[list[int]] = []
        for question, response, step, dataset_type in items:
            steps = step_texts(response)
            if not 0 <= step < len(steps):
                prompts.append([])
                continue
            text = self.format.render(solve_prompt(question, dataset_type)) + "".join(s + "\n" for s in steps[:step])
            prompts.append(list(self.tokenizer(text, add_special_tokens=False)["input_ids"]))
        out = [""] * len(items)
        todo = [i for i, p in enumerate(prompts) if p]
        for batch in self._batches([len(prompts[i]) for i in todo]):
            rows = [prompts[todo[k]] for k in batch]
            ids, mask = self._padded(rows, left=True)
            with self.torch.no_grad():
                generated = self.model.generate(
                    ids,
                    attention_mask=mask,
                    max_new_tokens=max_new_tokens,
                    do_sample=False,
                    pad_token_id=self.pad_id,
                    stopping_criteria=[self._line_done(ids.shape[1])],
                )
            for row, k in enumerate(batch):
                new = str(self.tokenizer.decode(generated[row, ids.shape[1] :], skip_special_tokens=True))
                out[todo[k]] = new.strip().split("\n")[0].strip()
        return out

    def _batches(self, lengths: Sequence[int]) -> list[list[int]]:
        """Indices into ``lengths`` in batches of similar length (shortest first)."""
        order = sorted(range(len(lengths)), key=lambda i: lengths[i])
        return [order[k : k + self.batch_size] for k in range(0, len(order), self.batch_size)]

    def _padded(self, rows: Sequence[Sequence[int]], left: bool) -> tuple[Any, Any]:
        """Token rows as one padded tensor and its attention mask, on the model's device."""
        torch, width = self.torch, max(len(r) for r in rows)
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for k, r in enumerate(rows):
            span = slice(width - len(r), width) if left else slice(0, len(r))
            ids[k, span], mask[k, span] = torch.tensor(r, dtype=torch.long), 1
        return ids.to(self.device), mask.to(self.device)

    def _line_done(self, start: int) -> Any:
        """A stopping criterion: per row, a line of text is complete after ``start`` (leading
        breaks aside)."""
        from transformers import StoppingCriteria

        tokenizer, torch = self.tokenizer, self.torch

        class LineDone(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                texts = tokenizer.batch_decode(input_ids[:, start:], skip_special_tokens=True)
                done = ["\n" in str(t).lstrip() for t in texts]
                return torch.tensor(done, dtype=torch.bool, device=input_ids.device)

        return LineDone()


def split_questions(
    paths: Sequence[dict], solutions: int, calibration: int, seed: int = 0
) -> tuple[list[str], list[str]]:
    """Training questions for the scoring model's fine-tune (``solutions`` of those with a right
    path) and, disjoint from them, for the threshold (``calibration`` of those with a right and a
    wrong path); seeded, in a fixed order."""
    right = {p["qid"] for p in paths if p.get("correct") and _usable(p)}
    wrong = {p["qid"] for p in paths if not p.get("correct") and _usable(p)}
    both = sorted(right & wrong)
    random.Random(f"{seed}:likelihood").shuffle(both)
    calib = both[:calibration]
    rest = sorted(right - set(calib))
    random.Random(f"{seed}:solutions").shuffle(rest)
    return rest[:solutions], calib


def _usable(path: dict) -> bool:
    return bool(path.get("selected", True)) and not path.get("empty") and bool(path.get("response"))


def solution_paths(paths: Sequence[dict], qids: Sequence[str]) -> list[dict]:
    """One right path per question of ``qids`` (the reference where there is one), in their order."""
    best: dict[str, dict] = {}
    for p in paths:
        if p.get("correct") and _usable(p) and (p["qid"] not in best or p.get("strategy") == "reference"):
            best[p["qid"]] = p
    return [best[q] for q in qids if q in best]


def calibration_paths(paths: Sequence[dict], qids: Sequence[str]) -> list[dict]:
    keep = set(qids)
    return [p for p in paths if p["qid"] in keep and _usable(p)]


def response_score(scores: Sequence[float]) -> float:
    """A response is as suspicious as its most improbable step (-inf without steps)."""
    return max(scores, default=-math.inf)


def fit_threshold(scores: Sequence[float], wrong: Sequence[bool]) -> float:
    """The threshold on response scores (wrong when above it) with the best balanced accuracy on
    labelled responses; ties go to the lower threshold's midpoint. Needs both classes."""
    if not any(wrong) or all(wrong):
        raise ValueError("fitting a threshold needs both right and wrong responses")
    n_wrong, n_right = sum(wrong), len(wrong) - sum(wrong)
    pairs = sorted(zip(scores, wrong))
    cuts = sorted({s for s in scores if math.isfinite(s)})
    best, best_t = -1.0, cuts[0] - 1.0 if cuts else 0.0
    # above t: called wrong
    below_right = below_wrong = 0
    i = 0
    for k, c in enumerate(cuts):
        while i < len(pairs) and pairs[i][0] <= c:
            below_right += not pairs[i][1]
            below_wrong += pairs[i][1]
            i += 1
        bal = (below_right / n_right + (n_wrong - below_wrong) / n_wrong) / 2
        if bal > best:
            nxt = cuts[k + 1] if k + 1 < len(cuts) else c + 1.0
            best, best_t = bal, (c + nxt) / 2
    return best_t


@dataclass(frozen=True)
class Separation:
    """How response scores and a threshold separate wrong responses from right ones."""

    n: int
    wrong: int
    hits: int  # wrong responses called wrong
    false_alarms: int  # right responses called wrong
    auc: float | None

    @property
    def balanced_accuracy(self) -> float:
        right = self.n - self.wrong
        return (self.hits / self.wrong + (right - self.false_alarms) / right) / 2

    @property
    def accuracy(self) -> float:
        return (self.hits + self.n - self.wrong - self.false_alarms) / self.n


def separation(scores: Sequence[float], wrong: Sequence[bool], threshold: float) -> Separation:
    """Count the verdicts "wrong when above ``threshold``" against the labels (both classes needed)."""
    called = [s > threshold for s in scores]
    return Separation(
        n=len(wrong),
        wrong=sum(wrong),
        hits=sum(c and w for c, w in zip(called, wrong)),
        false_alarms=sum(c and not w for c, w in zip(called, wrong)),
        auc=auc(scores, wrong),
    )


@dataclass(frozen=True)
class Verdicts:
    first_wrong: int | None  # 0-based step, None: every step passes
    scores: tuple[float, ...]


def judge(scores: Sequence[float], threshold: float) -> Verdicts:
    first = next((i for i, s in enumerate(scores) if s > threshold), None)
    return Verdicts(first, tuple(scores))


def critique_text(response: str, verdicts: Verdicts, proposal: str = "") -> str:
    """The paper's critique format: the steps up to the first wrong one (all when none is), then
    the final verdict. ``proposal``: the scoring model's own version of the wrong step, offered in
    its explanation where it differs from the step."""
    steps = []
    for i, line in enumerate(step_texts(response)):
        if verdicts.first_wrong is not None and i > verdicts.first_wrong:
            break
        wrong = i == verdicts.first_wrong
        why = "The numbers of this step follow from what came before."
        if wrong:
            why = "The numbers of this step do not follow from the question and the steps before it."
            if proposal and step_sentence(proposal) != line:
                why += f" The step should be: {step_sentence(proposal)}"
            else:
                why += " Recompute this step."
        steps.append(StepCheck(line, not wrong, why))
    if verdicts.first_wrong is None:
        return render_critique(steps, "correct", "Every step holds, so the final answer is correct.")
    return render_critique(steps, "wrong", f"Step {verdicts.first_wrong + 1} is wrong, so the final answer is wrong.")


# --------------------------------------------------------------------------- as an engine
_HEAD, _MIDDLE = CRITIQUE_INSTRUCTION.split("{question}")[0], "\n\nSolution:\n"


def split_critique_message(text: str) -> tuple[str, str]:
    """The question and the solution of a critique prompt's text (``critique_message``'s inverse)."""
    if not text.startswith(_HEAD) or _MIDDLE not in text[len(_HEAD) :]:
        raise ValueError("not a critique prompt: the likelihood critic reads only the critique instruction")
    question, solution = text[len(_HEAD) :].split(_MIDDLE, 1)
    return question, solution


def write_calibration(model_dir: str | Path, threshold: float, dataset_type: str, **facts: Any) -> Path:
    path = Path(model_dir) / CALIBRATION
    atomic_write_text(path, json.dumps({"threshold": threshold, "dataset_type": dataset_type, **facts}, indent=2))
    return path


def read_calibration(model_dir: str | Path) -> dict:
    path = Path(model_dir) / CALIBRATION
    try:
        cal = json.loads(path.read_text())
        float(cal["threshold"]), str(cal["dataset_type"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise UsageError(f"{path}: not a likelihood critic's calibration ({e})") from None
    return cal


class LikelihoodEngine(Engine):
    """The likelihood critic behind the engine interface: each prompt is a critique prompt, each
    completion the critique (the same for every one of ``params.n``: the verdicts are
    deterministic)."""

    def __init__(self, model: str, threshold: float, dataset_type: str, model_type: str = "auto"):
        self.scorer = StepScorer(model, model_type=model_type)
        self.threshold, self.dataset_type, self.name = threshold, dataset_type, model

    @classmethod
    def from_settings(cls, settings: EngineSettings) -> LikelihoodEngine:
        cal = read_calibration(settings.model)
        return cls(settings.model, float(cal["threshold"]), str(cal["dataset_type"]), settings.model_type)

    def critiques(self, pairs: Sequence[tuple[str, str]]) -> list[str]:
        """The critique of each ``(question, solution)``: all scored, then the flagged steps rewritten."""
        scores = self.scorer.score_many([(q, s, self.dataset_type) for q, s in pairs])
        verdicts = [judge(v, self.threshold) for v in scores]
        flagged = [i for i, v in enumerate(verdicts) if v.first_wrong is not None]
        rewrites = self.scorer.rewrite_many(
            [(pairs[i][0], pairs[i][1], verdicts[i].first_wrong or 0, self.dataset_type) for i in flagged]
        )
        proposals = dict(zip(flagged, rewrites))
        return [critique_text(s, v, proposals.get(i, "")) for i, ((_, s), v) in enumerate(zip(pairs, verdicts))]

    def generate(self, prompts: Sequence[Prompt], params: SamplingParams) -> list[list[Completion]]:
        pairs = [split_critique_message(p.messages[-1]["content"]) for p in prompts]
        return [[Completion(text, "stop")] * params.n for text in self.critiques(pairs)]


register_engine("likelihood", LikelihoodEngine)
