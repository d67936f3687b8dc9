"""The critic stages' command lines chained on a run directory, with scripted engines registered
under a name (no model): files, manifest steps, the skip on rerun, and refused bad flags."""

from __future__ import annotations

import json
import logging

import pytest

from selfimprove.core.errors import UsageError
from selfimprove.core.io import atomic_write_jsonl, read_jsonl
from selfimprove.generation.engines import ScriptedEngine, register_engine
from selfimprove.generation.prompts import SOLUTION_PREFIX
from selfimprove.stages import critic_annotate, critic_dataset, critic_eval, critic_filter, critic_paths

QUESTIONS = [
    {
        "id": f"toy/{split}/{i}",
        "dataset": "toy",
        "dataset_type": "gsm8k",
        "question": f"Ava has {a} pens and buys {b} more. How many pens does Ava have?",
        "reference": f"Ava has {a} + {b} = <<{a}+{b}={a + b}>>{a + b} pens.\n#### {a + b}",
        "gold": str(a + b),
        "steps": [{"expr": f"{a}+{b}", "value": a + b}],
    }
    for split, rows in (("train", ((3, 4), (10, 5), (7, 7))), ("test", ((2, 9), (6, 8), (12, 3))))
    for i, (a, b) in enumerate(rows)
]


class Scripted(ScriptedEngine):
    """The actor answers every question with 1 from scratch and copies the critique's answer when
    refining; the "critic" folder says every solution is wrong."""

    @classmethod
    def from_settings(cls, settings):
        kind = settings.model.rstrip("/").rsplit("/", 1)[-1]
        return cls(cls.respond_as(kind), name=kind)

    @staticmethod
    def respond_as(kind):
        def respond(prompt, k):
            text = prompt.messages[-1]["content"]
            if kind == "critic":
                return "Step sentence: x\nCorrectness of the step: Wrong\nExplanation: .\n\nCorrectness of the final answer: Wrong\nExplanation: ."
            if "should be" in text:  # a refinement request quoting the programmatic critique
                gold = text.rsplit("should be ", 1)[1].split(",")[0].split(".")[0]
                return f"The answer is {gold}."
            if prompt.prefix == SOLUTION_PREFIX:
                return "Ava has 1 pen.\nThe answer is 1."
            return "The answer is 99."

        return respond


@pytest.fixture
def run(tmp_path):
    register_engine("scripted-test", Scripted)
    for kind in ("actor", "critic"):
        (tmp_path / kind).mkdir()
        (tmp_path / kind / "config.json").write_text("{}")
    atomic_write_jsonl(tmp_path / "train.jsonl", [q for q in QUESTIONS if "/train/" in q["id"]])
    atomic_write_jsonl(tmp_path / "test.jsonl", [q for q in QUESTIONS if "/test/" in q["id"]])
    (tmp_path / "pb").mkdir()
    pb = [
        {
            "id": "p0",
            "problem": "What is 1 + 1?",
            "steps": ["1 + 1 = 2.", "The answer is 2."],
            "label": -1,
            "final_answer_correct": True,
        },
        {
            "id": "p1",
            "problem": "What is 2 + 2?",
            "steps": ["2 + 2 = 5.", "The answer is 5."],
            "label": 0,
            "final_answer_correct": False,
        },
    ]
    (tmp_path / "pb" / "gsm8k.json").write_text(json.dumps(pb))
    return tmp_path


def engine(kind, role, d):
    return [f"--{role}-model", str(d / kind), f"--{role}-engine", "scripted-test"]


