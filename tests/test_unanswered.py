"""A prompt longer than an engine's context window never fails a step: its item is an empty,
unanswered record graded wrong and counted, at every stage of the evaluation (greedy and pool,
critique, refinement, sequential rounds) and of the training loop (sample, critique, refine,
filter). Scripted engines (no model) registered under a name take their window from the model
name (``test/actor-300``: the actor with a window of 300 words)."""

from __future__ import annotations

import json

import pytest

from selfimprove.core.io import atomic_write_jsonl, read_jsonl
from selfimprove.core.layout import RunLayout
from selfimprove.core.manifest import read as read_manifest
from selfimprove.core.records import Question, Sample
from selfimprove.evaluation.metrics import compute_results
from selfimprove.evaluation.report import write_report
from selfimprove.generation.engines import ENGINE_CLASSES, SamplingParams, ScriptedEngine, close_shared_engines
from selfimprove.generation.prompts import Prompt
from selfimprove.generation.sequential import run_sequential
from selfimprove.generation.shard import merged_counts
from selfimprove.generation.tasks import sample_questions
from selfimprove.stages import critique, evaluate, refine, sample
from selfimprove.stages import filter as filtering

FIRST = {"2 + 3": "6", "4 * 6": "24", "3 + 4": "8"}  # t/0 and t/2 start wrong
REFINED = {"2 + 3": "5", "4 * 6": "24", "3 + 4": "7"}
LONG_QUESTION = "What is 3 + 4? " + "Think carefully. " * 200  # about 400 words
VERBOSE = "Let me think. " * 70  # about 210 words of reasoning before the answer
RANT = "This step is wrong. " * 100  # a critique of about 400 words

#: where the oversized prompt is: the question itself (every stage), the actor's answer (too long
#: for the critic's window), or the critique (too long for the actor's window to refine with)
CASES = {
    "question": {"actor": 300, "critic": 300},
    "critique": {"actor": 600, "critic": 250},
    "refinement": {"actor": 300, "critic": 2000},
}


def questions(case: str) -> list[Question]:
    third = LONG_QUESTION if case == "question" else "What is 3 + 4?"
    return [
        {"id": f"t/{i}", "dataset": "toy", "dataset_type": "gsm8k", "question": q, "gold": g, "level": i + 1}
        for i, (q, g) in enumerate((("What is 2 + 3?", "5"), ("What is 4 * 6?", "24"), (third, "7")))
    ]


def _key(prompt: Prompt) -> str:
    return next(k for k in FIRST if k in prompt.messages[0]["content"])


def actor(case: str, window: int | None = None) -> ScriptedEngine:
    def respond(p: Prompt, k: int) -> str:
        key = _key(p)
        if len(p.messages) == 3:  # a refinement request
            return f"Compute again.\nThe answer is {REFINED[key]}."
        reasoning = VERBOSE if case == "critique" and key == "3 + 4" else "Compute."
        return f"{reasoning}\nThe answer is {FIRST[key]}."

    return ScriptedEngine(respond, name="actor", context_length=window or CASES[case]["actor"])


def critic(case: str, window: int | None = None) -> ScriptedEngine:
    """Right about every answer; on 8 (t/2) it rants when the case asks for it."""

    def respond(p: Prompt, k: int) -> str:
        solution = p.messages[0]["content"].split("Solution:\n", 1)[1]
        bad = "answer is 6." in solution or "answer is 8." in solution
        rant = RANT if case == "refinement" and "answer is 8." in solution else ""
        return f"{rant}\nCorrectness of the final answer: {'Wrong' if bad else 'Correct'}\nExplanation: e"

    return ScriptedEngine(respond, name="critic", context_length=window or CASES[case]["critic"])


EXPECTED = {  # results.json's unanswered.by_stage (empty stages left out)
    "question": {
        "greedy": ["t/2/s0"],
        "pool": ["t/2/s0", "t/2/s1"],
        "pool_critiques": ["t/2/s0", "t/2/s1"],
        "pool_refinements": ["t/2/s0", "t/2/s1"],
        "chain_critiques": ["t/2/r0", "t/2/r1"],
        "chain_refinements": ["t/2/r1", "t/2/r2"],
    },
    "critique": {"pool_critiques": ["t/2/s0", "t/2/s1"], "chain_critiques": ["t/2/r0"]},
    "refinement": {"pool_refinements": ["t/2/s0", "t/2/s1"], "chain_refinements": ["t/2/r1"]},
}


@pytest.fixture
def engines(monkeypatch):
    """``--actor-engine scripted-window``: engines of the case set by the test, windows from the
    model name; shared engines of other tests are dropped before and after."""
    monkeypatch.delenv("MATHCRITIQUE_RUN_LOCK", raising=False)
    monkeypatch.delenv("PRESET", raising=False)
    state = {"case": "question"}

    class Windowed(ScriptedEngine):
        @classmethod
        def from_settings(cls, settings):
            kind, window = settings.model.rsplit("/", 1)[1].split("-")
            make = actor if kind == "actor" else critic
            return make(state["case"], int(window))

    monkeypatch.setitem(ENGINE_CLASSES, "scripted-window", Windowed)
    close_shared_engines()
    yield state
    close_shared_engines()


