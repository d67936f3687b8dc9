"""--shard i/n and --merge-shards n: shard jobs write only their own files, the merge (one writer)
gives exactly what an unsharded run gives and records the step; unfinished or altered shards are
refused; a shard continues after an interruption; a claim keeps two jobs off one shard."""

from __future__ import annotations

import json
import logging
import os
import socket
import time

import pytest

from selfimprove.core.errors import RunLocked, StepError, UsageError
from selfimprove.core.io import atomic_write_jsonl, read_jsonl
from selfimprove.core.layout import RunLayout
from selfimprove.core.manifest import read as read_manifest
from selfimprove.generation.engines import ScriptedEngine
from selfimprove.generation.shard import Claim, Shard, merged_counts, record_key, shard_dir, shard_file
from selfimprove.stages import refine, sample

QUESTIONS = [
    {
        "id": f"toy/train/{i}",
        "dataset": "toy",
        "dataset_type": "gsm8k",
        "question": f"Add {i} and 2.",
        "gold": str(i + 2),
    }
    for i in range(9)
]


def answer(prompt, k: int) -> str:
    """Right for even questions on the first sample, wrong otherwise (deterministic per prompt)."""
    text = prompt.messages[0]["content"]
    i = int(text.split()[1])
    return f"{i} plus 2.\nThe answer is {i + 2 if (i % 2 == 0 and k == 0) else i + 7}."


@pytest.fixture
def engines(monkeypatch, caplog):
    monkeypatch.delenv("MATHCRITIQUE_RUN_LOCK", raising=False)
    monkeypatch.delenv("SHARD", raising=False)
    caplog.set_level(logging.INFO, logger="selfimprove")
    built: list[ScriptedEngine] = []

    def make_engine(**kw):
        built.append(ScriptedEngine(answer))
        return built[-1]

    monkeypatch.setattr(sample, "make_engine", make_engine)
    monkeypatch.setattr(refine, "make_engine", make_engine)
    return built


def new_run(tmp_path, name: str) -> RunLayout:
    lay = RunLayout(tmp_path / name)
    atomic_write_jsonl(lay.questions("train"), QUESTIONS)
    return lay


def sample_stage(lay: RunLayout, *extra: str) -> int:
    return sample.main(
        [
            "--run-dir",
            str(lay.root),
            "--iter",
            "1",
            "--actor-model",
            "scripted",
            "--n",
            "2",
            "--chunk-size",
            "2",
            *extra,
        ]
    )


def by_id(path) -> dict:
    return {r["id"]: r for r in read_jsonl(path)}


# ---------------------------------------------------------------------- the partition
def test_shard_parsing():
    assert Shard.parse("1/3") == Shard(1, 3) and Shard.parse(" 0 / 1 ") == Shard(0, 1)
    assert Shard.parse("") is None and Shard.parse(None) is None
    for bad in ("3/3", "-1/2", "1", "a/b", "1/0"):
        with pytest.raises(UsageError, match="expected i/n"):
            Shard.parse(bad)


def test_every_question_belongs_to_exactly_one_shard_and_its_records_follow_it():
    keys = [f"gsm8k/test/{i}" for i in range(200)]
    owners = [[s for s in range(4) if Shard(s, 4).owns(k)] for k in keys]
    assert all(len(o) == 1 for o in owners)
    assert all(sum(1 for o in owners if o == [s]) > 20 for s in range(4))  # roughly balanced
    assert record_key({"id": "q/s0/c1", "qid": "q"}) == "q" == record_key({"id": "q"})


def test_shard_files_sit_next_to_the_output(tmp_path):
    out = tmp_path / "iter_1" / "01_samples.jsonl"
    assert shard_dir(out) == tmp_path / "iter_1" / "01_samples.shards"
    assert shard_file(out, Shard(2, 5)) == tmp_path / "iter_1" / "01_samples.shards" / "2-of-5.jsonl"


def test_counts_add_up_and_accuracy_is_recomputed():
    parts = [
        {"samples": 4, "correct": 1, "accuracy": 0.25, "model": "m"},
        {"samples": 2, "correct": 2, "accuracy": 1.0, "model": "m"},
    ]
    assert merged_counts(parts) == {"samples": 6, "correct": 3, "model": "m", "accuracy": 0.5}


