"""The knobs of the one-player driver (``selfimprove/selftalk-all.sh``): self-talk chains,
self-correction trajectories and their evaluation. Shared knobs (models, sampling, the critic,
``MAX_STEPS``) live in :class:`~selfimprove.core.config.RunKnobs` and
:class:`~selfimprove.core.knobs_critic.CriticKnobs`."""

from __future__ import annotations

from dataclasses import dataclass

from selfimprove.core.knob import (
    MAX_ITERATIONS,
    MAX_PER_ITEM,
    MAX_TOKENS,
    ONLY_SELFTALK,
    as_flag,
    as_int,
    at_least,
    knob,
    one_of,
)

_S = ONLY_SELFTALK


@dataclass(frozen=True)
class SelftalkKnobs:
    eval_sample_num: int = knob(
        "eval_sample_num",
        2,
        "N: pool per test question (Pass@K, MV@K, K = 1, 2, 4, ..., N)",
        parse=as_int,
        check=at_least(1, MAX_PER_ITEM, "samples per question"),
        scopes=_S,
    )
    selftalk_max_tokens: int = knob(
        "selftalk_max_tokens",
        384,
        "new tokens per self-talk answer at test time",
        parse=as_int,
        check=at_least(1, MAX_TOKENS, "tokens"),
        scopes=_S,
    )
    max_rounds: int = knob(
        "MAX_ROUNDS",
        3,
        "rewrites of one step before a chain is given up",
        parse=as_int,
        check=at_least(0, MAX_ITERATIONS, "rewrites"),
        scopes=_S,
    )
    step_max_tokens: int = knob(
        "STEP_MAX_TOKENS",
        48,
        "new tokens per generated or rewritten step",
        parse=as_int,
        check=at_least(1, MAX_TOKENS, "tokens"),
        scopes=_S,
    )
    force_answer: bool = knob(
        "FORCE_ANSWER",
        True,
        '1: the last allowed step starts with "The answer is" (0: such chains run out)',
        parse=as_flag,
        scopes=_S,
    )
    judge: str = knob(
        "JUDGE",
        "programmatic",
        "step judge and critic: programmatic (no model, GSM8K/synthetic) or model (critic_model_name)",
        check=one_of("programmatic", "model"),
        scopes=_S,
    )
    smoother: str = knob(
        "SMOOTHER",
        "template",
        "template (deterministic) or llm (smoother_model_name rewrites the chain)",
        check=one_of("template", "llm"),
        scopes=_S,
    )
    smoother_model_name: str = knob(
        "smoother_model_name",
        None,
        "model of the llm smoother (default: critic_model_name)",
        derive=lambda v: v["critic_model_name"],
        scopes=_S,
    )
    sft_model: str = knob(
        "SFT_MODEL", "", "an SFT model to use instead of training one (e.g. runs/demo/iter_0/actor)", scopes=_S
    )
    selfcorrect_sft_data: bool = knob(
        "SELFCORRECT_SFT_DATA",
        True,
        "1: the self-correction model also trains on the SFT data (reference solutions), as in the paper; "
        "0: on its trajectories only",
        parse=as_flag,
        scopes=_S,
    )
