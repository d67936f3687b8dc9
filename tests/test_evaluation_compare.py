"""Cross-run comparison on two small hand-made runs, and the bootstrap against known cases.

Test questions x, y (level 1) and z, w (level 2), gold 1, 2, 3, 4; pools of N = 2 (T/F):

    run A (vanilla)      every actor:  x TT  y TF  z FF  w FF     greedy x F  y F  z F  w F
    run B (critique)     iter_0 as A;  iter_1: x TT  y TT  z TF  w FF     greedy x T  y T  z T  w F
                         iter_1 refinements (refine all): all right but w/s1; critic wrong only on z/s1
                         one sequential round from the greedy answer: x y z right, w wrong
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_evaluation_sequential import by_string

from selfimprove.core.records import ChainStep, Critique, Graded, Question, Refinement, Sample
from selfimprove.evaluation import compare as C
from selfimprove.evaluation import paper as P
from selfimprove.evaluation.estimators import bootstrap_difference, bootstrap_mean, bootstrap_ratio
from selfimprove.evaluation.metrics import compute_results
from selfimprove.stages import compare as compare_stage

GOLD = {"x": "1", "y": "2", "z": "3", "w": "4"}
LEVEL = {"x": 1, "y": 1, "z": 2, "w": 2}
POOL_A = {"x": "TT", "y": "TF", "z": "FF", "w": "FF"}
POOL_B = {"x": "TT", "y": "TT", "z": "TF", "w": "FF"}
GREEDY_A = {"x": "F", "y": "F", "z": "F", "w": "F"}
GREEDY_B = {"x": "T", "y": "T", "z": "T", "w": "F"}
REFERENCE_DATA = {
    "format": 1,
    "paper": "a fixture",
    "unit": "percent",
    "groups": [
        {
            "figure": "Table 3",
            "provenance": "verbatim",
            "setting": {"model": "Llama-3-8B", "method": "critique-in-the-loop", "test_time": "response only"},
            "numbers": [{"dataset": "toy", "metric": "mv_at_k", "k": 2, "value": 50.0}],
        }
    ],
}
REFERENCE = P.parse(REFERENCE_DATA)


def jsonl(path: Path, records) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def answer(q: str, ok: str) -> Graded:
    return {"pred": GOLD[q] if ok == "T" else "9", "correct": ok == "T"}


def write_eval(folder: Path, questions, pool, greedy, critic: bool, actor_model: str | None = None) -> None:
    pool_recs: list[Sample] = [
        {"id": f"{q}/s{j}", "qid": q, "index": j, **answer(q, ok)}
        for q, oks in pool.items()
        for j, ok in enumerate(oks)
    ]
    greedy_recs: list[Sample] = [{"id": f"{q}/s0", "qid": q, "index": 0, **answer(q, ok)} for q, ok in greedy.items()]
    jsonl(folder / "pool.jsonl", pool_recs)
    jsonl(folder / "greedy.jsonl", greedy_recs)
    crits: list[Critique] | None = None
    refs: list[Refinement] | None = None
    chain: list[ChainStep] | None = None
    config = {"critic": "critic-x" if critic else None, "sequential_mode": "all", "sequential_chains": 1}
    if actor_model is not None:
        config["actor_model"] = actor_model
    if critic:
        crits, refs = [], []
        for r in pool_recs:
            sid = r["id"]
            verdict = "correct" if r["correct"] or sid == "z/s1" else "wrong"
            crits.append({"id": f"{sid}/c0", "sample_id": sid, "qid": r["qid"], "verdict": verdict})
            refs.append(
                {
                    "id": f"{sid}/c0/r0",
                    "sample_id": sid,
                    "qid": r["qid"],
                    **answer(r["qid"], "F" if sid == "w/s1" else "T"),
                }
            )
        jsonl(folder / "pool_critiques.jsonl", crits)
        jsonl(folder / "pool_refinements.jsonl", refs)
        chain = [{**g, "id": f"{g['qid']}/r0", "round": 0, "chain": 0} for g in greedy_recs]
        chain += [
            {"id": f"{q}/r1", "qid": q, "round": 1, "chain": 0, **answer(q, "F" if q == "w" else "T")} for q in GOLD
        ]
        jsonl(folder / "chain_all.jsonl", chain)
        crits = [{**c, "id": c["sample_id"], "index": int(c["sample_id"][-1])} for c in crits]
        refs = [{**r, "id": r["sample_id"], "index": int(r["sample_id"][-1])} for r in refs]
    res = compute_results(questions, greedy_recs, pool_recs, crits, refs, chain, config, vote_fn=by_string)
    (folder / "results.json").write_text(json.dumps(res))


def toy_questions(dataset: str = "toy") -> list[Question]:
    return [
        {"id": q, "dataset": dataset, "dataset_type": "gsm8k", "question": "?", "gold": g, "level": LEVEL[q]}
        for q, g in GOLD.items()
    ]


def make_run(root: Path, name: str, critique: bool, dataset: str = "toy") -> Path:
    run = root / name
    questions = toy_questions(dataset)
    jsonl(run / "data" / "test.jsonl", questions)
    write_eval(run / "eval" / "iter_0", questions, POOL_A, GREEDY_A, critic=False)
    if critique:
        write_eval(run / "eval" / "iter_1", questions, POOL_B, GREEDY_B, critic=True)
    else:
        write_eval(run / "eval" / "iter_1", questions, POOL_A, GREEDY_A, critic=False)
    samples = [
        {
            "id": f"t{i}/s{j}",
            "qid": f"t{i}",
            "index": j,
            "dataset_type": "gsm8k",
            "response": "",
            "pred": p,
            "correct": p == "1",
        }
        for i, preds in ((1, "19"), (2, "99"))
        for j, p in enumerate(preds)
    ]
    jsonl(run / "iter_1" / "01_samples.jsonl", samples)
    if critique:
        ref = {
            "id": "t2/s0/c0/r0",
            "sample_id": "t2/s0",
            "qid": "t2",
            "response": "",
            "pred": "1",
            "correct": True,
            "kept": True,
        }
        jsonl(run / "iter_1" / "03_refinements.jsonl", [ref])
        (run / "manifest.json").write_text(
            json.dumps({"config": {"model_name": "models/Meta-Llama-3-8B"}, "steps": {}})
        )
    return run


@pytest.fixture()
def runs(tmp_path):
    return make_run(tmp_path, "A", critique=False), make_run(tmp_path, "B", critique=True)


def find(rows, **key):
    return next(r for r in rows if all(r[k] == v for k, v in key.items()))


# --------------------------------------------------------------------------- bootstrap


def test_bootstrap_mean_matches_the_binomial_case():
    # the mean of 100 coin flips: its bootstrap distribution is Binomial(100, 1/2) / 100,
    # whose 2.5% and 97.5% quantiles are 0.40 and 0.60
    ci = bootstrap_mean([1.0] * 50 + [0.0] * 50, samples=20000, seed=3)
    assert ci["value"] == 0.5 and ci["n"] == 100
    assert ci["low"] == pytest.approx(0.40, abs=0.011) and ci["high"] == pytest.approx(0.60, abs=0.011)
    assert bootstrap_mean([1.0] * 50 + [0.0] * 50, samples=20000, seed=3) == ci  # seeded: reproducible
    assert bootstrap_mean([0.25, 0.25, 0.25]) == {"value": 0.25, "low": 0.25, "high": 0.25, "n": 3}
    assert bootstrap_mean([])["value"] is None


def test_bootstrap_differences_paired_and_unpaired():
    shifted = bootstrap_difference([0.0, 0.5, 1.0], [0.25, 0.75, 1.25], paired=True)
    assert shifted == {"value": 0.25, "low": 0.25, "high": 0.25, "n": 3, "paired": True, "significant": True}
    same = bootstrap_difference([1.0, 0.0], [1.0, 0.0], paired=True)
    assert same["value"] == 0 and same["low"] == same["high"] == 0 and not same["significant"]
    # unpaired constant sides: no spread at all
    assert bootstrap_difference([0.0] * 3, [1.0] * 5, paired=False)["low"] == 1.0
    wide = bootstrap_difference([0.0, 1.0], [0.0, 1.0, 1.0], paired=False)
    assert wide["low"] < 0 < wide["high"] and not wide["significant"]
    ratio = bootstrap_ratio([1, 1], [2, 2])
    assert ratio == {"value": 0.5, "low": 0.5, "high": 0.5, "n": 4}


# --------------------------------------------------------------------------- comparison


def test_runs_are_read_from_their_records(runs):
    c = C.compare_runs(runs, vote_fn=by_string, reference=REFERENCE)
    assert [(r["label"], r["method"], r["N"], r["evaluated"]) for r in c["runs"]] == [
        ("A", "vanilla", 2, ["iter_0", "iter_1"]),
        ("B", "critique-in-the-loop", 2, ["iter_0", "iter_1"]),
    ]
    # Fig. 6: Pass@1 per actor; A (1 + 1/2 + 0 + 0) / 4, B iter_1 (1 + 1 + 1/2 + 0) / 4
    pass1 = {(p["run"], p["actor"]): p["pass_at_1"]["value"] for p in c["per_iteration"]}
    assert pass1 == {("A", "iter_0"): 0.375, ("A", "iter_1"): 0.375, ("B", "iter_0"): 0.375, ("B", "iter_1"): 0.625}
    assert find(c["per_iteration"], run="B", actor="iter_1")["pass_at_1"]["n"] == 4


def test_runs_without_iterations_are_named_by_where_their_actor_was_made(tmp_path):
    """Table 3's SFT and self-correction cells have no self-improvement iterations: their method is
    the place of the evaluated model in the run's layout, not "untrained"."""
    questions = toy_questions()
    made = {
        "sft": ("iter_0", "{run}/iter_0/actor"),
        "selfcorrect": ("selfcorrect_model", "{run}/selftalk/selfcorrect_model/"),
        "selftalk": ("selftalk_model", "{run}/selftalk/selftalk_model"),
        "base": ("SmolLM2-135M-Instruct", "models/SmolLM2-135M-Instruct"),
        "another-run": ("actor", "elsewhere/iter_2/actor"),
        "other": ("my-model", "checkpoints/my-model"),
    }
    dirs = []
    for name, (label, path) in made.items():
        run = tmp_path / name
        write_eval(run / "eval" / label, questions, POOL_A, GREEDY_A, critic=False, actor_model=path.format(run=run))
        dirs.append(run)
    # the evaluation driver records its configuration as "evaluate_config"
    manifest = {"evaluate_config": {"model_name": "models/SmolLM2-135M-Instruct"}, "steps": {}}
    for name in ("base", "other"):
        (tmp_path / name / "manifest.json").write_text(json.dumps(manifest))
    c = C.compare_runs(dirs, vote_fn=by_string, reference=REFERENCE)
    assert {r["label"]: r["method"] for r in c["runs"]} == {
        "sft": "SFT",
        "selfcorrect": "self-correction FT",
        "selftalk": "self-talk",
        "base": "untrained",
        "another-run": "self-improved",
        "other": "other model",
    }
    assert find(c["grid"], run="selfcorrect")["method"] == "self-correction FT"
    assert {r["label"]: r["model"] for r in c["runs"]}["other"] == "models/SmolLM2-135M-Instruct"


