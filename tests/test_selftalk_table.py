"""The one-player comparison: rows of final answers reduced to greedy / Pass@K / MV@K, numbers by hand."""

from __future__ import annotations

import json

import pytest

from selfimprove.core.records import Question, Sample
from selfimprove.selftalk.table import comparison, markdown, not_trained_row, row_results
from selfimprove.stages import selftalk_report

QUESTIONS: list[Question] = [
    {"id": "m/0", "dataset": "toy", "dataset_type": "gsm8k", "question": "2 + 2?", "gold": "4", "level": None},
    {"id": "m/1", "dataset": "toy", "dataset_type": "gsm8k", "question": "3 + 3?", "gold": "6", "level": None},
]


GOLDS = {"m/0": "4", "m/1": "6"}


def answers(preds: dict[str, list[str]]) -> list[Sample]:
    return [
        {
            "id": f"{q}/s{j}",
            "qid": q,
            "index": j,
            "response": f"The answer is {p}.",
            "pred": p,
            "correct": p == GOLDS[q],
        }
        for q, ps in preds.items()
        for j, p in enumerate(ps)
    ]


def test_rows_and_table_numbers():
    # self-talk: greedy right on m/0 only; pool m/0: 4, 5 (one right), m/1: 6, 6 (both right)
    talk = row_results(
        "selftalk",
        QUESTIONS,
        answers({"m/0": ["4"], "m/1": ["7"]}),
        answers({"m/0": ["4", "5"], "m/1": ["6", "6"]}),
        {},
    )
    # SFT + critic: first answers all wrong, final answers fixed on m/1 only
    first_g, first_p = answers({"m/0": ["1"], "m/1": ["1"]}), answers({"m/0": ["1", "1"], "m/1": ["1", "2"]})
    critic = row_results(
        "sft_critic",
        QUESTIONS,
        answers({"m/0": ["1"], "m/1": ["6"]}),
        answers({"m/0": ["1", "3"], "m/1": ["6", "2"]}),
        {"critic": "programmatic"},
        first_g,
        first_p,
    )
    assert critic["config"] == {"method": "sft_critic", "critic": "programmatic"}
    table = comparison([talk, critic])
    rows = table["datasets"]["toy"]["rows"]
    f = rows["selftalk"]["final"]
    assert f["greedy"] == {"value": 0.5, "n": 2}
    assert [(p["k"], p["value"]) for p in f["pass_at_k"]] == [(1, 0.75), (2, 1.0)]
    # MV@2: m/0 votes 4 vs 5 (tie -> first, 4, right); m/1 votes 6 -> right
    assert [(p["k"], p["value"]) for p in f["mv_at_k"]] == [(1, 0.75), (2, 1.0)]
    assert rows["selftalk"]["first"] is None
    assert rows["sft_critic"]["first"]["greedy"] == {"value": 0.0, "n": 2}
    assert rows["sft_critic"]["final"]["greedy"] == {"value": 0.5, "n": 2}
    assert [(p["k"], p["value"]) for p in rows["sft_critic"]["final"]["pass_at_k"]] == [(1, 0.25), (2, 0.5)]
    md = markdown(table)
    assert "| Self-talk (one player) | 50.0 | – | 75.0 | 100.0 | 75.0 | 100.0 |" in md
    assert "| SFT + test-time critique (two players) | 50.0 | 0.0 | 25.0 | 50.0 | 25.0 | 50.0 |" in md
    assert md.count("upper bound") == 1  # the reference-guided critic is flagged


def test_rows_on_different_test_sets_are_refused():
    a = row_results(
        "selftalk", QUESTIONS, answers({"m/0": ["4"], "m/1": ["6"]}), answers({"m/0": ["4"], "m/1": ["6"]}), {}
    )
    b = row_results("selfcorrect", QUESTIONS[:1], answers({"m/0": ["4"]}), answers({"m/0": ["4"]}), {})
    with pytest.raises(ValueError, match="different test sets"):
        comparison([a, b])
    with pytest.raises(ValueError, match="twice"):
        comparison([a, a])


def test_report_stage_writes_results_and_table(tmp_path, capsys):
    row = row_results(
        "selftalk", QUESTIONS, answers({"m/0": ["4"], "m/1": ["6"]}), answers({"m/0": ["4"], "m/1": ["6"]}), {}
    )
    (tmp_path / "row.json").write_text(json.dumps(row))
    assert selftalk_report.main(["--rows", str(tmp_path / "row.json"), "--out", str(tmp_path / "out")]) == 0
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["methods"] == ["selftalk"] and results["datasets"]["toy"]["n_questions"] == 2
    assert "| Self-talk (one player) | 100.0 |" in (tmp_path / "out" / "report.md").read_text()
    (tmp_path / "bad.json").write_text("{}")
    from selfimprove.core.io import RecordError

    with pytest.raises(RecordError, match="not a row"):
        selftalk_report.main(["--rows", str(tmp_path / "bad.json"), "--out", str(tmp_path / "out")])


def test_a_row_without_a_trained_model_keeps_its_place_and_its_reason():
    talk = row_results(
        "selftalk", QUESTIONS, answers({"m/0": ["4"], "m/1": ["7"]}), answers({"m/0": ["4"], "m/1": ["6"]}), {}
    )
    absent = not_trained_row("selfcorrect", {"actor": "sc"}, "selfcorrect_sft.json holds no training example")
    table = comparison([talk, absent])
    assert table["methods"] == ["selftalk", "selfcorrect"]
    assert table["N"] == {"selftalk": 1, "selfcorrect": None}
    assert table["not_trained"] == {"selfcorrect": "selfcorrect_sft.json holds no training example"}
    assert table["datasets"]["toy"]["n_questions"] == 2
    assert table["datasets"]["toy"]["rows"]["selfcorrect"] == {"final": None, "first": None}
    md = markdown(table)
    assert "| Self-talk (one player) | 50.0 | – | 100.0 | 100.0 |" in md
    assert "| Self-correction FT (trajectory level, one player) | not trained | – | – | – |" in md
    assert "(not trained: selfcorrect_sft.json holds no training example)" in md
    with pytest.raises(ValueError, match="no row has results: selfcorrect: selfcorrect_sft.json"):
        comparison([absent])
    with pytest.raises(ValueError, match="method must be one of"):
        not_trained_row("other", {}, "x")
