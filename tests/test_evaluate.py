"""The evaluation's generation flow with scripted actor and critic (no model): which answers get
critiqued and refined in each mode, and that the numbers follow by hand."""

from __future__ import annotations

import json
import re

import pytest

from selfimprove.core.records import Question
from selfimprove.critic.test_time import TestTimeConfig, evaluate_test_time
from selfimprove.evaluation.metrics import compute_results
from selfimprove.generation.engines import SamplingParams, ScriptedEngine
from selfimprove.generation.prompts import Prompt
from selfimprove.generation.sequential import run_sequential
from selfimprove.generation.tasks import sample_questions

QUESTIONS: list[Question] = [
    {"id": "t/0", "dataset": "toy", "dataset_type": "gsm8k", "question": "What is 2 + 3?", "gold": "5", "level": 1},
    {"id": "t/1", "dataset": "toy", "dataset_type": "gsm8k", "question": "What is 4 * 6?", "gold": "24", "level": 2},
]
# first answers: t/0 wrong (6), t/1 right (24); a refinement answers t/0 right (5), t/1 wrong (25)
FIRST = {"2 + 3": "6", "4 * 6": "24"}
REFINED = {"2 + 3": "5", "4 * 6": "25"}


def actor() -> ScriptedEngine:
    def respond(p: Prompt, k: int) -> str:
        table = REFINED if len(p.messages) == 3 else FIRST
        key = next(k for k in table if k in p.messages[0]["content"])
        return f"Compute.\nThe answer is {table[key]}."

    return ScriptedEngine(respond, name="actor")


def critic() -> ScriptedEngine:
    """Judges by the answer: 6 and 25 are wrong, anything else correct (a perfect critic here)."""

    def respond(p: Prompt, k: int) -> str:
        solution = p.messages[0]["content"].split("Solution:\n", 1)[1]
        bad = "answer is 6." in solution or "answer is 25." in solution
        return (
            f"Step sentence: Compute.\nCorrectness of the step: Correct\nExplanation: ok\n\n"
            f"Correctness of the final answer: {'Wrong' if bad else 'Correct'}\nExplanation: e"
        )

    return ScriptedEngine(respond, name="critic")


def finals(results: dict) -> list[float]:
    block = results["datasets"]["toy"]["overall"]["sequential"]
    return [p["value"] for p in block["final"]]


@pytest.mark.parametrize(
    "mode, refined_per_round, expected_final",
    [
        ("oracle", [{"t/0"}, {"t/0"}], [0.5, 1.0, 1.0]),  # only the first-wrong chain, every round
        ("all", [{"t/0", "t/1"}, {"t/0", "t/1"}], [0.5, 0.5, 0.5]),  # t/1 is talked out of its right answer
        ("verifier", [{"t/0"}, set()], [0.5, 1.0, 1.0]),  # refine while the critic says wrong
    ],
)
def test_sequential_modes(tmp_path, mode, refined_per_round, expected_final):
    a, c = actor(), critic()
    greedy, _ = sample_questions(a, QUESTIONS, tmp_path / "greedy.jsonl", SamplingParams())
    chain, counts = run_sequential(
        a, c, QUESTIONS, greedy, tmp_path, 2, mode, SamplingParams(), SamplingParams(), "default", 64
    )
    for r, expected in enumerate(refined_per_round, 1):
        assert {x["qid"] for x in chain if x["round"] == r} == expected
    assert (tmp_path / f"chain_{mode}.jsonl").is_file()
    results = compute_results(QUESTIONS, greedy, greedy, None, None, chain, {"rounds": 2})
    assert finals(results) == pytest.approx(expected_final)
    # a rerun reads everything back: no generation at all
    a2, c2 = actor(), critic()
    chain2, _ = run_sequential(
        a2, c2, QUESTIONS, greedy, tmp_path, 2, mode, SamplingParams(), SamplingParams(), "default", 64
    )
    assert a2.calls == [] and c2.calls == []
    assert [x["id"] for x in chain2] == [x["id"] for x in chain]


