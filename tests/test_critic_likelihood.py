"""The likelihood critic: which tokens a step is scored on, the threshold fit, the critique it
writes, and (on the embedded model) that a wrong step scores above its right version."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from selfimprove.core.errors import UsageError
from selfimprove.critic.likelihood import (
    critique_text,
    fit_threshold,
    judge,
    response_score,
    scored_spans,
    separation,
    step_scores,
    step_texts,
)
from selfimprove.generation.critique_format import parse_critique
from selfimprove.generation.prompts import SOLUTION_PREFIX, Prompt

MODEL = Path(__file__).resolve().parents[1] / "models" / "SmolLM2-135M-Instruct"
RESPONSE = SOLUTION_PREFIX + "Kim has 28 - 6 = 22 apples.\n\n  She buys 4 more.\nThe answer is 26."


def test_steps_are_the_non_empty_lines_as_the_critique_repeats_them():
    assert step_texts(RESPONSE) == ["Kim has 28 - 6 = 22 apples.", "She buys 4 more.", "The answer is 26."]
    annotated = SOLUTION_PREFIX + "\nHana picks 3 * 7 = <<3*7=21>>21  apples.\nThe answer is 21."
    assert step_texts(annotated) == ["Hana picks 3 * 7 = 21 apples.", "The answer is 21."]
    assert step_texts("") == []


def test_a_step_is_scored_on_its_equation_or_else_its_numbers():
    line = "Kim has 28 - 6 = 22 apples."
    assert [line[a:b] for a, b in scored_spans(line)] == ["28 - 6 = 22"]
    plain = "She buys 4 more and 10 pears."
    assert [plain[a:b] for a, b in scored_spans(plain)] == ["4", "10"]
    assert scored_spans("So she is happy.") == []


def test_step_scores_sum_the_tokens_that_overlap_the_scored_spans():
    steps = step_texts(RESPONSE)
    head = "PROMPT:"
    text = head + "\n".join(steps)
    # one "token" per character, each costing its position's parity + 1
    spans = [(i, i + 1) for i in range(len(text))]
    nll = [float(i % 2 + 1) for i in range(len(text))]
    scores = step_scores(spans, nll, steps, len(head))
    eq = text.index("28 - 6 = 22")
    four, six = text.index("4 more"), text.index("26.")
    assert scores == [sum(nll[eq : eq + len("28 - 6 = 22")]), nll[four], nll[six] + nll[six + 1]]


def test_fit_threshold_separates_and_maximises_balanced_accuracy():
    assert 2.0 < fit_threshold([1.0, 2.0, 5.0, 6.0], [False, False, True, True]) < 5.0
    # no perfect cut: 3 of 4 right below, 2 of 2 wrong above beats the others
    t = fit_threshold([1.0, 2.0, 3.0, 7.0, 8.0, 9.0], [False, False, False, False, True, True])
    assert 7.0 < t < 8.0
    with pytest.raises(ValueError, match="both"):
        fit_threshold([1.0, 2.0], [True, True])
    assert response_score([]) == -math.inf


def test_separation_counts_hits_false_alarms_and_the_balanced_accuracy():
    sep = separation([9.0, 2.0, 7.0, 1.0, 6.0], [True, True, False, False, False], threshold=5.0)
    assert (sep.n, sep.wrong, sep.hits, sep.false_alarms) == (5, 2, 1, 2)
    assert sep.accuracy == pytest.approx(2 / 5)  # 1 wrong and 1 right response judged rightly
    assert sep.balanced_accuracy == pytest.approx((1 / 2 + 1 / 3) / 2)
    assert sep.auc == pytest.approx(4 / 6)  # of the 6 wrong/right pairs: 9 beats all three right ones, 2 beats one


def test_the_critique_follows_the_paper_format_and_stops_at_the_first_wrong_step():
    wrong = critique_text(RESPONSE, judge([9.0, 1.0, 8.0], threshold=5.0), "Kim has 28 - 6 =  22 apples.")
    parsed = parse_critique(wrong)
    assert parsed.verdict == "wrong" and parsed.follows_format
    assert list(parsed.steps) == ["wrong"]
    assert "Step sentence: Kim has 28 - 6 = 22 apples." in wrong
    assert "Recompute this step." in wrong  # the proposal is the step itself: nothing to offer
    offered = critique_text(RESPONSE, judge([9.0, 1.0, 8.0], threshold=5.0), "Kim has 28 - 6 = 21 apples.")
    assert "The step should be: Kim has 28 - 6 = 21 apples." in offered
    right = parse_critique(critique_text(RESPONSE, judge([1.0, 1.0, 2.0], threshold=5.0)))
    assert right.verdict == "correct" and list(right.steps) == ["correct"] * 3
    second = parse_critique(critique_text(RESPONSE, judge([1.0, 6.0, 9.0], threshold=5.0)))
    assert list(second.steps) == ["correct", "wrong"]


@pytest.mark.integration
def test_the_embedded_model_finds_a_wrong_result_less_likely():
    from selfimprove.critic.likelihood import StepScorer

    if not (MODEL / "config.json").is_file():
        pytest.skip("the embedded model is not set up (bash scripts/setup_env.sh)")
    scorer = StepScorer(str(MODEL), threads=1)
    q = "Zoe bakes 4 trays with 5 cookies in each tray. How many cookies does Zoe have?"
    right = scorer(q, SOLUTION_PREFIX + "Zoe bakes 4 * 5 = 20 cookies.\nThe answer is 20.", "gsm8k")
    wrong = scorer(q, SOLUTION_PREFIX + "Zoe bakes 4 * 5 = 27 cookies.\nThe answer is 27.", "gsm8k")
    assert len(right) == len(wrong) == 2
    assert wrong[0] > right[0] > 0
    proposal = scorer.rewrite(q, SOLUTION_PREFIX + "Zoe bakes 4 * 5 = 27 cookies.\nThe answer is 27.", 0, "gsm8k")
    assert proposal and "\n" not in proposal  # one line, the model's own first step


@pytest.mark.integration
def test_batches_score_and_rewrite_as_one_at_a_time():
    from selfimprove.critic.likelihood import StepScorer

    if not (MODEL / "config.json").is_file():
        pytest.skip("the embedded model is not set up (bash scripts/setup_env.sh)")
    scorer = StepScorer(str(MODEL), threads=1, batch_size=3)
    items = [  # different lengths, so that batches carry padding
        (
            f"Zoe bakes {a} trays with {b} cookies in each tray. She eats {c}. How many cookies are left?",
            SOLUTION_PREFIX
            + (f"Zoe bakes {a} * {b} = {a * b + d} cookies.\n" * (1 + i % 3))
            + f"She has {a * b + d} - {c} = {a * b + d - c} left.\nThe answer is {a * b + d - c}.",
            "gsm8k",
        )
        for i, (a, b, c, d) in enumerate([(4, 5, 3, 0), (6, 7, 2, 7), (3, 9, 4, 0), (8, 2, 5, 3), (5, 5, 1, 0)])
    ]
    batched = scorer.score_many(items)
    for item, scores in zip(items, batched):
        assert scores == pytest.approx(scorer.score_many([item])[0], rel=1e-3, abs=1e-3)
    jobs = [(q, r, 1 + i % 2, t) for i, (q, r, t) in enumerate(items)] + [(items[0][0], items[0][1], 9, "gsm8k")]
    rewrites = scorer.rewrite_many(jobs)
    assert rewrites[-1] == ""  # a step the response does not have
    assert rewrites[:-1] == [scorer.rewrite(*job) for job in jobs[:-1]]
    assert all(r and "\n" not in r for r in rewrites[:-1])


# ---------------------------------------------------------------------- the stages
def _paths(n: int) -> list[dict]:
    """n questions, each with a right reference and a wrong RG3 path (the RG3 result is off by 5)."""
    out = []
    for i in range(n):
        q = f"Kim has {20 + i} apples and eats 6. How many are left?"
        for strategy, value in (("reference", 14 + i), ("rg3", 19 + i)):
            out.append(
                {
                    "id": f"q{i}/{strategy}",
                    "qid": f"q{i}",
                    "strategy": strategy,
                    "question": q,
                    "response": f"{SOLUTION_PREFIX}Kim has {20 + i} - 6 = {value} apples.\nThe answer is {value}.",
                    "dataset_type": "gsm8k",
                    "correct": strategy == "reference",
                    "selected": True,
                }
            )
    return out


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_critic_solutions_splits_disjoint_questions_and_writes_right_solutions(tmp_path):
    from selfimprove.stages import critic_solutions

    paths = _write_jsonl(tmp_path / "paths.jsonl", _paths(10))
    out = tmp_path / "04_solutions.json"
    argv = ["--paths", str(paths), "--out", str(out), "--solutions", "4", "--calibration", "3"]
    assert critic_solutions.main(argv) == 0
    split = json.loads((tmp_path / "04_solutions.split.json").read_text())
    assert len(split["solutions"]) == 4 and len(split["calibration"]) == 3
    assert not set(split["solutions"]) & set(split["calibration"])
    rows = json.loads(out.read_text())
    assert len(rows) == 4
    for row, qid in zip(rows, split["solutions"]):
        i = int(qid[1:])
        human, gpt = row["conversations"]
        assert human["value"].startswith(f"Kim has {20 + i} apples") and "The answer is" in human["value"]
        assert gpt["value"].endswith(f"The answer is {14 + i}.")  # the right path, never the wrong one
    # the same seed, the same split
    assert critic_solutions.main([*argv, "--out", str(tmp_path / "again.json")]) == 0
    assert json.loads((tmp_path / "again.split.json").read_text()) == split
    with pytest.raises(UsageError, match="at least 1"):
        critic_solutions.main(["--paths", str(paths), "--out", str(out), "--solutions", "0", "--calibration", "3"])


def test_critic_calibrate_fits_the_threshold_and_marks_the_model_folder(tmp_path, monkeypatch):
    from selfimprove.stages import critic_calibrate

    class Scorer:  # the stated result's distance from the truth, as a fake surprise
        def __init__(self, model, threads=None, model_type="auto"):
            pass

        def score_many(self, items):
            out = []
            for question, response, _ in items:
                start = int(question.split()[2])
                stated = int(response.split(" = ")[1].split()[0])
                out.append([float(abs(start - 6 - stated)), 0.0])
            return out

    monkeypatch.setattr(critic_calibrate, "StepScorer", Scorer)
    paths = _write_jsonl(tmp_path / "paths.jsonl", _paths(6))
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"solutions": ["q0"], "calibration": ["q1", "q2", "q3"]}))
    model = tmp_path / "model"
    model.mkdir()
    out = tmp_path / "calibration.jsonl"
    argv = ["--paths", str(paths), "--split", str(split), "--model", str(model), "--out", str(out)]
    assert critic_calibrate.main(argv) == 0
    cal = json.loads((model / "likelihood.json").read_text())
    assert 0.0 < cal["threshold"] < 5.0 and cal["dataset_type"] == "gsm8k"
    assert cal["paths"] == 6 and cal["wrong"] == 3 and cal["auc"] == 1.0 and cal["balanced_accuracy"] == 1.0
    assert sorted(json.loads(line)["id"] for line in out.read_text().splitlines()) == sorted(
        f"q{i}/{s}" for i in (1, 2, 3) for s in ("reference", "rg3")
    )


def test_a_calibrated_folder_is_built_as_the_likelihood_engine(tmp_path, monkeypatch):
    from selfimprove.critic import likelihood
    from selfimprove.generation.engines import SamplingParams, make_engine
    from selfimprove.generation.prompts import critique_prompt

    class Scorer:
        def __init__(self, model, threads=None, model_type="auto"):
            self.model = model

        def score_many(self, items):
            for question, _, dataset_type in items:
                assert question == "Kim has 28 apples and eats 6. How many are left?" and dataset_type == "math"
            return [[9.0 if "= 23" in response else 1.0, 0.0] for _, response, _ in items]

        def rewrite_many(self, items):
            assert [(step, "= 23" in response) for _, response, step, _ in items] == [(0, True)]  # the flagged one only
            return ["Kim has 28 - 6 = 22 apples."]

    monkeypatch.setattr(likelihood, "StepScorer", Scorer)
    (tmp_path / "config.json").write_text("{}")
    likelihood.write_calibration(tmp_path, 5.0, "math")
    engine = make_engine(str(tmp_path), engine="hf")
    assert isinstance(engine, likelihood.LikelihoodEngine)
    q = "Kim has 28 apples and eats 6. How many are left?"
    prompts = [
        critique_prompt(q, f"{SOLUTION_PREFIX}Kim has 28 - 6 = {v} apples.\nThe answer is {v}.") for v in (22, 23)
    ]
    right, wrong = engine.generate(prompts, SamplingParams(n=2))
    assert len(right) == 2 and parse_critique(right[0].text).verdict == "correct"
    assert parse_critique(wrong[0].text).verdict == "wrong"
    assert "Step sentence: Kim has 28 - 6 = 23 apples." in wrong[0].text
    assert "The step should be: Kim has 28 - 6 = 22 apples." in wrong[0].text
    with pytest.raises(ValueError, match="not a critique prompt"):
        engine.generate([Prompt(({"role": "user", "content": "hello"},))], SamplingParams())


def _script_with_the_embedded_model(name: str):
    """scripts/<name>.py as a module; the test is skipped without the embedded model."""
    import importlib.util

    if not (MODEL / "config.json").is_file():
        pytest.skip("the embedded model is not set up (bash scripts/setup_env.sh)")
    spec = importlib.util.spec_from_file_location(name, MODEL.parents[1] / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    return script


@pytest.mark.integration
def test_the_likelihood_check_script_on_the_embedded_model(tmp_path, capsys):
    script = _script_with_the_embedded_model("likelihood_check")
    paths = _paths(6)
    for p in paths:  # graded as the paths stage grades: the stated answer against the true one
        p.update(pred=p["response"].split()[-1].rstrip("."), gold=str(14 + int(p["qid"][1:])))
    cal = _write_jsonl(tmp_path / "cal.jsonl", paths[:6])
    held = _write_jsonl(tmp_path / "held.jsonl", paths[6:])
    argv = ["--model", str(MODEL), "--calibration", str(cal), "--responses", str(held), "--per-class", "3"]
    assert script.main(argv) == 0
    out = capsys.readouterr().out
    assert "calibration: 6 paths (3 wrong)" in out and "responses: 6 (3 wrong)" in out
    assert "first wrong step exact" in out and "threshold" in out


@pytest.mark.integration
def test_the_batching_benchmark_on_the_embedded_model(tmp_path, capsys):
    script = _script_with_the_embedded_model("bench_likelihood")
    responses = _write_jsonl(tmp_path / "responses.jsonl", _paths(3))
    with pytest.raises(SystemExit):  # no likelihood.json in the embedded model's folder, no --threshold
        script.main(["--model", str(MODEL), "--responses", str(responses)])
    argv = ["--model", str(MODEL), "--responses", str(responses), "--threshold", "0", "--threads", "1"]
    assert script.main([*argv, "--batch-size", "4"]) == 0
    out = capsys.readouterr().out
    assert "| score 6 responses |" in out and "verdicts the same" in out
    assert "| rewrite 6 flagged steps |" in out and "6 of 6 identical" in out  # threshold 0 flags every response
