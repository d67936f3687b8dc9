"""scripts/arith_knowledge.py: which equations are probed, and how they are scored."""

from __future__ import annotations

import importlib.util
import json
import random
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("arith_knowledge", ROOT / "scripts" / "arith_knowledge.py")
assert _spec is not None and _spec.loader is not None
ak = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ak)


def _questions(tmp_path: Path) -> Path:
    rows = [
        {"id": "a", "steps": [{"expr": "4*7", "value": 28}, {"expr": "28-6", "value": 22}]},
        {"id": "b", "steps": [{"expr": "4*7", "value": 28}, {"expr": "(2+3)*4", "value": 20}]},
        {"id": "c", "question": "GSM8K-style, no steps"},
    ]
    path = tmp_path / "q.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + "\n")
    return path


def test_only_distinct_single_operation_steps_are_probed(tmp_path):
    assert sorted(ak.equations(_questions(tmp_path), 10)) == [("28 - 6", 22), ("4 * 7", 28)]
    assert len(ak.equations(_questions(tmp_path), 1)) == 1


def test_a_near_miss_is_one_to_three_away_and_never_negative():
    rng = random.Random(0)
    misses = [ak.near_miss(1, rng) for _ in range(200)]
    assert set(misses) <= {0, 2, 3, 4} and 1 not in misses
    assert {ak.near_miss(40, rng) - 40 for _ in range(200)} == {-3, -2, -1, 1, 2, 3}


def test_auc_counts_ties_half():
    assert ak.auc([2.0, 1.0], [True, False]) == 1.0
    assert ak.auc([1.0, 2.0], [True, False]) == 0.0
    assert ak.auc([1.0, 1.0], [True, False]) == 0.5


@pytest.mark.integration
def test_the_embedded_model_is_probed_per_operation(tmp_path, capsys):
    model = ROOT / "models" / "SmolLM2-135M-Instruct"
    if not (model / "config.json").is_file():
        pytest.skip("the embedded model is not set up (bash scripts/setup_env.sh)")
    assert ak.main(["--questions", str(_questions(tmp_path)), "--model", str(model)]) == 0
    out = capsys.readouterr().out
    assert "| * | 1 |" in out and "| - | 1 |" in out and "| all | 2 |" in out


def test_questions_without_steps_are_refused(tmp_path, capsys):
    path = tmp_path / "q.jsonl"
    path.write_text(json.dumps({"id": "x", "question": "q"}) + "\n")
    assert ak.main(["--questions", str(path), "--model", "no-such-model"]) == 2
    assert "no single-operation steps" in capsys.readouterr().err