def test_table3_grid_by_hand(runs):
    row = find(C.compare_runs(runs, vote_fn=by_string, reference=REFERENCE)["grid"], run="B")
    assert row["actor"] == "iter_1" and row["k"] == 2
    ro, wc = row["response_only"], row["with_critique"]
    assert (ro["acc"]["value"], ro["pass_at_k"]["value"], ro["mv_at_k"]["value"]) == (0.75, 0.75, 0.75)
    # with critique: one round fixes x y z, not w; refine all makes w [T, F]: Pass@2 and MV@2 (tie -> first) right
    assert (wc["acc"]["value"], wc["pass_at_k"]["value"], wc["mv_at_k"]["value"]) == (0.75, 1.0, 1.0)
    # the paper's number is shown where the setting matches, with ours minus the paper's in points
    assert ro["paper"]["mv_at_k"] == {"value": 50.0, "figure": "Table 3", "provenance": "verbatim", "difference": 25.0}
    assert ro["paper"]["acc"] is None
    assert (
        find(C.compare_runs(runs, vote_fn=by_string, reference=REFERENCE)["grid"], run="A")["response_only"]["paper"][
            "mv_at_k"
        ]
        is None
    )


def test_critic_table_by_hand(runs):
    row = find(C.compare_runs(runs, vote_fn=by_string, reference=REFERENCE)["critics"], run="B")
    assert row["critic"] == "critic-x"
    assert row["discrimination_accuracy"]["value"] == 7 / 8 and row["discrimination_accuracy"]["n"] == 8
    assert row["helpfulness"]["value"] == pytest.approx(2 / 3) and row["helpfulness"]["n"] == 3
    assert row["harm"]["value"] == 0 and row["harm"]["n"] == 5
    assert row["helpfulness"]["low"] <= row["helpfulness"]["value"] <= row["helpfulness"]["high"]


