"""ENGINE=ray: replicas as Ray actors, rows in order, failing rows as error rows, dead replicas
replaced. The engines inside the replicas are scripted; one local Ray instance serves the module."""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

import pytest

from selfimprove.core.errors import EngineError, UsageError
from selfimprove.core.records import Question
from selfimprove.generation.engines import Completion, SamplingParams, ScriptedEngine
from selfimprove.generation.engines.ray_pool import FailedCompletion, Replica, pick_inner
from selfimprove.generation.prompts import Prompt

ray = pytest.importorskip("ray")

from selfimprove.generation.engines import ray_engine  # noqa: E402
from selfimprove.generation.engines.ray_engine import RayEngine, plan_replicas  # noqa: E402


def ask(text: str) -> Prompt:
    return Prompt(({"role": "user", "content": text},), "")


def words_back(prompt: Prompt, k: int, marker: str | None = None) -> str:
    """Echo the question; "BAD" raises, "KILL" ends the process the first time (``marker`` says
    whether it already happened), "POISON" ends it every time."""
    text = prompt.messages[0]["content"]
    if "BAD" in text:
        raise ValueError(f"cannot answer {text}")
    if "POISON" in text:
        os._exit(3)
    if "KILL" in text and marker is not None and not Path(marker).exists():
        Path(marker).write_text("killed once")
        os._exit(3)
    return f"answer to {text} #{k}"


def scripted(marker: str | None = None) -> ScriptedEngine:
    return ScriptedEngine(functools.partial(words_back, marker=marker), name="scripted")


# ---------------------------------------------------------------------- without Ray
def test_row_error_is_an_empty_completion_that_says_why():
    e = FailedCompletion("", error="ValueError: no")
    assert e.finish_reason == "error" and e.text == ""
    assert e.record_fields() == {
        "finish_reason": "error",
        "prompt_tokens": None,
        "completion_tokens": None,
        "error": "ValueError: no",
    }


def test_replica_isolates_the_failing_prompt_of_a_batch():
    rep = Replica(None, factory=scripted)
    out = rep.generate([ask("one"), ask("BAD two"), ask("three")], SamplingParams(n=2))
    assert out[1] == "ValueError: cannot answer BAD two"
    assert [[c.text for c in cs] for cs in out if not isinstance(cs, str)] == [
        ["answer to one #0", "answer to one #1"],
        ["answer to three #0", "answer to three #1"],
    ]
    assert rep.info()["name"] == "scripted"


def test_plan_replicas_per_gpu_group_or_per_node():
    assert plan_replicas({"GPU": 8, "CPU": 64}, 1, None, 2) == (4, {"num_gpus": 2, "num_cpus": 1}, None)
    assert plan_replicas({"CPU": 2}, 2, None, 1) == (2, {"num_cpus": 1}, 1)
    assert plan_replicas({"CPU": 16}, 1, 2, 1) == (2, {"num_cpus": 1}, 8)
    assert plan_replicas({"CPU": 1}, 1, 3, 1) == (3, {"num_cpus": 1}, 1)
    with pytest.raises(UsageError, match="needs 6 GPUs"):
        plan_replicas({"GPU": 4, "CPU": 8}, 1, 3, 2)


def test_inner_engine_is_what_engine_auto_runs_in_process(monkeypatch):
    import importlib.util

    from selfimprove.generation.engines.registry import resolve_engine

    real = importlib.util.find_spec
    assert pick_inner("auto") == resolve_engine("auto")
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "vllm" else real(name, *a))
    assert pick_inner("auto") == "hf"
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object() if name == "vllm" else real(name, *a))
    assert pick_inner("auto") == "vllm"
    assert pick_inner("hf") == "hf" and pick_inner("vllm") == "vllm"


def test_bad_settings_are_refused_before_ray_starts():
    with pytest.raises(UsageError, match="settings or a factory"):
        RayEngine()
    with pytest.raises(UsageError, match="RAY_ENGINE"):
        RayEngine(factory=scripted, inner="tgi")


# ---------------------------------------------------------------------- on a local Ray instance
@pytest.fixture(scope="module")
def local_ray():
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # replicas need this module's functions
    ray_engine.connect(None, num_cpus=2)
    yield
    ray_engine.disconnect()
    assert not ray.is_initialized()


