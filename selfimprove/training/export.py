"""SFT data export: conversations from a run's records, in LLaMA-Factory's sharegpt/alpaca formats.

Training must see exactly the text sampling sends. ``sharegpt`` conversations are rendered by
LLaMA-Factory's chat template for the model (it matches the tokenizer's own chat template when the
driver passes the model's default system prompt). ``alpaca`` records hold the base layout already
rendered by :func:`selfimprove.generation.prompts.render_base`: the instruction is the very prompt
the sampler sends (``Human: {q}\\n\\nAssistant:``), the output is the reply followed directly by the
model's EOS (as the released code's template ends a target), and the trainer uses LLaMA-Factory's
``empty`` template, which adds nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from selfimprove.core.io import RecordError, read_json
from selfimprove.core.layout import RunLayout
from selfimprove.core.record_io import read_critiques, read_refinements, read_samples
from selfimprove.core.records import Question, Sample
from selfimprove.generation.prompts import (
    SOLUTION_PREFIX,
    critique_message,
    question_message,
    refine_message,
    render_base,
)

FLAGS = ("use_original", "use_gpt4_feedback", "use_previous", "use_critic", "use_selfimprove_feedback")

_CALC = re.compile(r"<<[^<>]*>>")
_GSM_FINAL = re.compile(r"\n?#### *(.+?)\s*$", re.S)


# --------------------------------------------------------------------------- examples


def conversation(*turns: str) -> list[dict]:
    """Alternating user/assistant turns, starting with the user."""
    return [{"role": "user" if i % 2 == 0 else "assistant", "content": t} for i, t in enumerate(turns)]


def reference_solution(q: Question, strip_calculator: bool = False) -> str:
    """A reference solution rewritten the way the actor is asked to answer. GSM8K's calculator
    annotations ``<<48/2=24>>`` are kept (as in the released data) unless ``strip_calculator``."""
    ref = q.get("reference") or ""
    if q["dataset_type"] == "gsm8k":
        body = _GSM_FINAL.sub("", _CALC.sub("", ref) if strip_calculator else ref).strip()
        return f"{SOLUTION_PREFIX}{body}\nThe answer is {q['gold']}."
    return f"{SOLUTION_PREFIX}{ref.strip()}\nThe answer is $\\boxed{{{q['gold']}}}$."


def reference_examples(questions: Sequence[Question], strip_calculator: bool = False) -> list[list[dict]]:
    return [
        conversation(question_message(q["question"], q["dataset_type"]), reference_solution(q, strip_calculator))
        for q in questions
        if q.get("reference")
    ]


def solution_example(rec: Sample, question: str, response: str) -> list[dict]:
    return conversation(question_message(question, rec["dataset_type"]), response)


def feedback_example(question: str, dataset_type: str, wrong: str, critique: str, refined: str) -> list[dict]:
    return conversation(
        question_message(question, dataset_type), wrong, refine_message(critique, dataset_type), refined
    )


_TURN_BREAK = re.compile(r"\n(?:<\|end_of_text\|>|</s>|<\|eot_id\|>|<\|endoftext\|>|<\|im_end\|>)?\nHuman: ")


def parse_alpaca_feedback(row: dict, where: str) -> list[dict]:
    """Split an alpaca critique->refinement example written in the base layout
    (``question\\n\\nAssistant:solution\\n<eos>\\nHuman: critique-request``) into turns."""
    for key in ("instruction", "output"):
        if not isinstance(row.get(key), str):
            raise RecordError(f"{where}: missing text field {key!r}")
    text = row["instruction"] + (("\n" + row["input"]) if row.get("input") else "")
    head, sep, rest = text.partition("\n\nAssistant:")
    if not sep:
        raise RecordError(f"{where}: no '\\n\\nAssistant:' turn in the instruction")
    parts = _TURN_BREAK.split(rest, maxsplit=1)
    if len(parts) != 2:
        raise RecordError(f"{where}: no second 'Human:' turn after the solution")
    solution, request = parts
    return conversation(head.strip(), solution.strip("\n"), request.rstrip("\n"), row["output"])


def load_feedback_files(paths: list[str]) -> tuple[list[list[dict]], list[str], dict[str, int]]:
    """Read several feedback files (e.g. the GSM8K and the MATH set): examples, skipped-row reports,
    and usable examples per file. A file without one usable example is an error."""
    examples: list[list[dict]] = []
    problems: list[str] = []
    per_file: dict[str, int] = {}
    for path in paths:
        ex, pr = load_feedback_file(path)
        if not ex:
            raise RecordError(f"{path}: no usable critique->refinement example ({len(pr)} rows skipped)")
        examples.extend(ex)
        problems.extend(pr)
        per_file[path] = len(ex)
    return examples, problems, per_file


def load_feedback_file(path: str) -> tuple[list[list[dict]], list[str]]:
    """Read an alpaca-format feedback file; bad rows are reported with their index and skipped."""
    data = read_json(path)
    if not isinstance(data, list):
        raise RecordError(f"{path}: expected a JSON list of alpaca records")
    examples, problems = [], []
    for i, row in enumerate(data):
        try:
            if not isinstance(row, dict):
                raise RecordError(f"{path}[{i}]: expected an object")
            examples.append(parse_alpaca_feedback(row, f"{path}[{i}]"))
        except RecordError as e:
            problems.append(str(e))
    return examples, problems


# --------------------------------------------------------------------------- export formats


def to_sharegpt(conv: list[dict]) -> dict:
    return {"conversations": [{"from": "human" if m["role"] == "user" else "gpt", "value": m["content"]} for m in conv]}


def to_alpaca(conv: list[dict], eos_token: str) -> dict:
    """Base-model layout, fully rendered: the instruction is what the sampler sends for the
    conversation so far (``render_base(history) + "Assistant:"``), the output the reply followed
    directly by the EOS, as the released code's template ends every target (the earlier turns of
    the instruction keep their ``\\n`` before the EOS, as sampling renders them). Train with the
    ``empty`` template."""
    return {
        "instruction": render_base(conv[:-1], eos_token) + "Assistant:",
        "input": "",
        "output": f"{conv[-1]['content']}{eos_token}",
    }


def export(convs: list[list[dict]], fmt: str, eos_token: str = "<|end_of_text|>") -> list[dict]:
    if fmt == "sharegpt":
        return [to_sharegpt(c) for c in convs]
    if fmt == "alpaca":
        return [to_alpaca(c, eos_token) for c in convs]
    raise ValueError(f"SFT format must be sharegpt or alpaca, not {fmt!r}")


# --------------------------------------------------------------------------- one iteration's data


def iteration_parts(lay: RunLayout, k: int, questions: Mapping[str, Question]) -> dict[str, list[list[dict]]]:
    """The examples iteration ``k`` contributes, by kind (read from its step files)."""
    samples = read_samples(lay.samples(k), ("id", "qid", "response", "correct"))
    by_id = {s["id"]: s for s in samples}
    parts: dict[str, list] = {"samples": [], "refinements": [], "selfimprove_feedback": [], "critic": []}
    for s in samples:
        if s["correct"]:
            parts["samples"].append(solution_example(s, _question(questions, s), s["response"]))
    ref_path, crit_path = lay.refinements(k), lay.critiques(k)
    if ref_path.exists() and crit_path.exists():
        critiques = {c["id"]: c for c in read_critiques(crit_path, ("id", "critique"))}
        for r in read_refinements(ref_path, ("id", "critique_id", "sample_id", "kept", "response")):
            if not r["kept"]:
                continue
            s, c = by_id[r["sample_id"]], critiques[r["critique_id"]]
            q = _question(questions, s)
            parts["refinements"].append(solution_example(s, q, r["response"]))
            parts["selfimprove_feedback"].append(
                feedback_example(q, s["dataset_type"], s["response"], c["critique"], r["response"])
            )
            parts["critic"].append(conversation(critique_message(q, s["response"]), c["critique"]))
    return parts


def _question(questions: Mapping[str, Question], rec: Sample) -> str:
    if "question" in rec:
        return rec["question"]
    try:
        return questions[rec["qid"]]["question"]
    except KeyError:
        raise RecordError(f"record {rec['id']}: unknown question {rec['qid']}") from None


def used_iterations(k: int, flags: dict[str, bool]) -> list[int]:
    """The iterations whose samples go into iteration ``k``'s SFT set."""
    return [] if k == 0 else list(range(1, k + 1)) if flags["use_previous"] else [k]