def test_level_differences_are_paired_and_marked(runs):
    rows = C.compare_runs(runs, vote_fn=by_string, reference=REFERENCE)["level_differences"]
    greedy1 = find(rows, metric="greedy", level="1")["difference"]
    # level 1 greedy: A [0, 0], B [1, 1] -> +1 in every resample
    assert greedy1 == {"value": 1.0, "low": 1.0, "high": 1.0, "n": 2, "paired": True, "significant": True}
    greedy2 = find(rows, metric="greedy", level="2")["difference"]
    assert greedy2["value"] == 0.5 and greedy2["low"] == 0.0 and greedy2["high"] == 1.0 and not greedy2["significant"]
    p1 = find(rows, metric="pass_at_1", level="1")
    assert p1["base_value"]["value"] == 0.75 and p1["run_value"]["value"] == 1.0


def test_missing_records_fall_back_to_results_json(runs):
    (runs[1] / "eval" / "iter_1" / "pool.jsonl").unlink()
    c = C.compare_runs(runs, vote_fn=by_string, reference=REFERENCE)
    ro = find(c["grid"], run="B")["response_only"]
    assert ro["mv_at_k"] == {"value": 0.75, "low": None, "high": None, "n": 4}
    assert c["runs"][1]["records"] == [True, False]
    assert c["level_differences"] == []