# ---------------------------------------------------------------------- shards + merge == one run
def test_two_shards_and_a_merge_equal_an_unsharded_run(tmp_path, engines, caplog):
    whole, split = new_run(tmp_path, "whole"), new_run(tmp_path, "split")
    assert sample_stage(whole) == 0
    assert sample_stage(split, "--shard", "0/2") == 0
    assert sample_stage(split, "--shard", "1/2") == 0
    assert not split.manifest.exists()  # shard jobs never write the manifest
    assert not split.samples(1).exists()
    asked = [len(c[0]) for e in engines[1:] for c in e.calls]
    assert sum(asked) == len(QUESTIONS)  # each question generated once, in one shard

    assert sample_stage(split, "--merge-shards", "2") == 0
    assert by_id(split.samples(1)) == by_id(whole.samples(1))
    ids = [r["id"] for r in read_jsonl(split.samples(1))]
    assert len(ids) == len(set(ids)) == 2 * len(QUESTIONS)
    one, merged = (read_manifest(x.root)["steps"]["iter_1/01_samples"] for x in (whole, split))
    assert merged["status"] == "done"
    assert {**merged["settings"], "questions": None} == {**one["settings"], "questions": None}
    for k in ("samples", "correct", "accuracy", "questions_with_correct", "generated", "items"):
        assert merged["counts"][k] == one["counts"][k], k
    assert merged["counts"]["shards"] == 2
    # the drivers' unsharded command now finds the step done; so does a late shard job
    caplog.clear()
    assert sample_stage(split) == 0 and sample_stage(split, "--shard", "1/2") == 0
    assert caplog.text.count("already done, skipping") == 2 and len(engines) == 3


def test_shards_that_own_no_question_merge_too(tmp_path, engines):
    lay = RunLayout(tmp_path / "few")
    atomic_write_jsonl(lay.questions("train"), QUESTIONS[:2])
    for i in range(6):
        assert sample_stage(lay, "--shard", f"{i}/6") == 0
    assert sample_stage(lay, "--merge-shards", "6") == 0
    assert sorted(by_id(lay.samples(1))) == sorted(f"{q['id']}/s{j}" for q in QUESTIONS[:2] for j in range(2))


def test_the_shard_knob_selects_a_shard(tmp_path, engines, monkeypatch):
    lay = new_run(tmp_path, "knob")
    monkeypatch.setenv("SHARD", "1/3")
    assert sample_stage(lay) == 0
    mine = read_jsonl(shard_file(lay.samples(1), Shard(1, 3)))
    assert mine and all(Shard(1, 3).owns(r["qid"]) for r in mine)


def test_merge_refuses_unfinished_or_altered_shards_and_writes_nothing(tmp_path, engines):
    lay = new_run(tmp_path, "partial")
    assert sample_stage(lay, "--shard", "0/2") == 0
    with pytest.raises(StepError, match=r"shard 1/2 is not started"):
        sample_stage(lay, "--merge-shards", "2")
    assert sample_stage(lay, "--shard", "1/2") == 0
    f = shard_file(lay.samples(1), Shard(1, 2))
    lines = f.read_text().splitlines()
    f.write_text("\n".join(lines[:-1]) + "\n")  # as if the file were not fully visible yet
    with pytest.raises(StepError, match=r"1-of-2.jsonl has \d+ records, \d+ when the step finished"):
        sample_stage(lay, "--merge-shards", "2")
    assert not lay.samples(1).exists() and not lay.manifest.exists()
    f.write_text("\n".join(lines) + "\n")
    assert sample_stage(lay, "--merge-shards", "2") == 0 and lay.samples(1).exists()