def test_more_rounds_cost_only_the_new_rounds(tmp_path):
    a, c = actor(), critic()
    greedy, _ = sample_questions(a, QUESTIONS, tmp_path / "greedy.jsonl", SamplingParams())
    run_sequential(a, c, QUESTIONS, greedy, tmp_path, 1, "all", SamplingParams(), SamplingParams(), "default", 64)
    a2, c2 = actor(), critic()
    chain, _ = run_sequential(
        a2, c2, QUESTIONS, greedy, tmp_path, 2, "all", SamplingParams(), SamplingParams(), "default", 64
    )
    assert sum(len(p) for p, _ in a2.calls) == 2  # round 2 only, one refinement per chain
    assert sorted(x["round"] for x in chain) == [0, 0, 1, 1, 2, 2]
    lines = (tmp_path / "chain_all.jsonl").read_text().splitlines()
    assert len(lines) == len({json.loads(x)["id"] for x in lines}) == 6


# ------------------------------------------------------------------- parallel critique-refine

POOL = {"2 + 3": ["5", "6", "6", "5"], "4 * 6": ["24", "24", "23", "24"]}


def pool_actor() -> ScriptedEngine:
    def respond(p: Prompt, k: int) -> str:
        key = next(x for x in POOL if x in p.messages[0]["content"])
        answer = REFINED[key] if len(p.messages) == 3 else POOL[key][k]
        return f"Compute.\nThe answer is {answer}."

    return ScriptedEngine(respond, name="actor")


def pool_critic() -> ScriptedEngine:
    """Right on 6 (wrong) and on the correct answers; ignores the format on 23."""

    def respond(p: Prompt, k: int) -> str:
        solution = p.messages[0]["content"].split("Solution:\n", 1)[1]
        if "answer is 23." in solution:
            return "Looks like a computation."
        verdict = "Wrong" if "answer is 6." in solution else "Correct"
        return f"Correctness of the final answer: {verdict}\nExplanation: e"

    return ScriptedEngine(respond, name="critic")


def value(curve: list[dict], k: int) -> float:
    return next(p["value"] for p in curve if p["k"] == k)


def test_parallel_methods_and_critic_metrics_by_hand(tmp_path):
    from selfimprove.evaluation.joins import by_sample
    from selfimprove.generation.tasks import critique_samples, refine_critiques

    a, c = pool_actor(), pool_critic()
    pool, _ = sample_questions(a, QUESTIONS, tmp_path / "pool.jsonl", SamplingParams(n=4, temperature=0.7))
    crits, cc = critique_samples(c, pool, tmp_path / "crit.jsonl", SamplingParams())
    refs, _ = refine_critiques(
        a, crits, {s["id"]: s for s in pool}, tmp_path / "ref.jsonl", SamplingParams(), reserved_new_data=10**9
    )
    critiques, refinements = by_sample(crits, refs)
    assert cc["format_violations"] == 1
    results = compute_results(QUESTIONS, None, pool, critiques, refinements, None, {})["datasets"]["toy"]
    block = results["overall"]

    # pool correctness: t/0 [T F F T] (2 of 4), t/1 [T T F T] (3 of 4)
    ro = block["response_only"]
    assert value(ro["pass_at_k"], 1) == pytest.approx((2 / 4 + 3 / 4) / 2)
    assert value(ro["pass_at_k"], 2) == pytest.approx((1 - 1 / 6 + 1) / 2)  # 1 - C(2,2)/C(4,2) for t/0
    assert value(ro["pass_at_k"], 4) == 1.0
    # MV@2 blocks: t/0 (5,6)->5 right, (6,5)->6 wrong; t/1 (24,24) right, (23,24)->23 wrong (ties: first)
    assert value(ro["mv_at_k"], 2) == pytest.approx(0.5)
    assert value(ro["mv_at_k"], 4) == 1.0  # t/0: 5,6,6,5 ties -> 5; t/1: 24 x 3
    par = block["parallel"]
    # refinements: every t/0 sample -> 5 (right), every t/1 sample -> 25 (wrong)
    assert value(par["refine_all"]["pass_at_k"], 1) == pytest.approx(0.5)
    assert value(par["oracle"]["pass_at_k"], 1) == pytest.approx((1 + 3 / 4) / 2)
    # verifier: refines the two 6s (critic: wrong); 23's critique has no verdict, so 23 stays
    assert value(par["verifier"]["pass_at_k"], 1) == pytest.approx((1 + 3 / 4) / 2)
    critic = block["critic"]
    assert critic["discrimination"]["accuracy"] == {"value": 1.0, "n": 7}
    assert critic["format_violations"]["count"] == 1
    assert critic["helpfulness"]["value"] == pytest.approx(2 / 3) and critic["helpfulness"]["n"] == 3
    assert critic["harm"]["value"] == pytest.approx(3 / 5) and critic["harm"]["n"] == 5
    # per level: t/0 is level 1, t/1 level 2
    assert value(results["by_level"]["2"]["response_only"]["pass_at_k"], 1) == pytest.approx(3 / 4)
    assert value(results["by_level"]["1"]["parallel"]["refine_all"]["pass_at_k"], 1) == 1.0


