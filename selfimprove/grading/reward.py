"""Reward functions for RL frameworks, on top of the ``default`` grader.

verl (``custom_reward_function.path=.../selfimprove/grading/reward.py``, ``name=compute_score``)
calls ``compute_score(data_source=..., solution_str=..., ground_truth=..., extra_info=...)``;
the positional form ``compute_score(solution_str, ground_truth)`` of verl's built-in math
scorers works too::

    from selfimprove.grading.reward import compute_score
    compute_score("... so the answer is $\\boxed{\\frac12}$", "0.5")          # 1.0

OpenRLHF's remote/custom reward (``--remote_rm_url path/to/reward.py``) calls
``reward_func(queries, prompts, labels)``; here it returns a list of floats (wrap it in
``torch.tensor`` where a tensor is wanted), one per query, with the prompt stripped from the
front of each query.

The dataset type (GSM8K or MATH answer conventions) comes from ``extra_info["dataset_type"]``
when given, else from ``data_source`` (a name containing ``gsm8k`` means GSM8K), else MATH.
A grade whose status is not ``ok`` (``timeout`` or ``error:<Kind>``) scores ``wrong_score``,
like a wrong answer; ``return_dict=True`` returns ``{"score", "acc", "pred", "status"}`` so the
framework can log how many rewards were not decided (verl keeps the extra keys).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from selfimprove.grading.api import grade

__all__ = ["compute_score", "reward_func", "dataset_type_of"]


def dataset_type_of(data_source: str | None = None, extra_info: Mapping[str, Any] | None = None) -> str:
    """``"gsm8k"`` or ``"math"`` for a sample, from ``extra_info`` or its ``data_source`` name."""
    if extra_info and extra_info.get("dataset_type") in ("gsm8k", "math"):
        return str(extra_info["dataset_type"])
    if data_source and "gsm8k" in str(data_source).lower():
        return "gsm8k"
    return "math"


def compute_score(
    solution_str: str,
    ground_truth: str,
    data_source: str | None = None,
    extra_info: Mapping[str, Any] | None = None,
    *,
    correct_score: float = 1.0,
    wrong_score: float = 0.0,
    rel_tol: float | None = None,
    ordered_lists: bool = False,
    units: str = "convert",
    return_dict: bool = False,
    **_: Any,
) -> float | dict[str, Any]:
    """``correct_score`` when ``solution_str`` states an answer equivalent to ``ground_truth``
    (a bare answer or a full reference solution), else ``wrong_score``. Never raises."""
    dtype = dataset_type_of(data_source, extra_info)
    try:
        g = grade(
            str(solution_str), str(ground_truth), dtype, rel_tol=rel_tol, ordered_lists=ordered_lists, units=units
        )
        correct, pred, status = g.correct and g.ok, g.pred, g.status
    except Exception as exc:  # unknown types and the like: a reward must come back
        correct, pred, status = False, None, f"error:{type(exc).__name__}"
    score = correct_score if correct else wrong_score
    if return_dict:
        return {"score": score, "acc": bool(correct), "pred": pred, "status": status}
    return score


def reward_func(queries: Sequence[str], prompts: Sequence[str], labels: Sequence[str], **kwargs: Any) -> list[float]:
    """OpenRLHF-style batch reward: one float per query (prompt + response) against its label."""
    out: list[float] = []
    for query, prompt, label in zip(queries, prompts, labels):
        response = query[len(prompt) :] if prompt and query.startswith(prompt) else query
        score = compute_score(response, label, kwargs.get("data_source"))
        out.append(float(score) if not isinstance(score, dict) else float(score["score"]))
    return out