def test_stages_chain_on_a_run_directory(run, caplog):
    r, c = str(run), run / "critic"
    common = ["--run-dir", r, "--grade-workers", "0"]
    paths_args = ["--strategies", "rg1,rg3,reference", "--samples", "1", "--rg3-per-question", "1"]
    assert (
        critic_paths.main(
            [
                "--questions",
                str(run / "train.jsonl"),
                "--out",
                str(c / "01.jsonl"),
                *paths_args,
                *engine("actor", "actor", run),
                *common,
            ]
        )
        == 0
    )
    assert critic_annotate.main(["--paths", str(c / "01.jsonl"), "--out", str(c / "02.jsonl"), "--run-dir", r]) == 0
    assert (
        critic_filter.main(
            [
                "--paths",
                str(c / "01.jsonl"),
                "--annotations",
                str(c / "02.jsonl"),
                "--out",
                str(c / "03.jsonl"),
                "--refinements",
                str(c / "03r.jsonl"),
                "--n",
                "2",
                "--k",
                "1",
                *engine("actor", "actor", run),
                *common,
            ]
        )
        == 0
    )
    assert (
        critic_dataset.main(
            [
                "--paths",
                str(c / "01.jsonl"),
                "--annotations",
                str(c / "02.jsonl"),
                "--decisions",
                str(c / "03.jsonl"),
                "--out-dir",
                str(c),
                "--run-dir",
                r,
            ]
        )
        == 0
    )
    eval_args = [
        "--questions",
        str(run / "test.jsonl"),
        "--out-dir",
        str(c / "eval"),
        *paths_args,
        "--critic",
        "none=none",
        "--critic",
        f"trained={run / 'critic'}",
        "--critic",
        "programmatic=programmatic",
        "--critic-engine",
        "scripted-test",
        "--per-class",
        "3",
        "--processbench",
        str(run / "pb"),
        *engine("actor", "actor", run),
        *common,
    ]
    assert critic_eval.main(eval_args) == 0

    paths = read_jsonl(c / "01.jsonl")
    assert len(paths) == 9 and {p["strategy"] for p in paths} == {"rg1", "rg3", "reference"}
    decisions = {d["path_id"]: d for d in read_jsonl(c / "03.jsonl")}
    # the actor copies the programmatic critique's answer: every wrong path's critique passes
    assert all(d["kept"] for d in decisions.values())
    assert all(d["n_correct"] == 2 for d in decisions.values() if not d["path_correct"])
    stats = json.loads((c / "stats.json").read_text())
    assert stats["per_verdict"] == {"correct": 3, "wrong": 3}  # balanced from 3 correct, 6 wrong
    results = json.loads((c / "eval" / "results.json").read_text())
    trained, prog = results["critics"]["trained"], results["critics"]["programmatic"]
    assert results["responses"]["n"] == 6
    assert (trained["discrimination"], trained["format_compliance"], trained["helpfulness"]) == (0.5, 1.0, 0.0)
    assert (prog["discrimination"], prog["helpfulness"], prog["accuracy_after_refinement"]) == (1.0, 1.0, 1.0)
    assert results["critics"]["none"]["accuracy_after_refinement"] == 0.5
    # ProcessBench: only the model critic; it calls everything wrong, blaming the first step
    pb = results["processbench"]
    assert (pb["split"], pb["n"], list(pb["critics"])) == ("gsm8k", 2, ["trained"])
    assert pb["critics"]["trained"]["f1_accuracy_erroneous"] == 1.0 and pb["critics"]["trained"]["f1"] == 0.0
    assert "## ProcessBench (gsm8k, 2 rows" in (c / "eval" / "report.md").read_text()
    steps = json.loads((run / "manifest.json").read_text())["steps"]
    for name in (
        "critic/01_flawed_paths",
        "critic/02_annotations",
        "critic/03_mc_filter",
        "critic/04_dataset",
        "critic/06_eval",
    ):
        assert steps[name]["status"] == "done", name
    # a rerun skips, and other settings are refused
    caplog.clear()
    caplog.set_level(logging.INFO, logger="selfimprove")
    assert critic_eval.main(eval_args) == 0
    assert "already done" in caplog.text
    with pytest.raises(UsageError):
        critic_eval.main([*eval_args, "--per-class", "0"])


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--strategies", "rg7"], "strategies"),
        (["--mistake-types", "typo"], "mistake type"),
        (["--samples", "0"], "--samples"),
        (["--keep-correct", "-1"], "--keep-correct"),
    ],
)
def test_paths_stage_refuses_bad_flags(run, argv, message):
    with pytest.raises(UsageError, match=message):
        critic_paths.main(
            [
                "--questions",
                str(run / "train.jsonl"),
                "--out",
                str(run / "p.jsonl"),
                *engine("actor", "actor", run),
                *argv,
            ]
        )


def test_filter_and_annotate_refuse_bad_flags(run):
    p = run / "p.jsonl"
    atomic_write_jsonl(p, [])
    with pytest.raises(UsageError, match="MC_K=2 is more than MC_N=1"):
        critic_filter.main(
            [
                "--paths",
                str(p),
                "--annotations",
                str(p),
                "--out",
                str(p),
                "--refinements",
                str(p),
                "--n",
                "1",
                "--k",
                "2",
                *engine("actor", "actor", run),
            ]
        )
    with pytest.raises(UsageError, match="annotator-model"):
        critic_annotate.main(["--paths", str(p), "--out", str(p), "--annotator", "model"])