def engine_args(case: str, *roles: str) -> list[str]:
    out = []
    for role in roles:
        out += [f"--{role}-model", f"test/{role}-{CASES[case][role]}", f"--{role}-engine", "scripted-window"]
    return out


# ------------------------------------------------------------------- evaluation


@pytest.mark.parametrize("case", list(CASES))
def test_evaluation_finishes_and_counts_the_unanswered_items(tmp_path, engines, case, caplog):
    engines["case"] = case
    atomic_write_jsonl(tmp_path / "q.jsonl", questions(case))
    out = tmp_path / "eval"
    argv = ["--questions", str(tmp_path / "q.jsonl"), "--out-dir", str(out), *engine_args(case, "actor", "critic")]
    argv += ["--use-critic", "1", "--pool-size", "2", "--rounds", "2", "--sequential-mode", "all"]
    argv += ["--max-tokens", "256", "--critic-max-tokens", "512", "--temperature", "0.7"]
    assert evaluate.main(argv) == 0

    results = json.loads((out / "results.json").read_text())
    unanswered = results["unanswered"]
    expected = EXPECTED[case]
    assert {stage: ids for stage, ids in unanswered["by_stage"].items() if ids} == expected
    assert unanswered["count"] == sum(len(ids) for ids in expected.values())
    assert unanswered["questions"] == ["t/2"]
    assert "item(s) unanswered (prompt longer than the context window" in caplog.text

    # every file holds every item; the unanswered ones are empty and wrong
    files = {
        "greedy": "greedy.jsonl",
        "pool": "pool.jsonl",
        "pool_critiques": "pool_critiques.jsonl",
        "pool_refinements": "pool_refinements.jsonl",
    }
    for stage, name in files.items():
        recs = read_jsonl(out / name)
        assert len(recs) == (3 if stage == "greedy" else 6)
        flagged = [r for r in recs if r.get("unanswered")]
        assert len(flagged) == len(expected.get(stage, []))
        for r in flagged:
            assert r["qid"] == "t/2" and r["unanswered_reason"].startswith("prompt longer than the context window")
            assert r.get("correct", False) is False and r.get("verdict") is None
    overall = results["datasets"]["toy"]["overall"]
    assert overall["response_only"]["greedy"]["n"] == 3 and overall["critic"]["n_samples"] == 6
    final = overall["sequential"]["final"]
    assert [p["n"] for p in final] == [3, 3, 3]
    if case == "question":  # t/2 is wrong throughout; t/0 is refined to right, t/1 stays right
        assert [p["value"] for p in final] == pytest.approx([1 / 3, 2 / 3, 2 / 3])
    if case == "refinement":  # round 1 of t/2 is unanswered (wrong), round 2 refines it again
        assert [p["value"] for p in final] == pytest.approx([1 / 3, 2 / 3, 1.0])

    report = write_report([results], tmp_path / "report").read_text()
    row = next(line for line in report.splitlines() if line.startswith("| unanswered"))
    assert f"| {unanswered['count']}: " in row and "t/2/" in row


def chains(actor_engine, critic_engine, qs, greedy, run_dir, rounds, mode, critic_max_tokens):
    """Sequential critique-refine chains with the actor's 64-token answers, graded by default."""
    return run_sequential(
        actor_engine,
        critic_engine,
        qs,
        greedy,
        run_dir,
        rounds,
        mode,
        SamplingParams(max_tokens=64),
        SamplingParams(max_tokens=critic_max_tokens),
        "default",
        8,
    )


def test_sequential_rounds_go_on_from_an_unanswered_round(tmp_path):
    qs = questions("refinement")
    a, c = actor("refinement"), critic("refinement")
    greedy, _ = sample_questions(a, qs, tmp_path / "greedy.jsonl", SamplingParams())
    chain, counts = chains(a, c, qs, greedy, tmp_path, 3, "all", critic_max_tokens=512)
    t2 = sorted((x for x in chain if x["qid"] == "t/2"), key=lambda x: x["round"])
    assert [x["round"] for x in t2] == [0, 1, 2, 3]
    assert [bool(x.get("unanswered")) for x in t2] == [False, True, False, False]
    assert [x["correct"] for x in t2] == [False, False, True, True]
    assert t2[1]["response"].strip() == "Let's break it down step by step:" and t2[1]["verdict"] == "correct"
    assert counts["unanswered_refinements"] == 1 and counts["unanswered_critiques"] == 0
    results = compute_results(qs, greedy, greedy, None, None, chain, {"rounds": 3})
    assert results["unanswered"]["by_stage"]["chain_refinements"] == ["t/2/r1"]
    # a rerun reads everything back: nothing is asked again, the unanswered round included
    a2, c2 = actor("refinement"), critic("refinement")
    again, _ = chains(a2, c2, qs, greedy, tmp_path, 3, "all", critic_max_tokens=512)
    assert a2.calls == [] and c2.calls == [] and len(again) == len(chain)