# ------------------------------------------------------------------- K parallel chains


def test_k_chains_start_from_the_pool_and_grow_without_regenerating(tmp_path):
    a, c = pool_actor(), pool_critic()
    pool, _ = sample_questions(a, QUESTIONS, tmp_path / "pool.jsonl", SamplingParams(n=4, temperature=0.7))
    args = (QUESTIONS, pool, tmp_path, 2, "oracle", SamplingParams(), SamplingParams(), "default", 64)
    chain, _ = run_sequential(a, c, *args, chains=2)
    # starts: t/0 s0 = 5 (right), s1 = 6 (wrong); t/1 s0 = s1 = 24 (right): oracle refines t/0/s1 only
    assert sorted(x["id"] for x in chain) == [
        "t/0/s0/r0",
        "t/0/s1/r0",
        "t/0/s1/r1",
        "t/0/s1/r2",
        "t/1/s0/r0",
        "t/1/s1/r0",
    ]
    assert {x["id"]: x["chain"] for x in chain if x["round"] == 0} == {
        "t/0/s0/r0": 0,
        "t/0/s1/r0": 1,
        "t/1/s0/r0": 0,
        "t/1/s1/r0": 1,
    }
    assert (tmp_path / "chains_oracle.jsonl").is_file() and not (tmp_path / "chain_oracle.jsonl").exists()
    seq = compute_results(QUESTIONS, None, pool, None, None, chain, {"sequential_mode": "oracle"})["datasets"]["toy"][
        "overall"
    ]["sequential"]
    assert seq["chains"] == 2 and seq["upper_bound"] is True
    assert [p["value"] for p in seq["final"]] == [0.75, 1.0, 1.0]
    # released vote: t/0 keeps s0's 5 and adds s1's refinements (5, 5); t/1 keeps both 24s
    assert [p["value"] for p in seq["mv_refinements_1_to_r"]] == [1.0, 1.0]
    # a third chain costs only its own critiques and refinements: s2 is wrong for both questions
    a2, c2 = pool_actor(), pool_critic()
    chain3, _ = run_sequential(a2, c2, *args, chains=3)
    assert sum(len(p) for p, _ in a2.calls) == 4 and sum(len(p) for p, _ in c2.calls) == 4
    assert {x["chain"] for x in chain3} == {0, 1, 2}
    # asking for fewer chains again returns only those
    chain1, _ = run_sequential(pool_actor(), pool_critic(), *args, chains=2)
    assert sorted(x["id"] for x in chain1) == sorted(x["id"] for x in chain)


