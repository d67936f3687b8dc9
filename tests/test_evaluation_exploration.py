"""Exploration analysis of a small hand-made run, every number worked out by hand.

Four training questions, N = 2 samples per iteration (T = correct, F = wrong):

    iteration 1   a: 5T 5T (two paths)   b: 7F 8T           c: 1F 2F            d: 0F 3F
                  kept refinements: b/s0 -> 8.0 (new path), c/s0 -> 9; c/s1 correct but not kept
    iteration 2   a: 5T 5T               b: 8T 8T           c: 6F 9T            d: 0F 0F
                  kept refinements: c/s0 -> 9, d/s0 -> 3

Pooled sampled accuracy over both iterations: a 4/4 -> level 1, b 3/4 -> level 2,
c 1/4 -> level 4, d 0/4 -> level 5.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_evaluation_sequential import by_string
from test_evaluation_sequential import records as sequential_records

from selfimprove.evaluation import exploration as X
from selfimprove.evaluation.metrics import compute_results
from selfimprove.stages import exploration as exploration_stage
from selfimprove.stages import report as report_stage

GOLD = {"a": "5", "b": "8", "c": "9", "d": "3"}
SAMPLES = {
    1: {
        "a": [("5", "2 + 3 = 5. The answer is 5."), ("5", "3 + 2 = 5. The answer is 5.")],
        "b": [("7", "4 + 3 = 7. The answer is 7."), ("8", "4 * 2 = 8. The answer is 8.")],
        "c": [("1", "The answer is 1."), ("2", "The answer is 2.")],
        "d": [("0", "The answer is 0."), ("4", "I guess 4. The answer is 4.")],
    },
    2: {
        "a": [("5", "2 + 3 = 5. The answer is 5."), ("5", "2 + 3 = 5. The answer is 5.")],
        "b": [("8", "4 * 2 = 8. The answer is 8."), ("8", "4 * 2 = 8. The answer is 8.")],
        "c": [("6", "The answer is 6."), ("9", "4 + 5 = 9. The answer is 9.")],
        "d": [("0", "The answer is 0."), ("0", "The answer is 0.")],
    },
}
# (sample, pred, response, kept)
REFINEMENTS = {
    1: [
        ("b/s0", "8.0", "2 * 4 = 8. The answer is 8.0.", True),
        ("c/s0", "9", "4 + 5 = 9. The answer is 9.", True),
        ("c/s1", "9", "5 + 4 = 9. The answer is 9.", False),
        ("d/s0", "1", "The answer is 1.", False),
    ],
    2: [("c/s0", "9", "4 + 5 = 9. The answer is 9.", True), ("d/s0", "3", "1 + 2 = 3. The answer is 3.", True)],
}


def jsonl(path: Path, records) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def make_run(root: Path, levels=None, critic=True) -> Path:
    run = root / "run"
    questions = [
        {"id": q, "dataset": "toy", "dataset_type": "gsm8k", "question": "?", "gold": g, "level": (levels or {}).get(q)}
        for q, g in GOLD.items()
    ]
    jsonl(run / "data" / "train.jsonl", questions)
    for k, per_q in SAMPLES.items():
        recs = []
        for q, sols in per_q.items():
            for j, (pred, text) in enumerate(sols):
                recs.append(
                    {
                        "id": f"{q}/s{j}",
                        "qid": q,
                        "index": j,
                        "dataset_type": "gsm8k",
                        "response": text,
                        "pred": pred,
                        "correct": pred == GOLD[q],
                    }
                )
        jsonl(run / f"iter_{k}" / "01_samples.jsonl", recs)
        if critic:
            refs = [
                {
                    "id": f"{sid}/c0/r0",
                    "sample_id": sid,
                    "qid": sid.split("/")[0],
                    "response": text,
                    "pred": pred,
                    "correct": pred.rstrip(".0") == GOLD[sid.split("/")[0]],
                    "kept": kept,
                }
                for sid, pred, text, kept in REFINEMENTS[k]
            ]
            jsonl(run / f"iter_{k}" / "03_refinements.jsonl", refs)
    (run / "iter_0").mkdir()  # the reference-solution iteration has no samples
    return run


@pytest.fixture()
def run(tmp_path):
    return make_run(tmp_path)


def share(num):
    return (num["count"], num["n"])


def test_solution_path_and_answer_form():
    assert X.solution_path("It costs $1,200.50, then 1200.5 again, 007 and 3.0 - 3.") == ("1200.5", "7", "3")
    assert X.solution_path("2 * 4 = 8") != X.solution_path("4 * 2 = 8")
    assert X.solution_path("") == ()
    assert X.answer_form(" 8 .0 ") == "8.0" and X.answer_form(None) is None


def test_levels_are_pooled_over_iterations(run):
    a = X.analyse_run(run, vote_fn=by_string)
    assert a["iterations"] == [1, 2]
    assert a["level_source"] == {"pool_accuracy": 4}
    assert a["level_counts"] == {"1": 1, "2": 1, "4": 1, "5": 1}
    lv = X.question_levels({}, X.load_iterations(run))
    assert lv == {
        "a": (1, "pool_accuracy"),
        "b": (2, "pool_accuracy"),
        "c": (4, "pool_accuracy"),
        "d": (5, "pool_accuracy"),
    }
    given = X.analyse_run(make_run(run.parent / "given", levels={"a": 3, "d": 3}), vote_fn=by_string)
    assert given["level_source"] == {"dataset": 2, "pool_accuracy": 2}
    assert given["level_counts"] == {"2": 1, "3": 2, "4": 1}


def test_kept_data_per_level(run):
    it1, it2 = (X.analyse_run(run, vote_fn=by_string)["per_iteration"][k] for k in ("1", "2"))
    v1, c1 = it1["kept_data"]["vanilla"], it1["kept_data"]["critique"]
    # vanilla: correct samples a 2, b 1 -> 3; critique adds b/s0 and c/s0 -> 5
    assert v1["total"] == 3 and c1["total"] == 5
    assert {lv: share(x) for lv, x in v1["by_level"].items()} == {"1": (2, 3), "2": (1, 3), "4": (0, 3), "5": (0, 3)}
    assert {lv: share(x) for lv, x in c1["by_level"].items()} == {"1": (2, 5), "2": (2, 5), "4": (1, 5), "5": (0, 5)}
    assert c1["by_level"]["4"]["value"] == 0.2
    c2 = it2["kept_data"]["critique"]
    assert {lv: share(x) for lv, x in c2["by_level"].items()} == {"1": (2, 7), "2": (2, 7), "4": (2, 7), "5": (1, 7)}
    assert it1["kept_refinements"] == 2 and it2["kept_refinements"] == 2


def test_exploration_efficiency(run):
    it1, it2 = (X.analyse_run(run, vote_fn=by_string)["per_iteration"][k] for k in ("1", "2"))
    e1 = it1["exploration"]
    assert share(e1["overall"]["without_critique"]) == (2, 4) and share(e1["overall"]["with_critique"]) == (3, 4)
    assert {lv: (share(x["without_critique"]), share(x["with_critique"])) for lv, x in e1["by_level"].items()} == {
        "1": ((1, 1), (1, 1)),
        "2": ((1, 1), (1, 1)),
        "4": ((0, 1), (1, 1)),  # c is solved only through its kept refinement
        "5": ((0, 1), (0, 1)),  # d's refinement was wrong and not kept
    }
    e2 = it2["exploration"]["overall"]
    assert share(e2["without_critique"]) == (3, 4) and share(e2["with_critique"]) == (4, 4)


def test_solution_diversity(run):
    d = X.analyse_run(run, vote_fn=by_string)["per_iteration"]["1"]["diversity"]["overall"]
    # without critique: a {5}, 2 paths; b {8}, 1 path
    assert d["without_critique"]["distinct_correct_answers"] == {"mean": 1.0, "n": 2}
    assert d["without_critique"]["distinct_correct_paths"] == {"mean": 1.5, "n": 2}
    # with critique: a 1 answer 2 paths; b {8, 8.0} 2 paths; c {9} 1 path (c/s1 was not kept)
    assert d["with_critique"]["distinct_correct_answers"]["n"] == 3
    assert d["with_critique"]["distinct_correct_answers"]["mean"] == pytest.approx(4 / 3)
    assert d["with_critique"]["distinct_correct_paths"]["mean"] == pytest.approx(5 / 3)


def test_correct_frequency_with_majority_vote(run):
    rows = X.analyse_run(run, vote_fn=by_string)["per_iteration"]["1"]["correct_frequency"]
    assert [(r["qid"], r["level"], r["correct"], r["n"], r["frequency"], r["mv_correct"]) for r in rows] == [
        ("a", 1, 2, 2, 1.0, True),
        ("b", 2, 1, 2, 0.5, False),  # 7 and 8 tie: the first answer, 7, wins
        ("c", 4, 0, 2, 0.0, False),
        ("d", 5, 0, 2, 0.0, False),
    ]


def test_run_without_critic_has_no_with_critique_numbers(tmp_path):
    it = X.analyse_run(make_run(tmp_path, critic=False), vote_fn=by_string)["per_iteration"]["1"]
    assert it["critique"] is False and it["kept_data"]["critique"] is None
    assert it["exploration"]["overall"]["with_critique"] is None
    assert it["diversity"]["overall"]["with_critique"] is None


def test_cli_writes_json_and_plots(run, tmp_path, capsys):
    out = tmp_path / "expl"
    assert exploration_stage.main([str(run), "--out", str(out)]) == 0
    data = json.loads((out / "exploration.json").read_text())
    assert data["per_iteration"]["2"]["n_questions"] == 4
    for name in ("kept_by_level", "efficiency", "diversity", "correct_frequency"):
        assert (out / f"exploration_{name}.png").read_bytes()[:4] == b"\x89PNG"
    assert exploration_stage.main([str(tmp_path / "nowhere"), "--out", str(out)]) == 2
    assert "no training records" in capsys.readouterr().err


def test_report_of_a_run_includes_the_exploration(run, capsys):
    questions, pool, chains = sequential_records()
    res = compute_results(questions, None, pool, None, None, chains, {}, vote_fn=by_string)
    path = run / "eval" / "iter_1" / "results.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(res))
    # the report folder sits in the run: the exploration section is found without being asked for
    assert report_stage.main(["--results", str(path), "--out", str(run / "eval")]) == 0
    md = (run / "eval" / "report.md").read_text()
    assert "## Exploration during self-improvement (training records)" in md
    assert "| 1 | 4 | 0.0 (0/3) | 20.0 (1/5) |" in md
    assert "(exploration_kept_by_level.png)" in md and (run / "eval" / "exploration.json").is_file()
    # a report folder elsewhere has no exploration section
    assert report_stage.main(["--results", str(path), "--out", str(run.parent / "elsewhere")]) == 0
    assert "Exploration" not in (run.parent / "elsewhere" / "report.md").read_text()