def test_cli_writes_report_json_and_plots(runs, tmp_path, monkeypatch):
    monkeypatch.setattr(C, "default_vote_fn", lambda: by_string)
    ref = tmp_path / "ref.json"
    ref.write_text(json.dumps(REFERENCE_DATA))
    out = tmp_path / "cmp"
    assert compare_stage.main([str(runs[0]), str(runs[1]), "--out", str(out), "--reference", str(ref)]) == 0
    data = json.loads((out / "comparison.json").read_text())
    assert data["reference_source"] == "a fixture"
    md = (out / "report.md").read_text()
    assert (
        "| B | toy | greedy | 1 | 0.0 [0.0, 0.0] (n=2) | 100.0 [100.0, 100.0] (n=2) | +100.0 [+100.0, +100.0] * | yes |"
        in md
    )
    assert "| – / – / 50.0 (Table 3, verbatim) | – / – / +25.0 |" in md
    for name in ("pass_at_1_per_iteration", "table3_grid", "critics", "level_differences"):
        assert (out / f"compare_{name}.png").read_bytes()[:4] == b"\x89PNG"
    assert compare_stage.main([str(tmp_path / "none"), "--out", str(out)]) == 2


def test_shipped_reference_file_is_readable():
    ref = C.load_reference()
    assert "2411.16579" in ref.paper and ref.numbers


def paper_named_runs(root: Path) -> tuple[Path, Path]:
    """Runs A and B as the paper's setting: Llama-3-8B on GSM8K, N = 3 samples per training question,
    B's test-time critic a critique model trained from Llama-3-8B-Instruct by ``critic-all.sh``."""
    runs = make_run(root, "A", critique=False, dataset="gsm8k"), make_run(root, "B", critique=True, dataset="gsm8k")
    critic = root / "critic-run" / "critic" / "model"
    critic.mkdir(parents=True)
    manifest = {"critic_config": {"critic_base_model": "meta-llama/Meta-Llama-3-8B-Instruct"}, "steps": {}}
    (critic.parent.parent / "manifest.json").write_text(json.dumps(manifest))
    for run in runs:
        (run / "manifest.json").write_text(json.dumps({"config": {"model_name": "meta-llama/Meta-Llama-3-8B"}}))
        samples = [
            {"id": f"t{i}/s{j}", "qid": f"t{i}", "index": j, "dataset_type": "gsm8k", "response": "", "pred": p}
            | {"correct": p == "1"}
            for i, preds in ((1, "199"), (2, "999"))
            for j, p in enumerate(preds)
        ]
        jsonl(run / "iter_1" / "01_samples.jsonl", samples)
    results = runs[1] / "eval" / "iter_1" / "results.json"
    data = json.loads(results.read_text())
    data["config"]["critic"] = str(critic)
    results.write_text(json.dumps(data))
    return runs