def input_files(run_dir: Path, k: int, flags: dict[str, bool]) -> list[Path]:
    """The step files iteration ``k``'s SFT set is made from (those that exist)."""
    lay = RunLayout(run_dir)
    paths = [p for i in used_iterations(k, flags) for p in (lay.samples(i), lay.critiques(i), lay.refinements(i))]
    return [p for p in paths if p.exists()]


def uses_feedback(k: int, flags: dict[str, bool]) -> bool:
    """Whether iteration ``k`` adds the external feedback examples (they ride with the original data)."""
    return flags["use_gpt4_feedback"] and (flags["use_original"] or k == 0)


def assemble(
    run_dir: Path,
    k: int,
    questions: Sequence[Question],
    flags: dict[str, bool],
    feedback: list[list[dict]] | None = None,
    strip_calculator: bool = False,
) -> tuple[list[list[dict]], list[list[dict]], dict]:
    """The SFT conversations and critic conversations of iteration ``k``, with per-source counts."""
    sft: list[list[dict]] = []
    counts: dict[str, int] = {}

    def add(kind: str, convs: list[list[dict]]) -> None:
        sft.extend(convs)
        counts[kind] = counts.get(kind, 0) + len(convs)

    if flags["use_original"] or k == 0:
        add("original", reference_examples(questions, strip_calculator))
        if flags["use_gpt4_feedback"] and feedback:
            add("gpt4_feedback", feedback)
    critic: list[list[dict]] = []
    if k > 0:
        qmap = {q["id"]: q for q in questions}
        lay = RunLayout(run_dir)
        for i in used_iterations(k, flags):
            parts = iteration_parts(lay, i, qmap)
            add("samples", parts["samples"])
            if flags["use_critic"]:
                add("refinements", parts["refinements"])
                if flags["use_selfimprove_feedback"]:
                    add("selfimprove_feedback", parts["selfimprove_feedback"])
        critic = iteration_parts(lay, k, qmap)["critic"]
    counts["total"] = len(sft)
    counts["critic_pairs"] = len(critic)
    return sft, critic, counts


def model_eos_token(model: str) -> str | None:
    """The EOS token of a local model folder's tokenizer (None for a hub id or when it names none)."""
    path = Path(model) / "tokenizer_config.json"
    if not path.is_file():
        return None
    try:
        eos = json.loads(path.read_text(encoding="utf-8")).get("eos_token")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
        return None
    if isinstance(eos, dict):
        eos = eos.get("content")
    return eos if isinstance(eos, str) and eos else None


def _flag(v: str) -> bool:
    if v in ("0", "1"):
        return v == "1"
    raise ValueError(f"flag values are 0 or 1, not {v!r}")
