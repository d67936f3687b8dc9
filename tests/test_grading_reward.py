"""The reward entry point for RL frameworks (verl / OpenRLHF call styles)."""

from __future__ import annotations

from typing import Any

import pytest

from selfimprove.grading import equiv
from selfimprove.grading.reward import compute_score, dataset_type_of, reward_func


def test_positional_call_like_verl_math_scorers():
    assert compute_score("Adding up, the answer is $\\boxed{\\frac12}$.", "0.5") == 1.0
    assert compute_score("Adding up, the answer is $\\boxed{\\frac13}$.", "0.5") == 0.0


def test_keyword_call_like_verl_custom_reward_function():
    kwargs: dict[str, Any] = {
        "data_source": "openai/gsm8k",
        "solution_str": "She pays 3 * 6 = 18 dollars.\n#### 18",
        "ground_truth": "18",
        "extra_info": {"index": 3},
    }
    assert compute_score(**kwargs) == 1.0
    assert compute_score(**{**kwargs, "ground_truth": "Two packs cost 2*9=18 dollars.\n#### 19"}) == 0.0


def test_custom_scores_and_details():
    assert compute_score("\\boxed{2}", "3", correct_score=1.0, wrong_score=-1.0) == -1.0
    detail = compute_score("\\boxed{7}", "7", return_dict=True)
    assert detail == {"score": 1.0, "acc": True, "pred": "7", "status": "ok"}


def test_an_undecided_grade_scores_as_wrong_and_says_so(monkeypatch):
    monkeypatch.setattr(equiv, "SYMBOLIC_CPU_BUDGET", 0.0)
    equiv.clear_cache()
    detail = compute_score("\\boxed{\\sum_{k=1}^{n} k}", "\\frac{n(n+1)}{2}", return_dict=True)
    assert isinstance(detail, dict)
    assert detail["score"] == 0.0 and detail["status"] == "timeout"


@pytest.mark.parametrize(
    "source,extra,expected",
    [("openai/gsm8k", None, "gsm8k"), ("lighteval/MATH", None, "math"), (None, {"dataset_type": "gsm8k"}, "gsm8k")],
)
def test_dataset_type_of(source, extra, expected):
    assert dataset_type_of(source, extra) == expected


def test_openrlhf_style_batch():
    prompts = ["Q: 2+2?\nA:", "Q: 3+3?\nA:"]
    queries = [prompts[0] + " It is \\boxed{4}.", prompts[1] + " It is \\boxed{7}."]
    assert reward_func(queries, prompts, ["4", "6"]) == [1.0, 0.0]