def test_an_unanswered_chain_critique_stops_a_verifier_chain(tmp_path):
    qs = questions("critique")
    a, c = actor("critique"), critic("critique")
    greedy, _ = sample_questions(a, qs, tmp_path / "greedy.jsonl", SamplingParams())
    chain, counts = chains(a, c, qs, greedy, tmp_path, 2, "verifier", critic_max_tokens=64)
    t2 = [x for x in chain if x["qid"] == "t/2"]
    assert len(t2) == 1 and t2[0]["critique_unanswered"] and t2[0]["verdict"] is None  # no verdict: not refined
    assert counts["unanswered_critiques"] == 1
    results = compute_results(qs, greedy, greedy, None, None, chain, {"rounds": 2, "sequential_mode": "verifier"})
    assert results["unanswered"]["by_stage"]["chain_critiques"] == ["t/2/r0"]


def test_results_without_unanswered_items_count_zero():
    qs = questions("critique")[:2]
    pool: list[Sample] = [
        {"id": f"{q['id']}/s0", "qid": q["id"], "index": 0, "pred": "1", "correct": True, "response": "1"} for q in qs
    ]
    results = compute_results(qs, None, iter(pool), None, None, None, {})
    assert results["unanswered"]["count"] == 0 and results["unanswered"]["questions"] == []
    assert results["datasets"]["toy"]["overall"]["response_only"]["pass_at_k"][0]["value"] == 1.0


# ------------------------------------------------------------------- training loop


@pytest.mark.parametrize("case", list(CASES))
def test_training_loop_finishes_and_counts_the_unanswered_items(tmp_path, engines, case):
    engines["case"] = case
    lay = RunLayout(tmp_path / "exp")
    atomic_write_jsonl(lay.questions("train"), questions(case))
    run = ["--run-dir", str(lay.root), "--iter", "1"]
    assert sample.main([*run, *engine_args(case, "actor"), "--n", "2", "--max-tokens", "256"]) == 0
    assert critique.main([*run, *engine_args(case, "critic"), "--max-tokens", "512"]) == 0
    assert refine.main([*run, *engine_args(case, "actor"), "--n", "1", "--max-tokens", "256"]) == 0
    assert filtering.main([*run, "--use-critic", "1"]) == 0

    steps = read_manifest(lay.root)["steps"]
    counted = {
        name: steps[f"iter_1/{name}"]["counts"]["unanswered_ids"]
        for name in ("01_samples", "02_critiques", "03_refinements")
    }
    assert (
        counted
        == {
            "question": {
                "01_samples": ["t/2/s0", "t/2/s1"],
                "02_critiques": ["t/2/s0/c0", "t/2/s1/c0"],
                "03_refinements": ["t/2/s0/c0/r0", "t/2/s1/c0/r0"],
            },
            "critique": {"01_samples": [], "02_critiques": ["t/2/s0/c0", "t/2/s1/c0"], "03_refinements": []},
            "refinement": {"01_samples": [], "02_critiques": [], "03_refinements": ["t/2/s0/c0/r0", "t/2/s1/c0/r0"]},
        }[case]
    )
    for name, ids in counted.items():
        assert steps[f"iter_1/{name}"]["counts"]["unanswered"] == len(ids)

    refinements = {r["id"]: r for r in read_jsonl(lay.refinements(1))}
    assert len(refinements) == 4  # t/0 and t/2, two wrong samples each, one refinement per critique
    for rid in counted["03_refinements"]:
        assert not refinements[rid]["correct"] and not refinements[rid]["kept"]
    kept = sorted(r["qid"] for r in refinements.values() if r["kept"])
    # t/2 is fixed where its refinement prompt fits (an empty critique still asks for a new try)
    assert kept == (["t/0", "t/0"] if case != "critique" else ["t/0", "t/0", "t/2", "t/2"])
    sft = json.loads(lay.sft(1).read_text())
    assert len(sft) == 2 + len(kept)  # t/1's two right samples and the kept refinements
    assert not any(LONG_QUESTION in turn["value"] for ex in sft for turn in ex["conversations"])


def test_sharded_steps_join_their_unanswered_ids():
    parts = [{"unanswered": 1, "unanswered_ids": ["a/s0"]}, {"unanswered": 2, "unanswered_ids": ["b/s0", "b/s1"]}]
    assert merged_counts(parts) == {"unanswered": 3, "unanswered_ids": ["a/s0", "b/s0", "b/s1"]}
