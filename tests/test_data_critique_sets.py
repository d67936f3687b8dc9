"""ProcessBench and MathCritique loaders on small hand-written fixtures (the hub is replaced)."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

from selfimprove.data.critique_sets import (
    MATHCRITIQUE_HUB,
    PROCESSBENCH_HUB,
    load_critiques,
    load_processbench,
    split_alpaca_feedback,
)
from selfimprove.data.records import BadRow, DatasetError
from selfimprove.data.sources import hub

FIXTURES = Path(__file__).parent / "fixtures"
PB_DIR = FIXTURES / "data_processbench"
CRITIQUES = FIXTURES / "data_critiques.jsonl"


def where(problem: str) -> str:
    return problem.split(": ", 1)[0]


# ---------------------------------------------------------------------------- ProcessBench


def test_processbench_folder_layout_and_bad_rows():
    recs, problems = load_processbench("gsm8k", PB_DIR)
    assert [r["id"] for r in recs] == [
        "processbench/gsm8k/gsm8k-0",
        "processbench/gsm8k/gsm8k-1",
        "processbench/gsm8k/gsm8k-7",
    ]
    first, wrong = recs[0], recs[1]
    assert first == {
        "id": "processbench/gsm8k/gsm8k-0",
        "source_id": "gsm8k-0",
        "dataset": "processbench",
        "split": "gsm8k",
        "generator": "TinyModel-1B",
        "problem": "Mia has 4 apples and buys 3 more. How many apples?",
        "steps": ["Mia starts with 4 apples.", "4 + 3 = 7, so she has 7 apples.", "The answer is $\\boxed{7}$."],
        "final_answer_correct": True,
        "label": -1,
    }
    assert wrong["label"] == 1 and wrong["steps"][wrong["label"]] == "6 + 5 = 11 eggs."
    assert wrong["final_answer_correct"] is False
    reasons = [p.split(": ", 1)[1] for p in problems]
    assert len(problems) == 5
    assert "label" in reasons[0] and "below 1" in reasons[0]  # label 3 with one step
    assert "'steps' must be a non-empty list of strings" in reasons[1]
    assert reasons[2].startswith("duplicate id 'processbench/gsm8k/gsm8k-1'")
    assert "label" in reasons[3]  # a bool is not an index
    assert "final_answer_correct" in reasons[4]
    lines = (PB_DIR / "gsm8k.json").read_text().splitlines()
    for p in problems:  # each report points at the line where its element starts
        assert lines[int(where(p).rsplit(":", 1)[1]) - 1].strip() == "{"


def test_processbench_file_and_split_checks(tmp_path):
    rows = json.loads((PB_DIR / "gsm8k.json").read_text())
    path = tmp_path / "pb.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    recs, problems = load_processbench("math", path)
    assert [r["id"] for r in recs][0] == "processbench/math/gsm8k-0" and len(problems) == 5
    with pytest.raises(DatasetError, match="olympiadbench"):
        load_processbench("train", path)
    with pytest.raises(DatasetError, match="not found"):
        load_processbench("omnimath", tmp_path)  # a folder without omnimath.json


def test_processbench_hub_path(monkeypatch):
    calls = []
    rows = json.loads((PB_DIR / "gsm8k.json").read_text())

    def fake(repo, config, split):
        calls.append((repo, config, split))
        return rows

    monkeypatch.setattr(hub, "hub_rows", fake)
    recs, problems = load_processbench("gsm8k")
    assert calls == [(PROCESSBENCH_HUB, None, "gsm8k")]
    assert len(recs) == 3 and problems[0].startswith("Qwen/ProcessBench/gsm8k:row 2: ")

    def offline(repo, config, split):
        raise ConnectionError("no route to host")

    monkeypatch.setattr(hub, "hub_rows", offline)
    with pytest.raises(DatasetError, match="source=PATH"):
        load_processbench("math")


# ---------------------------------------------------------------------------- MathCritique


def test_critiques_columns_alpaca_and_bad_rows():
    recs, problems = load_critiques(CRITIQUES)
    assert [r["id"] for r in recs] == [
        "mathcritique/train/0",
        "mathcritique/train/half-quarter",
        "mathcritique/train/2",
    ]
    named, alt, alpaca = recs
    assert named["format"] == "columns" and named["correct"] is True
    assert named["refinement"] == "3 * 4 = 12. The answer is 12."
    assert alt["question"].startswith("What is $\\frac{1}{2}") and alt["solution"].endswith("\\frac{2}{6}$")
    assert alt["critique"].startswith("Step 1 is wrong") and alt["refinement"] is None and alt["correct"] is False
    assert alpaca == {
        "id": "mathcritique/train/2",
        "dataset": "mathcritique",
        "split": "train",
        "question": "Ravi has 5 kites and gives away 2. How many kites are left?",
        "solution": "Let's think.\n5 + 2 = 7 kites.\nThe answer is 7.",
        "critique": "Step sentence: 5 + 2 = 7 kites.\nCorrectness of the step: Wrong\n"
        "Explanation: Giving away means subtracting.\n\nCorrectness of the final answer: Wrong",
        "refinement": "Ravi gives away 2 of 5 kites: 5 - 2 = 3.\nThe answer is 3.",
        "correct": None,
        "format": "alpaca",
    }
    assert [where(p) for p in problems] == [f"{CRITIQUES}:{n}" for n in (4, 5, 6)]
    assert "no critique field" in problems[0]
    assert "Assistant:" in problems[1]
    assert "'maybe' is not true/false" in problems[2]


def test_split_alpaca_feedback_rejects_incomplete_layouts():
    with pytest.raises(BadRow, match="Human:"):
        split_alpaca_feedback("q\n\nAssistant:s", "out")
    with pytest.raises(BadRow, match="critique"):
        split_alpaca_feedback("q\n\nAssistant:s\nHuman: please fix", "out")


def test_critiques_hub_path(monkeypatch):
    seen = []
    rows = [json.loads(line) for line in CRITIQUES.read_text().splitlines()]

    def fake(repo, config, split):
        seen.append((repo, split))
        return rows

    monkeypatch.setattr(hub, "hub_rows", fake)
    recs, problems = load_critiques(split="train")
    assert seen == [(MATHCRITIQUE_HUB, "train")] and len(recs) == 3 and len(problems) == 3


def test_released_samples_split_into_critique_records(require_data):
    base = require_data("mathcritique-samples/gsm8k-critique-refine-100.json")
    recs, problems = load_critiques(base / "mathcritique-samples" / "gsm8k-critique-refine-100.json")
    assert len(recs) == 100 and problems == []
    assert all(r["critique"].startswith("Step sentence:") for r in recs)
    assert all("Please also give" not in r["question"] for r in recs)


# ---------------------------------------------------------------------------- the real hub (opt-in)


def _hub_reachable() -> bool:
    try:
        socket.create_connection(("huggingface.co", 443), timeout=3).close()
        return True
    except OSError:
        return False


@pytest.mark.skipif(os.environ.get("SELFIMPROVE_HUB_TESTS") != "1", reason="set SELFIMPROVE_HUB_TESTS=1 to try the hub")
def test_processbench_from_the_hub():
    if not _hub_reachable():
        pytest.skip("huggingface.co is not reachable")
    recs, problems = load_processbench("gsm8k")
    assert len(recs) == 400 and problems == []
