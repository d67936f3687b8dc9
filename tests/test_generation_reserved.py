"""reserved_new_data bounds the kept refinements per critiqued sample (the released code's rule),
or per question when asked."""

from __future__ import annotations

import pytest

from selfimprove.core.records import Critique, Refinement, Sample
from selfimprove.generation.engines import SamplingParams, ScriptedEngine
from selfimprove.generation.prompts import SOLUTION_PREFIX
from selfimprove.generation.tasks import mark_kept, refine_critiques


def _ref(sample: int, crit: int, k: int, qid: str = "q", correct: bool = True, shortcut: bool = True) -> Refinement:
    return {
        "id": f"{qid}/s{sample}/c{crit}/r{k}",
        "sample_id": f"{qid}/s{sample}",
        "qid": qid,
        "correct": correct,
        "shortcut": shortcut,
    }


def kept(refs: list[Refinement]) -> list[str]:
    return sorted(r["id"] for r in refs if r["kept"])


def test_per_sample_is_the_default():
    # two wrong samples of one question, two right refinements each
    refs = [_ref(s, 0, k) for s in (0, 1) for k in (0, 1)]
    assert kept(mark_kept([{**r} for r in refs], 1)) == ["q/s0/c0/r0", "q/s1/c0/r0"]
    assert kept(mark_kept([{**r} for r in refs], 1, "question")) == ["q/s0/c0/r0"]
    assert kept(mark_kept([{**r} for r in refs], 2)) == [r["id"] for r in refs]
    assert kept(mark_kept([{**r} for r in refs], 2, "question")) == ["q/s0/c0/r0", "q/s0/c0/r1"]


def test_per_sample_budget_is_shared_by_its_critiques_and_skips_rejected():
    refs = [
        _ref(0, 0, 0, correct=False),
        _ref(0, 0, 1, shortcut=False),  # right, but a shortcut
        _ref(0, 1, 0),
        _ref(0, 1, 1),
        _ref(3, 0, 0, qid="other"),
    ]
    assert kept(mark_kept([{**r} for r in refs], 1)) == ["other/s3/c0/r0", "q/s0/c1/r0"]
    assert kept(mark_kept(list(reversed([{**r} for r in refs])), 1)) == ["other/s3/c0/r0", "q/s0/c1/r0"]
    with pytest.raises(ValueError, match="reserved_scope"):
        mark_kept([{**r} for r in refs], 1, "critique")


def test_refine_critiques_passes_the_scope(tmp_path):
    samples: dict[str, Sample] = {
        f"q/s{i}": {
            "id": f"q/s{i}",
            "qid": "q",
            "question": "What is 3 + 4?",
            "response": SOLUTION_PREFIX + f"3 + 4 = {8 + i}.\nThe answer is {8 + i}.",
            "gold": "7",
            "dataset_type": "gsm8k",
        }
        for i in range(2)
    }
    crits: list[Critique] = [
        {"id": f"{sid}/c0", "sample_id": sid, "critique": "Correctness of the final answer: Wrong"} for sid in samples
    ]
    actor = ScriptedEngine(lambda p, k: "3 + 4 = 7.\nThe answer is 7.")
    refs, counts = refine_critiques(actor, crits, samples, tmp_path / "a.jsonl", SamplingParams(n=2))
    assert kept(refs) == ["q/s0/c0/r0", "q/s1/c0/r0"] and counts["kept"] == 2
    refs, counts = refine_critiques(
        actor, crits, samples, tmp_path / "b.jsonl", SamplingParams(n=2), reserved_scope="question"
    )
    assert kept(refs) == ["q/s0/c0/r0"] and counts["kept"] == 1
    with pytest.raises(ValueError, match="reserved_scope"):
        refine_critiques(actor, crits, samples, tmp_path / "c.jsonl", SamplingParams(), reserved_scope="all")
    assert not (tmp_path / "c.jsonl").exists()  # refused before generating
