"""The ``results.json`` schema: its version, typed shapes, and a validator with path-naming errors.

Version history:

* 1 -- the first layout (sequential vote stored as ``mv``);
* 2 -- sequential metrics for K chains under names that say what they vote over
  (``mv_rounds_0_to_r``, ``mv_refinements_1_to_r``), sequential Pass@K and headline,
  ``upper_bound`` labels on oracle numbers and the top-level ``upper_bounds`` list,
  ``compute_matched_tokens``, ``available.tokens`` and the top-level ``chains``; later the
  optional top-level ``unanswered`` (items whose prompt is longer than the context window) and
  ``scoring`` (the headline numbers under the project's grader and vote beside the primary ones).

:func:`validate_results` accepts every version up to :data:`SCHEMA_VERSION` (fields added later
are optional) and raises :class:`SchemaError` naming the JSON path of the first problem, e.g.
``datasets.gsm8k.overall.response_only.pass_at_k[1].value: expected a fraction in [0, 1], got 55.0``.
Accuracies are stored as fractions in [0, 1], each with its denominator ``n``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypedDict

from selfimprove.core.errors import DataError

SCHEMA_VERSION = 2


# ---------------------------------------------------------------------------------------
# Typed shapes (documentation for readers of results.json; the validator below checks them)
# ---------------------------------------------------------------------------------------


class _NumBase(TypedDict):
    value: float | None  # a fraction in [0, 1]; None when the denominator is empty
    n: int


class Num(_NumBase, total=False):
    upper_bound: bool  # True on oracle numbers (they use the ground truth)


class KPoint(Num):
    k: int


class RoundPoint(Num):
    round: int


class ResponseOnly(TypedDict):
    greedy: Num | None
    pass_at_k: list[KPoint]
    mv_at_k: list[KPoint]


class ParallelMode(TypedDict):
    mode: str
    upper_bound: bool
    pass_at_k: list[KPoint]
    mv_at_k: list[KPoint]


class PassAtKRound(TypedDict):
    round: int
    pass_at_k: list[KPoint]


class Headline(RoundPoint):
    metric: str  # "final", "mv_final_across_chains" or "mv_rounds_0_to_r"


class Sequential(TypedDict):
    rounds: int
    chains: int
    mode: str | None
    upper_bound: bool
    headline: Headline
    final: list[RoundPoint]
    mv_final_across_chains: list[RoundPoint] | None
    pass_at_k: list[PassAtKRound]
    mv_rounds_0_to_r: list[RoundPoint] | None
    mv_refinements_1_to_r: list[RoundPoint] | None
    pass_refinements_1_to_r: list[RoundPoint]


class ComputeMatchedRow(TypedDict):
    k: int
    mv_k: Num
    mv_2k: Num
    mv_3k: Num
    with_critique: dict[str, Num | None]


class TokenMatchedRow(TypedDict):
    k: int
    tokens_with_critique: float
    plain_samples: int
    tokens_plain: float
    mv_plain: Num
    mv_with_critique: Num


class TokenMatchedMode(TypedDict):
    tokens_per_critiqued_sample: float
    cost_ratio: float
    rows: list[TokenMatchedRow]


class TokenMatched(TypedDict):
    mean_completion_tokens: dict[str, float]  # sample, critique, refinement
    modes: dict[str, TokenMatchedMode | None]


class Critic(TypedDict):
    n_samples: int
    accuracy_before_refinement: Num
    accuracy_after_refinement: dict[str, Num | None] | None
    helpfulness: Num | None
    harm: Num | None
    discrimination: dict[str, Num] | None
    format_violations: dict[str, Any] | None  # {"count": int, "share": float | None, "n": int}


class Block(TypedDict):
    n_questions: int
    response_only: ResponseOnly
    parallel: dict[str, ParallelMode | None] | None
    critic_filtered: dict[str, list[KPoint]] | None
    sequential: Sequential | None
    compute_matched: list[ComputeMatchedRow] | None
    compute_matched_tokens: TokenMatched | None
    critic: Critic


class DatasetResults(TypedDict):
    dataset_type: str | list[str]
    n_questions: int
    level_source: dict[str, int]
    level_counts: dict[str, int]
    overall: Block
    by_level: dict[str, Block]


class Unanswered(TypedDict):
    count: int  # items whose prompt is longer than the context window (empty, graded wrong)
    questions: list[str]
    by_stage: dict[str, list[str]]  # greedy, pool, pool_critiques, ... -> ids


class _ResultsBase(TypedDict):
    schema_version: int
    config: dict[str, Any]
    N: int
    R: int | None
    chains: int | None
    ks: list[int]
    parallel_modes: list[str]
    upper_bounds: list[str]
    available: dict[str, bool]
    datasets: dict[str, DatasetResults]


class ScoringColumn(TypedDict):
    grader: str  # GRADER of this column
    voting: str  # VOTING of this column: equivalence or exact
    primary: bool  # the scoring of every other number of the file
    name: str  # e.g. "released grader, exact-answer voting"
    datasets: dict[str, dict[str, Num | None]]  # dataset -> greedy, pass_at_1, mv_at_n, ... (scoring.HEADLINE)


class Scoring(TypedDict):
    columns: list[ScoringColumn]


class Results(_ResultsBase, total=False):
    unanswered: Unanswered  # added within version 2; absent from older files
    scoring: Scoring  # added within version 2; only where GRADER or VOTING is not the project's own


# ---------------------------------------------------------------------------------------
# Validator
# ---------------------------------------------------------------------------------------


class SchemaError(DataError):
    """A results dict does not follow the schema; ``path`` is the JSON path of the problem."""

    def __init__(self, path: str, problem: str) -> None:
        self.path = path or "(top level)"
        super().__init__(f"{self.path}: {problem}")


Check = Callable[[Any, str], None]


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _show(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _int(v: Any, path: str) -> None:
    if not _is_int(v) or v < 0:
        raise SchemaError(path, f"expected a non-negative integer, got {_show(v)}")


def _number(v: Any, path: str) -> None:
    if not _is_number(v) or v < 0:
        raise SchemaError(path, f"expected a non-negative number, got {_show(v)}")


def _fraction(v: Any, path: str) -> None:
    if not _is_number(v) or not 0 <= v <= 1:
        raise SchemaError(path, f"expected a fraction in [0, 1], got {_show(v)}")


def _str(v: Any, path: str) -> None:
    if not isinstance(v, str):
        raise SchemaError(path, f"expected a string, got {_show(v)}")


def _bool(v: Any, path: str) -> None:
    if not isinstance(v, bool):
        raise SchemaError(path, f"expected true or false, got {_show(v)}")


def _any(v: Any, path: str) -> None:
    return None


def nullable(check: Check) -> Check:
    def run(v: Any, path: str) -> None:
        if v is not None:
            check(v, path)

    return run


def one_of(*checks: Check) -> Check:
    def run(v: Any, path: str) -> None:
        errors = []
        for check in checks:
            try:
                check(v, path)
                return
            except SchemaError as e:
                errors.append(str(e).split(": ", 1)[1])
        raise SchemaError(path, " or ".join(errors))

    return run


def list_of(item: Check) -> Check:
    def run(v: Any, path: str) -> None:
        if not isinstance(v, list):
            raise SchemaError(path, f"expected a list, got {_show(v)}")
        for i, x in enumerate(v):
            item(x, f"{path}[{i}]")

    return run


def map_of(value: Check) -> Check:
    def run(v: Any, path: str) -> None:
        if not isinstance(v, dict):
            raise SchemaError(path, f"expected an object, got {_show(v)}")
        for k, x in v.items():
            value(x, _join(path, str(k)))

    return run


def obj(required: Mapping[str, Check], optional: Mapping[str, Check] | None = None) -> Check:
    def run(v: Any, path: str) -> None:
        if not isinstance(v, dict):
            raise SchemaError(path, f"expected an object, got {_show(v)}")
        for key, check in required.items():
            if key not in v:
                raise SchemaError(_join(path, key), "missing")
            check(v[key], _join(path, key))
        for key, check in (optional or {}).items():
            if key in v:
                check(v[key], _join(path, key))

    return run


NUM = obj({"value": nullable(_fraction), "n": _int}, {"upper_bound": _bool})
K_CURVE = list_of(obj({"k": _int, "value": nullable(_fraction), "n": _int}))
ROUND_CURVE = list_of(obj({"round": _int, "value": nullable(_fraction), "n": _int}))
RESPONSE_ONLY = obj({"greedy": nullable(NUM), "pass_at_k": K_CURVE, "mv_at_k": K_CURVE})
PARALLEL = map_of(nullable(obj({"mode": _str, "pass_at_k": K_CURVE, "mv_at_k": K_CURVE}, {"upper_bound": _bool})))
SEQUENTIAL = obj(
    {"rounds": _int, "final": ROUND_CURVE},
    {
        "chains": _int,
        "mode": nullable(_str),
        "upper_bound": _bool,
        "headline": obj({"metric": _str, "round": _int, "value": nullable(_fraction), "n": _int}),
        "mv_final_across_chains": nullable(ROUND_CURVE),
        "pass_at_k": list_of(obj({"round": _int, "pass_at_k": K_CURVE})),
        "mv_rounds_0_to_r": nullable(ROUND_CURVE),
        "mv_refinements_1_to_r": nullable(ROUND_CURVE),
        "pass_refinements_1_to_r": ROUND_CURVE,
        "mv": ROUND_CURVE,  # schema version 1
    },
)
COMPUTE_MATCHED = list_of(
    obj({"k": _int, "mv_k": NUM, "mv_2k": NUM, "mv_3k": NUM, "with_critique": map_of(nullable(NUM))})
)
TOKEN_ROW = obj(
    {
        "k": _int,
        "tokens_with_critique": _number,
        "plain_samples": _int,
        "tokens_plain": _number,
        "mv_plain": NUM,
        "mv_with_critique": NUM,
    }
)
TOKEN_MATCHED = obj(
    {
        "mean_completion_tokens": map_of(_number),
        "modes": map_of(
            nullable(obj({"tokens_per_critiqued_sample": _number, "cost_ratio": _number, "rows": list_of(TOKEN_ROW)}))
        ),
    }
)
CRITIC = obj(
    {"n_samples": _int, "accuracy_before_refinement": NUM},
    {
        "accuracy_after_refinement": nullable(map_of(nullable(NUM))),
        "helpfulness": nullable(NUM),
        "harm": nullable(NUM),
        "discrimination": nullable(map_of(NUM)),
        "format_violations": nullable(obj({"count": _int, "share": nullable(_fraction), "n": _int})),
    },
)
BLOCK = obj(
    {"n_questions": _int, "response_only": RESPONSE_ONLY, "critic": CRITIC},
    {
        "parallel": nullable(PARALLEL),
        "critic_filtered": nullable(obj({"mv_at_k": K_CURVE})),
        "sequential": nullable(SEQUENTIAL),
        "compute_matched": nullable(COMPUTE_MATCHED),
        "compute_matched_tokens": nullable(TOKEN_MATCHED),
    },
)
DATASET = obj(
    {"overall": BLOCK, "by_level": map_of(BLOCK)},
    {
        "dataset_type": one_of(_str, list_of(_str)),
        "n_questions": _int,
        "level_source": map_of(_int),
        "level_counts": map_of(_int),
    },
)


def _version(v: Any, path: str) -> None:
    if not _is_int(v) or v < 1:
        raise SchemaError(path, f"expected a positive integer, got {_show(v)}")
    if v > SCHEMA_VERSION:
        raise SchemaError(path, f"version {v} is newer than this code reads ({SCHEMA_VERSION}); update MathCritique")


RESULTS = obj(
    {"schema_version": _version, "config": map_of(_any), "N": _int, "ks": list_of(_int), "datasets": map_of(DATASET)},
    {
        "R": nullable(_int),
        "chains": nullable(_int),
        "parallel_modes": list_of(_str),
        "upper_bounds": list_of(_str),
        "available": map_of(_bool),
        "unanswered": obj({"count": _int, "questions": list_of(_str), "by_stage": map_of(list_of(_str))}),
        "scoring": obj(
            {
                "columns": list_of(
                    obj(
                        {
                            "grader": _str,
                            "voting": _str,
                            "primary": _bool,
                            "name": _str,
                            "datasets": map_of(map_of(nullable(NUM))),
                        }
                    )
                )
            }
        ),
    },
)


def validate_results(results: Any) -> None:
    """Raise :class:`SchemaError` (naming the JSON path) unless ``results`` follows the schema."""
    RESULTS(results, "")