def test_paper_numbers_beside_runs_named_like_the_paper(tmp_path, monkeypatch):
    """With the shipped file: Fig. 6 beside every actor, Table 3 beside the grid, ours minus the paper's."""
    runs = paper_named_runs(tmp_path)
    c = C.compare_runs(runs, vote_fn=by_string)
    assert [(r["method"], r["N"]) for r in c["runs"]] == [("vanilla", 3), ("critique-in-the-loop", 3)]
    paper = {(p["run"], p["actor"]): p["paper"] for p in c["per_iteration"]}
    # Fig. 6, GSM8K, N = 3: iteration 0 (the SFT actor) 54.8; iteration 1 vanilla 60.9, critique 65.1
    assert paper["B", "iter_1"] == {"value": 65.1, "figure": "Fig. 6", "provenance": "plot reading", "difference": -2.6}
    assert paper["A", "iter_1"]["value"] == 60.9 and paper["A", "iter_1"]["difference"] == pytest.approx(37.5 - 60.9)
    assert paper["A", "iter_0"]["value"] == paper["B", "iter_0"]["value"] == 54.8
    # Table 3, critique-in-the-loop SI on GSM8K: Acc response only, and with the critique model (critic
    # trained from an 8B model; Table 3 does not state the size, Table 2 has no critique-in-the-loop actor)
    row = find(c["grid"], run="B")
    assert row["k"] == 2  # Pass@5 and MV@5 need a pool of 5: no paper number at K = 2
    ro, wc = row["response_only"]["paper"], row["with_critique"]["paper"]
    assert (ro["acc"]["figure"], ro["acc"]["value"]) == ("Table 3", 75.5)
    assert ro["acc"]["difference"] == pytest.approx(75.0 - 75.5)
    assert (wc["acc"]["figure"], wc["acc"]["value"]) == ("Table 3", 75.8)
    assert ro["pass_at_k"] is None and wc["mv_at_k"] is None
    # Table 2 holds an SFT actor only
    assert find(c["critics"], run="B")["paper"] == {"discrimination_accuracy": None, "helpfulness": None}
    # the report prints the column and the difference
    monkeypatch.setattr(C, "default_vote_fn", lambda: by_string)
    out = tmp_path / "cmp"
    assert compare_stage.main([str(runs[0]), str(runs[1]), "--out", str(out)]) == 0
    md = (out / "report.md").read_text()
    assert "| Pass@1 | paper | ours − paper |" in md
    assert "| B | critique-in-the-loop | 3 | iter_1 | gsm8k | 62.5 [" in md
    assert "| 65.1 (Fig. 6, plot reading) | -2.6 |" in md
    assert "| 54.8 (Fig. 6, plot reading) | -17.3 |" in md
    assert "| 75.5 / – / – (Table 3, verbatim) | -0.5 / – / – |" in md
    assert "| 75.8 / – / – (Table 3, verbatim) | -0.8 / – / – |" in md  # with the critique model: 75.0
    assert json.loads((out / "comparison.json").read_text())["reference_source"].startswith("Xi et al.")


def test_no_paper_number_where_the_setting_differs(tmp_path):
    """The tiny scale: another model, N or dataset -- no paper number, not a wrong one."""
    runs = paper_named_runs(tmp_path)
    for run in runs:
        (run / "manifest.json").write_text(json.dumps({"config": {"model_name": "models/SmolLM2-135M-Instruct"}}))
    c = C.compare_runs(runs, vote_fn=by_string)
    assert all(p["paper"] is None for p in c["per_iteration"])
    assert all(
        v is None for r in c["grid"] for side in ("response_only", "with_critique") for v in r[side]["paper"].values()
    )