def test_stage_refuses_more_chains_than_pool_samples(tmp_path, capsys):
    from selfimprove.stages.evaluate import main

    argv = ["--questions", str(tmp_path / "q.jsonl"), "--out-dir", str(tmp_path / "out"), "--pool-size", "2"]
    argv += ["--sequential-chains", "3", "--actor-model", "a", "--critic-model", "c"]
    with pytest.raises((SystemExit, ValueError)) as e:  # a usage error, however the CLI reports it
        main(argv)
    assert "--sequential-chains must be between 1 and --pool-size (2)" in str(e.value) + capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_stage_takes_the_pool_size_from_the_evaluation_knob(tmp_path, monkeypatch):
    from selfimprove.core.errors import UsageError
    from selfimprove.stages.evaluate import main

    monkeypatch.delenv("PRESET", raising=False)
    monkeypatch.setenv("sample_num", "3")
    argv = ["--questions", str(tmp_path / "q.jsonl"), "--out-dir", str(tmp_path / "out"), "--sequential-chains", "5"]
    with pytest.raises(UsageError, match=r"--pool-size \(3\)"):
        main([*argv, "--actor-model", "a", "--critic-model", "c"])
    monkeypatch.delenv("sample_num")  # the evaluation's own default: 4
    with pytest.raises(UsageError, match=r"--pool-size \(4\)"):
        main([*argv, "--actor-model", "a", "--critic-model", "c"])
    monkeypatch.setenv("MV_NUM", "-1")
    with pytest.raises(UsageError, match="MV_NUM=-1"):
        main([*argv, "--actor-model", "a", "--critic-model", "c"])


def test_stage_finds_its_files_in_the_run_layout(tmp_path):
    from selfimprove.core.errors import DataError, UsageError
    from selfimprove.stages.evaluate import main

    with pytest.raises(UsageError, match="--run-dir and --label"):
        main(["--run-dir", str(tmp_path), "--actor-model", "a", "--use-critic", "0"])
    with pytest.raises(DataError, match=re.escape(str(tmp_path / "data" / "test.jsonl"))):
        main(["--run-dir", str(tmp_path), "--label", "base", "--actor-model", "a", "--use-critic", "0"])


# ------------------------------------------------------------------- the flow, engines injected


def flow_config(tmp_path, **kw) -> TestTimeConfig:
    settings = dict(
        questions="toy.jsonl",
        out_dir=tmp_path / "eval",
        actor_model="actor",
        critic_model="critic",
        use_critic=True,
        pool_size=4,
        temperature=0.7,
        top_p=1.0,
        max_tokens=64,
        critic_temperature=0.0,
        critic_max_tokens=64,
        rounds=2,
        sequential_mode="oracle",
        sequential_chains=1,
        only_final_sequential=False,
        grader="default",
        voting="equivalence",
        seed=0,
        chunk_size=8,
        grade_workers=0,
    )
    return TestTimeConfig(**{**settings, **kw})


def test_the_evaluation_flow_writes_every_file_with_scripted_engines(tmp_path):
    cfg = flow_config(tmp_path)
    counts: dict = {}
    results = evaluate_test_time(cfg, QUESTIONS, pool_actor(), pool_critic, count=counts.update)
    written = {p.name for p in cfg.out_dir.iterdir()}
    assert {"greedy.jsonl", "pool.jsonl", "pool_critiques.jsonl", "pool_refinements.jsonl", "results.json"} <= written
    assert any(n.startswith("chain_oracle") for n in written)
    assert json.loads((cfg.out_dir / "results.json").read_text()) == results
    assert results["config"] == cfg.record(len(QUESTIONS))
    assert len((cfg.out_dir / "pool.jsonl").read_text().splitlines()) == 8  # 2 questions x 4 samples
    assert counts["pool_samples"] == 8 and counts["format_violations"] == 1 and counts["unanswered"] == 0
    par = results["datasets"]["toy"]["overall"]["parallel"]
    assert value(par["refine_all"]["pass_at_k"], 1) == pytest.approx(0.5)  # t/0 refined right, t/1 wrong


def test_the_evaluation_flow_without_the_critic_loads_none(tmp_path):
    cfg = flow_config(tmp_path, use_critic=False, critic_model=None)
    results = evaluate_test_time(cfg, QUESTIONS, pool_actor(), None)
    assert results["config"]["critic"] is None and results["config"]["rounds"] == 0
    assert not (cfg.out_dir / "pool_critiques.jsonl").exists()
