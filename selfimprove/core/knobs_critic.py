"""The knobs of the critique-model driver (``selfimprove/critic-all.sh``): AutoMathCritique data,
critic fine-tuning and the critic comparison. The knobs it shares with the other drivers
(models, engines, sampling, training profile) live in :class:`~selfimprove.core.config.RunKnobs`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from selfimprove.core.knob import (
    CRITIC,
    ONLY_CRITIC,
    SELFTALK,
    as_float,
    as_int,
    as_words,
    at_least,
    key_values,
    knob,
    one_of,
)

_C = ONLY_CRITIC
STRATEGIES = ("rg1", "rg2", "rg3", "reference")  # the flawed-path strategies (selfimprove/critic/paths.py)
EVAL_CRITICS = ("none", "base", "trained", "likelihood", "programmatic", "api")
PROCESSBENCH_SPLITS = ("gsm8k", "math", "olympiadbench", "omnimath")
CRITIC_TRAIN_ARGS = (
    "num_train_epochs=3 max_steps=-1 per_device_train_batch_size=4 learning_rate=1e-4 "
    "lr_scheduler_type=constant_with_warmup warmup_steps=3 cutoff_len=768"
)


def _strategies(v: str) -> str | None:
    bad = [s for s in v.split(",") if s not in STRATEGIES]
    return f"unknown strategy {', '.join(bad)} (known: {', '.join(STRATEGIES)})" if bad or not v else None


def _critics(v: tuple[str, ...]) -> str | None:
    bad = [c for c in v if c not in EVAL_CRITICS]
    return f"unknown critic {', '.join(bad)} (known: {' '.join(EVAL_CRITICS)})" if bad else None


def _derived(name: str) -> Any:
    return lambda v: v[name]


@dataclass(frozen=True)
class CriticKnobs:
    # questions
    critic_dataset_name: str = knob(
        "critic_dataset_name", "synthetic-easy", "questions the critique data is built from (dataset specs)", scopes=_C
    )
    critic_test_dataset_name: str = knob(
        "critic_test_dataset_name",
        None,
        "held-out questions of the critic evaluation (default: critic_dataset_name)",
        derive=_derived("critic_dataset_name"),
        scopes=_C,
    )
    critic_train_limit: int | None = knob(
        "critic_train_limit",
        32,
        "training questions (empty = all)",
        parse=as_int,
        check=at_least(1, 1_000_000, "questions"),
        empty=True,
        scopes=_C,
    )
    critic_test_limit: int | None = knob(
        "critic_test_limit",
        24,
        "held-out questions (empty = all)",
        parse=as_int,
        check=at_least(1, 1_000_000, "questions"),
        empty=True,
        scopes=_C,
    )
    critic_base_model: str = knob(
        "critic_base_model",
        None,
        "the model the critic is fine-tuned from (default: model_name)",
        derive=_derived("model_name"),
        scopes=_C,
    )
    # 1 flawed reasoning paths
    strategies: str = knob(
        "STRATEGIES",
        "rg1,rg3,reference",
        "flawed-path strategies, comma-separated: rg1 (sampling), rg2 (hotter after step t), rg3 (inserted mistake), reference",
        check=_strategies,
        scopes=_C,
    )
    path_samples: int = knob(
        "PATH_SAMPLES",
        1,
        "RG1 samples per question (RG2 continues each)",
        parse=as_int,
        check=at_least(1, 1024, "samples per question"),
        scopes=_C,
    )
    rg2_temperature: float = knob(
        "RG2_TEMPERATURE", 1.0, "RG2: temperature after the prefix", parse=as_float, check=at_least(0), scopes=_C
    )
    rg3_per_question: int = knob(
        "RG3_PER_QUESTION",
        2,
        "RG3 paths per question",
        parse=as_int,
        check=at_least(1, 1024, "paths per question"),
        scopes=_C,
    )
    rg3_continue: str = knob(
        "RG3_CONTINUE",
        "actor",
        "RG3: who writes the steps after the mistake: actor (sampled) or reference (carried forward, no model)",
        check=one_of("actor", "reference"),
        scopes=_C,
    )
    inserter: str = knob(
        "INSERTER",
        "programmatic",
        "RG3 mistakes: programmatic (exact) or model",
        check=one_of("programmatic", "model"),
        scopes=_C,
    )
    inserter_model: str = knob(
        "INSERTER_MODEL",
        None,
        "RG3 with INSERTER=model: the second model (default: model_name)",
        derive=_derived("model_name"),
        scopes=_C,
    )
    mistake_types: str = knob(
        "MISTAKE_TYPES",
        "all",
        "RG3 mistake types, comma-separated, or all (the list of selfimprove/critic/prompts.py)",
        scopes=_C,
    )
    keep_correct: int = knob(
        "KEEP_CORRECT",
        1,
        "correct RG1/RG2 paths kept per question",
        parse=as_int,
        check=at_least(0, 1024, "paths per question"),
        scopes=_C,
    )
    max_steps: int = knob(
        "MAX_STEPS",
        6,
        "most steps of a solution: critic-all.sh leaves longer paths out; selftalk-all.sh gives up a chain "
        "without a final answer",
        parse=as_int,
        check=at_least(1, 1024, "steps"),
        scopes=frozenset({CRITIC, SELFTALK}),
    )
    # 2 annotation
    annotator: str = knob(
        "ANNOTATOR",
        "programmatic",
        "programmatic, or model (ANNOTATOR_MODEL)",
        check=one_of("programmatic", "model"),
        scopes=_C,
    )
    annotator_model: str = knob(
        "ANNOTATOR_MODEL", "", "annotating model: folder, hub id, or API model with ANNOTATOR_BASE_URL", scopes=_C
    )
    annotator_base_url: str = knob(
        "ANNOTATOR_BASE_URL", "", "OpenAI-compatible endpoint of the annotator (key in $OPENAI_API_KEY)", scopes=_C
    )
    # 3 Monte-Carlo filter, 4 dataset
    mc_n: int = knob(
        "MC_N",
        2,
        "Monte-Carlo filter: refinements per critique",
        parse=as_int,
        check=at_least(1, 1024, "refinements per critique"),
        scopes=_C,
    )
    mc_k: int = knob(
        "MC_K",
        1,
        "... keep the critique when at least k are correct (0: no refinement)",
        parse=as_int,
        check=at_least(0, 1024, "refinements"),
        scopes=_C,
    )
    balance: float = knob(
        "BALANCE",
        1.0,
        "larger verdict class at most BALANCE x the smaller (0: off)",
        parse=as_float,
        check=at_least(0),
        scopes=_C,
    )
    critic_examples: int = knob(
        "CRITIC_EXAMPLES",
        0,
        "critique examples trained on: a seeded, verdict-balanced subset of the kept ones (0 = all; "
        "nested: the first N of a larger set)",
        parse=as_int,
        check=at_least(0, 1_000_000, "examples"),
        scopes=_C,
    )
    # 5 training
    critic_train_args: str = knob(
        "CRITIC_TRAIN_ARGS",
        CRITIC_TRAIN_ARGS,
        "LLaMA-Factory overrides of the critic's training",
        check=key_values,
        scopes=_C,
        empty=True,
    )
    # 5b the likelihood critic (selfimprove/critic/likelihood.py)
    likelihood_solutions: int = knob(
        "LIKELIHOOD_SOLUTIONS",
        0,
        "likelihood critic: right solutions of training questions its scoring model is fine-tuned on (0: no likelihood critic)",
        parse=as_int,
        check=at_least(0, 1_000_000, "solutions"),
        scopes=_C,
    )
    likelihood_calibration: int = knob(
        "LIKELIHOOD_CALIBRATION",
        100,
        "likelihood critic: other training questions whose right and wrong paths fit its threshold",
        parse=as_int,
        check=at_least(1, 1_000_000, "questions"),
        scopes=_C,
    )
    likelihood_train_args: str = knob(
        "LIKELIHOOD_TRAIN_ARGS",
        "",
        "LLaMA-Factory overrides of the likelihood critic's fine-tune",
        check=key_values,
        scopes=_C,
        empty=True,
    )
    # 6 evaluation
    eval_per_class: int = knob(
        "EVAL_PER_CLASS",
        12,
        "held-out responses: this many correct and as many wrong",
        parse=as_int,
        check=at_least(1, 1_000_000, "responses per class"),
        scopes=_C,
    )
    eval_critics: tuple[str, ...] = knob(
        "EVAL_CRITICS",
        ("none", "base", "trained", "programmatic"),
        "critics compared: none base trained likelihood programmatic api (likelihood: needs LIKELIHOOD_SOLUTIONS; "
        "api: CRITIC_API_MODEL at CRITIC_BASE_URL)",
        parse=as_words,
        check=_critics,
        scopes=_C,
    )
    critic_api_model: str = knob(
        "CRITIC_API_MODEL", "", "an API critic for the comparison (with CRITIC_BASE_URL)", scopes=_C
    )
    processbench: str = knob(
        "PROCESSBENCH",
        "",
        "also score the model critics on ProcessBench: a local file/folder, or hub (empty: off)",
        scopes=_C,
    )
    processbench_split: str = knob(
        "PROCESSBENCH_SPLIT", "gsm8k", "ProcessBench split", check=one_of(*PROCESSBENCH_SPLITS), scopes=_C
    )
    processbench_limit: int = knob(
        "PROCESSBENCH_LIMIT",
        40,
        "ProcessBench rows (seeded subset; 0 = all)",
        parse=as_int,
        check=at_least(0, 1_000_000, "rows"),
        scopes=_C,
    )