def test_rows_come_back_in_order_with_seeds_per_batch(local_ray):
    prompts = [ask(f"q{i}") for i in range(11)]
    with RayEngine(factory=scripted, replicas=2, rows_per_call=3) as engine:
        assert engine.replicas == 2 and engine.name == "scripted"
        out = engine.generate(prompts, SamplingParams(n=2, seed=5))
        assert engine.count_prompt_tokens(prompts[:2]) == [1, 1]
    assert [[c.text for c in cs] for cs in out] == [[f"answer to q{i} #0", f"answer to q{i} #1"] for i in range(11)]
    with pytest.raises(EngineError, match="closed"):
        engine.generate(prompts, SamplingParams())


def test_a_failing_row_becomes_an_error_row_and_its_batch_survives(local_ray):
    prompts = [ask("a"), ask("BAD b"), ask("c")]
    with RayEngine(factory=scripted, replicas=2, rows_per_call=3) as engine:
        out = engine.generate(prompts, SamplingParams(n=1))
        pool = engine.pool
        assert pool.error_rows == 1 and pool.retried_rows == 1  # tried on the second replica first
    assert out[0][0].text == "answer to a #0" and out[2][0].text == "answer to c #0"
    assert isinstance(out[1][0], FailedCompletion) and "cannot answer BAD b" in out[1][0].error


def test_rows_of_a_killed_replica_run_again_and_a_row_that_always_kills_is_an_error_row(local_ray, tmp_path):
    marker = str(tmp_path / "killed")
    prompts = [ask(f"q{i}") for i in range(6)] + [ask("KILL once"), ask("q7")]
    with RayEngine(factory=functools.partial(scripted, marker), replicas=2, rows_per_call=2) as engine:
        out = engine.generate(prompts, SamplingParams(n=1))
        assert Path(marker).exists()
        assert [cs[0].text for cs in out] == [f"answer to {p.messages[0]['content']} #0" for p in prompts]
        assert engine.pool.retried_rows >= 2 and engine.pool.error_rows == 0
        out = engine.generate([ask("x"), ask("POISON"), ask("y")], SamplingParams(n=1))
        assert [c.text for c in out[0] + out[2]] == ["answer to x #0", "answer to y #0"]
        assert isinstance(out[1][0], FailedCompletion) and "died" in out[1][0].error
        # the replicas were restarted: the engine still answers
        assert engine.generate([ask("z")], SamplingParams(n=1))[0][0].text == "answer to z #0"


def test_the_sample_stage_loop_writes_every_id_once_through_ray(local_ray, tmp_path):
    """Error rows are not written: the loop lists them beside the output and fails the step after
    writing everything else, and a rerun generates only them."""
    from selfimprove.core.io import read_jsonl
    from selfimprove.generation.tasks import sample_questions

    questions: list[Question] = [
        {"id": f"q{i}", "dataset_type": "gsm8k", "question": f"What is {i}?", "gold": str(i)} for i in range(5)
    ]
    questions.append({"id": "qbad", "dataset_type": "gsm8k", "question": "BAD question", "gold": "1"})
    out = tmp_path / "samples.jsonl"
    with RayEngine(factory=scripted, replicas=2, rows_per_call=2) as engine:
        with pytest.raises(EngineError, match="2 record.s. of .* failed at the engine"):
            sample_questions(engine, questions, out, SamplingParams(n=2), chunk_size=4)
    assert sorted(r["id"] for r in read_jsonl(out)) == sorted(f"q{i}/s{j}" for i in range(5) for j in range(2))
    errors = read_jsonl(tmp_path / "samples.errors.jsonl")
    assert [e["id"] for e in errors] == ["qbad/s0", "qbad/s1"] and "cannot answer" in errors[0]["error"]
    questions[-1]["question"] = "a fixed question"
    with RayEngine(factory=scripted, replicas=2, rows_per_call=2) as engine:
        _, counts = sample_questions(engine, questions, out, SamplingParams(n=2), chunk_size=4)
    assert counts["generated"] == 2 and counts["skipped_done"] == 5
    ids = [r["id"] for r in read_jsonl(out)]
    assert len(ids) == len(set(ids)) == 12 and not (tmp_path / "samples.errors.jsonl").exists()


def test_completion_subclass_round_trips_through_ray(local_ray):
    ref = ray.put([FailedCompletion("", error="x"), Completion("t")])
    back = ray.get(ref)
    assert back[0].error == "x" and back[1].text == "t"
