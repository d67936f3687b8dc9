"""The one-player row as a flow: settings and scripted engines in, the row's files and row.json out."""

from __future__ import annotations

import json

from selfimprove.core.records import Question
from selfimprove.generation.engines import ScriptedEngine
from selfimprove.generation.prompts import Prompt
from selfimprove.selftalk.evaluate import RowConfig, evaluate_row, programmatic_critique

QUESTIONS: list[Question] = [
    {"id": "t/0", "dataset": "toy", "dataset_type": "gsm8k", "question": "What is 2 + 3?", "gold": "5", "level": 1},
    {"id": "t/1", "dataset": "toy", "dataset_type": "gsm8k", "question": "What is 4 * 6?", "gold": "24", "level": 2},
    {"id": "t/2", "dataset": "toy", "dataset_type": "gsm8k", "question": "What is 9 - 4?", "gold": "5", "level": 1},
]
ANSWERS = {"2 + 3": "5", "4 * 6": "25", "9 - 4": "5"}  # t/1 answered wrong


def actor() -> ScriptedEngine:
    def respond(p: Prompt, k: int) -> str:
        key = next(x for x in ANSWERS if x in p.messages[0]["content"])
        answer = "24" if len(p.messages) > 1 else ANSWERS[key]  # a correction answers right
        return f"Compute.\nThe answer is {answer}."

    return ScriptedEngine(respond, name="actor")


def row_config(tmp_path, method: str) -> RowConfig:
    return RowConfig(
        method=method,
        questions="toy.jsonl",
        out_dir=tmp_path / method,
        actor_model="actor",
        critic_model="programmatic" if method == "sft_critic" else None,
        label="toy-actor",
        pool_size=2,
        temperature=0.7,
        max_tokens=64,
        critic_max_tokens=64,
        grader="default",
        voting="equivalence",
        seed=0,
        chunk_size=8,
    )


def test_the_selftalk_row_writes_its_answers_and_row(tmp_path):
    cfg = row_config(tmp_path, "selftalk")
    row, counts = evaluate_row(cfg, QUESTIONS, actor())
    assert counts == {"greedy_correct": 2, "pool_samples": 6}
    assert json.loads(cfg.row_file.read_text()) == row
    assert row["config"].items() >= cfg.record(3).items() and row["config"]["actor"] == "toy-actor"
    assert len((cfg.out_dir / "pool.jsonl").read_text().splitlines()) == 6


def test_the_sft_critic_row_loads_its_critic_once_and_only_then(tmp_path):
    cfg = row_config(tmp_path, "sft_critic")
    loaded = []

    def load_critic():
        loaded.append(1)
        return programmatic_critique(cfg.grader)

    row, counts = evaluate_row(cfg, QUESTIONS, actor(), load_critic)
    assert loaded == [1] and row["config"]["critic"] == "programmatic"
    assert counts["greedy_correct"] == 2 and json.loads(cfg.row_file.read_text()) == row