def test_an_interrupted_shard_continues_without_duplicates(tmp_path, engines, monkeypatch):
    lay = new_run(tmp_path, "resume")
    calls = {"n": 0}

    def flaky(**kw):
        def respond(prompt, k):
            calls["n"] += 1
            if calls["n"] > 4:
                raise KeyboardInterrupt  # the job is killed after two chunks
            return answer(prompt, k)

        return ScriptedEngine(respond)

    monkeypatch.setattr(sample, "make_engine", flaky)
    with pytest.raises(KeyboardInterrupt):
        sample_stage(lay, "--shard", "0/2")
    f = shard_file(lay.samples(1), Shard(0, 2))
    status = json.loads((shard_dir(lay.samples(1)) / "0-of-2.status.json").read_text())
    assert status["status"] == "failed" and len(read_jsonl(f)) == 4
    assert not (shard_dir(lay.samples(1)) / "0-of-2.claim").exists()  # released on the way out
    calls["n"] = -1000
    assert sample_stage(lay, "--shard", "0/2") == 0
    ids = [r["id"] for r in read_jsonl(f)]
    owned = [q for q in QUESTIONS if Shard(0, 2).owns(q["id"])]
    assert sorted(ids) == sorted(f"{q['id']}/s{j}" for q in owned for j in range(2))


def test_a_shard_started_after_an_unsharded_attempt_keeps_its_records(tmp_path, engines):
    lay = new_run(tmp_path, "switch")
    assert sample_stage(lay) == 0
    atomic_write_jsonl(lay.questions("train"), QUESTIONS + [dict(QUESTIONS[0], id="toy/train/extra")])
    before = len(engines)
    for i in range(2):
        assert sample_stage(lay, "--shard", f"{i}/2") == 0
    asked = sum(len(c[0]) for e in engines[before:] for c in e.calls)
    assert asked == 1  # only the new question was generated
    assert sample_stage(lay, "--merge-shards", "2") == 0
    assert len(read_jsonl(lay.samples(1))) == 2 * (len(QUESTIONS) + 1)


def test_sharded_refinements_keep_the_same_refinements(tmp_path, engines):
    """reserved_new_data is counted per sample: a shard holds all of a question's refinements."""
    runs = {}
    for name in ("whole", "split"):
        lay = new_run(tmp_path, name)
        assert sample_stage(lay) == 0
        wrong = [s for s in read_jsonl(lay.samples(1)) if not s["correct"]]
        atomic_write_jsonl(
            lay.critiques(1),
            [
                {"id": f"{s['id']}/c0", "sample_id": s["id"], "qid": s["qid"], "critique": "Step 1 is wrong."}
                for s in wrong
            ],
        )
        runs[name] = lay
    args = ["--actor-model", "scripted", "--iter", "1", "--n", "3", "--reserved-new-data", "1", "--chunk-size", "3"]
    assert refine.main(["--run-dir", str(runs["whole"].root), *args]) == 0
    for i in range(3):
        assert refine.main(["--run-dir", str(runs["split"].root), *args, "--shard", f"{i}/3"]) == 0
    assert refine.main(["--run-dir", str(runs["split"].root), *args, "--merge-shards", "3"]) == 0
    whole, split = by_id(runs["whole"].refinements(1)), by_id(runs["split"].refinements(1))
    assert whole == split and any(r["kept"] for r in whole.values())


# ---------------------------------------------------------------------- claims
def test_a_claim_keeps_a_second_job_off_the_shard_until_it_is_stale(tmp_path):
    path = tmp_path / "0-of-2.claim"
    path.write_text(json.dumps({"pid": 1, "host": "node-elsewhere", "started": "then", "token": "x"}))
    with pytest.raises(RunLocked, match="pid 1 on node-elsewhere"):
        Claim(path, "shard 0/2").acquire()
    old = time.time() - 3600
    os.utime(path, (old, old))  # its heartbeat stopped an hour ago
    c = Claim(path, "shard 0/2")
    c.acquire()
    assert json.loads(path.read_text())["host"] == socket.gethostname()
    with pytest.raises(RunLocked):
        Claim(path, "shard 0/2").acquire()  # now ours, and alive
    c.release()
    assert not path.exists()


def test_a_claim_of_a_dead_process_on_this_host_is_taken_over(tmp_path):
    path = tmp_path / "c.claim"
    path.write_text(json.dumps({"pid": 2**22 + 12345, "host": socket.gethostname(), "token": "x"}))
    c = Claim(path, "shard")
    c.acquire()
    c.release()
    assert not path.exists()
