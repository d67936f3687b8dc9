"""One configuration: every knob, its default, its check and its meaning, in one typed table.

A knob is an environment variable of the drivers (``sample_num``, ``MAX_MODEL_LEN``, ...). One
loader resolves them for drivers and stages alike, in this order (later wins)::

    defaults (below) -> PRESET file (KEY=VALUE lines) -> environment -> command line

and checks every value in one pass (types, ranges, choices, names) before any model is loaded;
all problems are reported together on one line (:class:`~selfimprove.core.errors.UsageError`).
Two knobs have a default per driver, because they mean a different thing there: ``sample_num``
(N per training question in ``inference``, the pool size in ``evaluate``) and
``GPU_MEMORY_UTILIZATION`` (0.9 when a stage loads one engine, 0.45 each when the evaluation
loads the actor and the critic together). Checks that need more than the value itself (the
dataset registry, the feedback file's rows, the run lock) live in ``python -m selfimprove config``.

The module is longer than the package's ~400 lines on purpose: most of it is the knob table
(one field per knob with its default, check and meaning), the one place where every default
lives; splitting the table would split that place.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shlex
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selfimprove.core.errors import UsageError
from selfimprove.core.knob import (
    ALL,
    CRITIC,
    EMPTY,
    EVALUATE,
    INFERENCE,
    MAX_ITEMS,
    MAX_ITERATIONS,
    MAX_PER_ITEM,
    MAX_TOKENS,
    ONLY_EVALUATE,
    ONLY_INFERENCE,
    ONLY_SELFTALK,
    SELFIMPROVE,
    SELFTALK,
    STAGE,
    TYPE_NAMES,
    Knob,
    as_flag,
    as_float,
    as_int,
    as_ints,
    as_words,
    at_least,
    gpu_profile,
    in_range,
    iterations,
    key_values,
    knob,
    one_of,
)
from selfimprove.core.knob import (
    SCOPES as SCOPES,  # the drivers, for callers of this module
)
from selfimprove.core.knobs_critic import CriticKnobs
from selfimprove.core.knobs_selftalk import SelftalkKnobs
from selfimprove.core.layout import RunLayout, check_experiment_name

ROOT = Path(__file__).resolve().parents[2]
_BOTH, _I, _E, _S = SELFIMPROVE, ONLY_INFERENCE, ONLY_EVALUATE, ONLY_SELFTALK
_ALL, _TRAINING = ALL, frozenset({INFERENCE, CRITIC, SELFTALK})  # _TRAINING: the drivers that fine-tune
_VOTE = frozenset({EVALUATE, SELFTALK})  # the drivers that vote (evaluate-all.sh also runs after inference-all.sh)
GRADERS = ("default", "mathcritique", "math-verify")
VOTINGS = ("equivalence", "exact")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def _positive(v: float) -> str | None:
    return None if v > 0 else "must be > 0"


# ---------------------------------------------------------------------- the knob table
@dataclass(frozen=True)
class RunKnobs:
    """The knobs every driver shares (run, models, engines, grading) and those of the
    self-improvement drivers (inference-all.sh, evaluate-all.sh)."""

    # run
    exp_num: str = knob(
        "EXP_NUM",
        "demo",
        "experiment name: runs/$EXP_NUM/",
        check=lambda v: _name(v),
        export=_I,
        scopes=_ALL,
        per_scope={SELFTALK: "selftalk-demo"},
    )
    runs_dir: str = knob("RUNS_DIR", str(ROOT / "runs"), "where experiments live", export=_I, scopes=_ALL)
    iter_num: int = knob(
        "ITER_NUM",
        1,
        "self-improvement iterations after iteration 0",
        parse=as_int,
        check=at_least(0, MAX_ITERATIONS, "iterations"),
        export=_I,
    )
    seed: int = knob("SEED", 0, "sampling and subset seed", parse=as_int, export=_ALL, scopes=_ALL)
    log_level: str = knob(
        "LOG_LEVEL",
        "INFO",
        "message level: DEBUG, INFO, WARNING, ERROR",
        parse=str.upper,
        check=one_of(*LOG_LEVELS),
        export=_ALL,
        scopes=_ALL,
    )
    python: str = knob(
        "PYTHON", str(ROOT / ".venv" / "bin" / "python"), "interpreter with the inference stack", export=_I, scopes=_ALL
    )
    data_dir: str = knob(
        "DATA_DIR", str(ROOT / "data"), "folder of local datasets and feedback files", export=_ALL, scopes=_ALL
    )
    # plan (PLAN=1: selfimprove/stages/plan.py; nothing runs)
    plan: bool = knob(
        "PLAN",
        False,
        "1: print what the run would do (steps, models, prompts, token budgets, training, GPU-hours), write "
        "runs/$EXP_NUM/plan.json and stop before any stage (set it in the environment)",
        parse=as_flag,
        scopes=_ALL,
    )
    plan_gpus: int = knob(
        "PLAN_GPUS",
        0,
        "GPUs per node the plan assumes (0: the GPUs visible here, or 8 when none is)",
        parse=as_int,
        check=at_least(0, MAX_PER_ITEM, "GPUs"),
        scopes=_ALL,
    )
    plan_tokens_per_s: float = knob(
        "PLAN_TOKENS_PER_S",
        2000.0,
        "generated tokens per second per GPU behind the plan's GPU-hour estimate",
        parse=as_float,
        check=_positive,
        scopes=_ALL,
    )
    plan_train_tokens_per_s: float = knob(
        "PLAN_TRAIN_TOKENS_PER_S",
        2500.0,
        "trained tokens per second per GPU behind the plan's GPU-hour estimate",
        parse=as_float,
        check=_positive,
        scopes=_ALL,
    )
    # data
    dataset_name: str = knob(
        "dataset_name",
        "synthetic",
        "training datasets (space-separated): synthetic gsm8k math math500 file:...",
        scopes=_I | _S,
        per_scope={SELFTALK: "synthetic-easy"},
    )
    test_dataset_name: str = knob(
        "test_dataset_name",
        None,
        "evaluation datasets (default: dataset_name)",
        derive=lambda v: v["dataset_name"],
        export=_I,
        scopes=_BOTH | _S,
    )
    train_limit: int | None = knob(
        "train_limit",
        24,
        "training questions per dataset (empty = all)",
        parse=as_int,
        check=at_least(1, MAX_ITEMS, "questions per dataset"),
        scopes=_I | _S,
        empty=True,
        per_scope={SELFTALK: 16},
    )
    test_limit: int | None = knob(
        "test_limit",
        12,
        "test questions per dataset (empty = all)",
        parse=as_int,
        check=at_least(1, MAX_ITEMS, "questions per dataset"),
        empty=True,
        export=_I,
        scopes=_BOTH | _S,
        per_scope={SELFTALK: 8},
    )
    # generation
    sample_num: int = knob(
        "sample_num",
        2,
        "N: solutions per training question (evaluate: samples per question, Pass@K/MV@K)",
        parse=as_int,
        check=at_least(1, MAX_PER_ITEM, "samples per question"),
        per_scope={EVALUATE: 4},
        scopes=_BOTH | _S,
    )
    temperature: float = knob(
        "temperature",
        0.7,
        "sampling temperature of the actor (greedy answers use 0)",
        parse=as_float,
        check=at_least(0),
        export=_I,
        scopes=_ALL,
    )
    test_temperature: float = knob(
        "test_temperature",
        None,
        "temperature of the evaluation's response pool (default: temperature; the released evaluation: 0)",
        parse=as_float,
        check=at_least(0),
        scopes=_E,
        derive=lambda v: v["temperature"],
    )
    top_p: float = knob(
        "top_p", 1.0, "nucleus sampling of the actor", parse=as_float, check=in_range(0, 1), export=_ALL, scopes=_ALL
    )
    max_tokens: int = knob(
        "max_tokens",
        256,
        "new tokens per solution",
        parse=as_int,
        check=at_least(1, MAX_TOKENS, "tokens"),
        export=_I,
        scopes=_ALL,
        per_scope={CRITIC: 96, SELFTALK: 192},
    )
    critic_max_tokens: int = knob(
        "critic_max_tokens",
        384,
        "new tokens per critique",
        parse=as_int,
        check=at_least(1, MAX_TOKENS, "tokens"),
        export=_I,
        scopes=_ALL,
        per_scope={CRITIC: 320, SELFTALK: 256},
    )
    refine_num: int = knob(
        "refine_num",
        None,
        "refinements per critique (default: sample_num)",
        parse=as_int,
        check=at_least(1, MAX_PER_ITEM, "refinements per critique"),
        scopes=_I,
        derive=lambda v: v["sample_num"],
    )
    reserved_new_data: int = knob(
        "reserved_new_data",
        1,
        "at most this many kept refinements per critiqued sample (RESERVED_SCOPE=question: per question)",
        parse=as_int,
        check=at_least(1, MAX_ITEMS, "refinements"),
        scopes=_I,
    )
    reserved_scope: str = knob(
        "RESERVED_SCOPE",
        "sample",
        "what reserved_new_data counts per: sample (each critiqued sample, the released rule) or question",
        check=one_of("sample", "question"),
        scopes=_I,
    )
    # models
    model_name: str = knob(
        "model_name",
        str(ROOT / "models" / "SmolLM2-135M-Instruct"),
        "base model (folder or hub id); every iteration trains from it",
        export=_I,
        scopes=_ALL,
    )
    model_type: str = knob(
        "model_type",
        "Instruct",
        "Instruct (chat template, sharegpt SFT) or Base (Human:/Assistant:, alpaca SFT)",
        check=one_of("Instruct", "Base"),
        export=_I,
        scopes=_ALL,
    )
    template: str = knob(
        "template", "smollm2", "LLaMA-Factory template matching the model (default for Base models)", scopes=_TRAINING
    )
    default_system: str = knob(
        "default_system",
        "You are a helpful AI assistant named SmolLM, trained by Hugging Face",
        "system prompt of the model's own chat template (empty = the template's)",
        scopes=_TRAINING,
        empty=True,
    )
    critic_model_name: str = knob(
        "critic_model_name",
        None,
        "critique model: folder, hub id, API model with CRITIC_BASE_URL, or programmatic (no model, training samples only) (default: model_name)",
        derive=lambda v: v["model_name"],
        export=_I,
        scopes=_BOTH | _S,
    )
    critic_model_type: str = knob(
        "critic_model_type",
        "auto",
        "prompt format of the critic: auto (critic-all.sh: model_type), Instruct/chat, Base/base",
        check=one_of("auto", "Instruct", "chat", "Base", "base"),
        export=_I,
        scopes=_ALL,
    )
    critic_base_url: str = knob(
        "CRITIC_BASE_URL",
        "",
        "OpenAI-compatible endpoint for the critic (key in $OPENAI_API_KEY)",
        empty=True,
        export=_I,
        scopes=_ALL,
    )
    # engines and grading
    engine: str = knob(
        "ENGINE",
        "auto",
        "generation engine: auto, vllm, hf, ray",
        check=one_of("auto", "vllm", "hf", "ray"),
        export=_ALL,
        scopes=_ALL,
    )
    ray_address: str = knob(
        "RAY_ADDRESS",
        "",
        "ENGINE=ray: Ray cluster to join (host:port, auto); empty: start one here",
        empty=True,
        export=_ALL,
        scopes=_ALL,
    )
    ray_replicas: int = knob(
        "RAY_REPLICAS",
        0,
        "ENGINE=ray: model replicas (0: one per TP_SIZE GPUs, or per node)",
        parse=as_int,
        check=at_least(0, MAX_PER_ITEM, "replicas"),
        export=_ALL,
        scopes=_ALL,
    )
    ray_engine: str = knob(
        "RAY_ENGINE",
        "auto",
        "ENGINE=ray: engine in each replica: auto, hf, vllm",
        check=one_of("auto", "hf", "vllm"),
        export=_ALL,
        scopes=_ALL,
    )
    shard: str = knob(
        "SHARD", "", "stages: generate only shard i of n (i/n, e.g. 0/4); empty: all", empty=True, scopes=frozenset()
    )
    tp_size: int = knob(
        "TP_SIZE",
        1,
        "vLLM tensor-parallel GPUs per engine (engines = GPUs / TP_SIZE)",
        parse=as_int,
        check=at_least(1, MAX_PER_ITEM, "GPUs"),
        export=_ALL,
        scopes=_ALL,
    )
    max_model_len: int = knob(
        "MAX_MODEL_LEN",
        2048,
        "context length reserved by the engine",
        parse=as_int,
        check=at_least(1, MAX_TOKENS, "tokens"),
        export=_ALL,
        scopes=_ALL,
    )
    gpu_memory_utilization: float = knob(
        "GPU_MEMORY_UTILIZATION",
        0.9,
        "GPU memory share per vLLM engine (evaluate: 0.45, actor and critic share the GPUs)",
        parse=as_float,
        check=in_range(0, 1),
        per_scope={EVALUATE: 0.45},
        export=_ALL,
        scopes=_ALL,
    )
    chunk_size: int = knob(
        "CHUNK_SIZE",
        1024,
        "items generated between two checkpoint appends",
        parse=as_int,
        check=at_least(1, MAX_ITEMS, "items"),
        export=_ALL,
        scopes=_ALL,
    )
    grader: str = knob(
        "GRADER",
        "default",
        "answer grader: default, mathcritique (seed-faithful), math-verify",
        check=one_of(*GRADERS),
        export=_ALL,
        scopes=_ALL,
    )
    voting: str = knob(
        "VOTING",
        "equivalence",
        "majority vote: equivalence (answers the grader finds equal) or exact (identical answer strings, as "
        "released); the other is reported beside",
        check=one_of(*VOTINGS),
        export=_VOTE,
        scopes=_VOTE,
    )
    # training
    profile: str = knob(
        "PROFILE",
        None,
        "training profile: cpu or gpu (default: gpu if nvidia-smi sees one)",
        check=one_of("cpu", "gpu"),
        scopes=_TRAINING,
        derive=gpu_profile,
        export=_TRAINING,
    )
    train_args: str = knob(
        "TRAIN_ARGS",
        "",
        'extra LLaMA-Factory arguments, e.g. "max_steps=20 learning_rate=1e-5"',
        check=key_values,
        scopes=_I | _S,
        empty=True,
    )
    keep_checkpoints: bool = knob(
        "KEEP_CHECKPOINTS",
        False,
        "keep full training checkpoints next to each model (a killed training resumes from them)",
        parse=as_flag,
        scopes=_TRAINING,
        export=_TRAINING,
    )
    train_reuse_dir: str = knob(
        "TRAIN_REUSE_DIR",
        "",
        "folder of finished fine-tunings: one whose arguments, data and base model match is reused instead of "
        "training again (scripts/sweep.sh: <sweep>/shared_training; empty = off)",
        scopes=_TRAINING,
        export=_TRAINING,
        empty=True,
    )
    zero_stage: int = knob(
        "ZERO_STAGE",
        2,
        "DeepSpeed ZeRO stage of the gpu profile: 2 or 3",
        parse=as_int,
        check=one_of(2, 3),
        scopes=_TRAINING,
        export=_TRAINING,
    )
    global_batch: int = knob(
        "GLOBAL_BATCH",
        0,
        "sequences per optimizer step on all GPUs together: gradient accumulation = GLOBAL_BATCH / "
        "(per-device batch x GPUs x nodes), refused unless it divides (0: the profile's accumulation as is)",
        parse=as_int,
        check=at_least(0, MAX_ITEMS, "sequences"),
        scopes=_TRAINING,
        export=_TRAINING,
    )
    use_critic: bool = knob(
        "USE_CRITIC", True, "critique + refine the wrong samples, train on kept refinements", parse=as_flag, scopes=_I
    )
    use_original: bool = knob(
        "USE_ORIGINAL", True, "keep the iteration-0 reference data in every iteration", parse=as_flag, scopes=_I
    )
    use_previous: bool = knob(
        "USE_PREVIOUS", False, "train on the sampled data of all iterations so far", parse=as_flag, scopes=_I
    )
    use_selfimprove_feedback: bool = knob(
        "USE_SELFIMPROVE_FEEDBACK",
        False,
        "also train on (solution, critique) -> refinement examples",
        parse=as_flag,
        scopes=_I,
    )
    use_gpt4_feedback: bool = knob(
        "USE_GPT4_FEEDBACK", True, "add FEEDBACK_FILE's critique->refinement examples", parse=as_flag, scopes=_I
    )
    feedback_file: str = knob(
        "FEEDBACK_FILE",
        "auto",
        "critique->refinement files (alpaca JSON, space-separated); auto: the paper's released files for "
        "the training datasets' types found in DATA_DIR; empty: none",
        scopes=_I,
        empty=True,
    )
    critique_which: str = knob(
        "CRITIQUE_WHICH",
        "incorrect",
        "critique the incorrect samples, or all",
        check=one_of("incorrect", "all"),
        scopes=_I,
    )
    evaluate: bool = knob("EVALUATE", True, "run selfimprove/evaluate-all.sh at the end", parse=as_flag, scopes=_I)
    # evaluation
    eval_iters: tuple[int, ...] | None = knob(
        "EVAL_ITERS",
        None,
        'evaluate exactly these iterations (space-separated), e.g. "1"',
        parse=as_ints,
        check=iterations,
        scopes=_E,
        empty=True,
    )
    eval_base: bool = knob("EVAL_BASE", False, "also evaluate the untrained base model", parse=as_flag, scopes=_E)
    actor_models: tuple[str, ...] = knob(
        "ACTOR_MODELS",
        (),
        "evaluate these model folders instead of a run's actors",
        parse=as_words,
        scopes=_E,
        empty=True,
    )
    test_use_critic: bool = knob("TEST_USE_CRITIC", True, "run the critique methods", parse=as_flag, scopes=_E)
    mv_num: int = knob(
        "MV_NUM",
        2,
        "sequential critique-refine rounds",
        parse=as_int,
        check=at_least(0, MAX_ITERATIONS, "rounds"),
        scopes=_E,
    )
    test_know_answer: bool = knob(
        "TEST_KNOW_ANSWER", False, "1: oracle (refine only answers known to be wrong)", parse=as_flag, scopes=_E
    )
    sequential_mode: str = knob(
        "SEQUENTIAL_MODE",
        None,
        "oracle, all or verifier (default: oracle if TEST_KNOW_ANSWER=1, else all)",
        check=one_of("oracle", "all", "verifier"),
        scopes=_E,
        derive=lambda v: "oracle" if v["test_know_answer"] else "all",
    )
    sequential_chains: int = knob(
        "SEQUENTIAL_CHAINS",
        1,
        "sequential chains per question: 1 from the greedy answer, K > 1 from the first K pool samples",
        parse=as_int,
        check=at_least(1, MAX_PER_ITEM, "chains per question"),
        scopes=_E,
    )
    only_final_sequential: bool = knob(
        "ONLY_FINAL_SEQUENTIAL",
        False,
        "1: report only the final round's answer as the sequential headline (no vote over rounds)",
        parse=as_flag,
        scopes=_E,
    )


@dataclass(frozen=True)
class Config(SelftalkKnobs, CriticKnobs, RunKnobs):
    """The resolved knobs of every driver. Attribute names are the lower-case knob names; the
    fields of :class:`RunKnobs` come first, so a derived default may read any of them."""

    # where each value came from: default, PRESET file:line, environment, command line
    sources: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    # ------------------------------------------------------------------ derived views
    @property
    def layout(self) -> RunLayout:
        return RunLayout.of(self.runs_dir, self.exp_num)

    @property
    def sft_format(self) -> str:
        return "sharegpt" if self.model_type == "Instruct" else "alpaca"

    @property
    def critic_type(self) -> str:
        """The trained critic's prompt format (critic-all.sh): Instruct or Base; ``auto`` = the actor's."""
        t = self.model_type if self.critic_model_type == "auto" else self.critic_model_type
        return "Instruct" if t in ("Instruct", "chat") else "Base"

    @property
    def critic_format(self) -> str:
        """The SFT format of the trained critic (critic-all.sh)."""
        return "sharegpt" if self.critic_type == "Instruct" else "alpaca"

    def as_dict(self, scope: str | None = None) -> dict[str, Any]:
        """``{KNOB: value}`` (JSON types) of one driver's knobs, or of all."""
        out = {}
        for f, k in knobs().items():
            if scope is None or scope in k.scopes:
                v = getattr(self, f)
                out[k.env] = list(v) if isinstance(v, tuple) else v
        return out


def _name(v: str) -> str | None:
    try:
        check_experiment_name(v)
    except UsageError as e:
        return str(e).removeprefix(f"EXP_NUM={v!r} ")  # the loader names the knob and value itself
    return None


def knobs(scope: str | None = None) -> dict[str, Knob]:
    """``{attribute: Knob}`` in declaration order, of one driver or all."""
    out = {f.name: f.metadata["knob"] for f in dataclasses.fields(Config) if "knob" in f.metadata}
    return {a: k for a, k in out.items() if scope in (None, STAGE) or scope in k.scopes}


# ---------------------------------------------------------------------- presets
def preset_path(name: str) -> Path:
    """A preset file given as a path, or as a name of ``selfimprove/presets/<name>.env``."""
    p = Path(name).expanduser()
    if p.is_file():
        return p
    q = ROOT / "selfimprove" / "presets" / (name if name.endswith(".env") else f"{name}.env")
    if q.is_file():
        return q
    raise UsageError(f"PRESET={name}: no such file (nor selfimprove/presets/{q.name})")


_LEGACY = re.compile(r'^:\s*"\$\{(\w+):?=([^"$`]*)\}"\s*(#.*)?$')


def read_preset(path: str | os.PathLike, strict: bool = True) -> dict[str, tuple[str, str]]:
    """``KEY=VALUE`` lines (shell quoting, ``#`` comments) -> ``{KEY: (value, "file:line")}``.

    The older ``: "${KEY:=VALUE}"`` form is read too (literal values only). ``strict``: a line
    that is not an assignment of a known knob is an error; otherwise it is ignored (a stage
    started by another driver may see that driver's preset)."""
    names = {k.env for k in knobs().values()}
    out: dict[str, tuple[str, str]] = {}
    for i, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        where = f"{path}:{i}"
        legacy = _LEGACY.match(line.strip())
        if legacy:
            key, raw = legacy.group(1), shlex.quote(legacy.group(2))
        else:
            key, sep, raw = line.partition("=")
            key = key.strip().removeprefix("export ").strip() if sep else ""
        if key not in names:
            if strict:
                raise UsageError(f"{where}: expected KNOB=VALUE with a known knob, got {line.strip()!r}")
            continue
        try:
            value = " ".join(shlex.split(raw, comments=True))
        except ValueError as e:
            raise UsageError(f"{where}: {e}") from None
        out[key] = (value, where)
    return out


# ---------------------------------------------------------------------- the loader
def load(
    scope: str = STAGE,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    check: Iterable[str] | None = None,
) -> Config:
    """Resolve every knob: defaults -> PRESET -> ``env`` -> ``overrides`` (attribute -> value;
    a string is parsed like an environment value, anything else is taken as typed).

    ``check``: the attributes whose values are parsed and checked strictly (default: the scope's
    knobs); a bad value of another knob falls back to its default, so a stage is not stopped by
    a knob it does not use. Raises :class:`UsageError` naming every bad value.
    """
    env = os.environ if env is None else env
    overrides = dict(overrides or {})
    table = knobs()
    strict = set(knobs(scope) if check is None else check)
    raw: dict[str, tuple[str, str]] = {}
    if env.get("PRESET"):
        raw.update(read_preset(preset_path(env["PRESET"]), strict=scope != STAGE))
    for k in table.values():
        if k.env in env:
            raw[k.env] = (env[k.env], "environment")
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    errors: list[str] = []
    for attr, k in table.items():
        given = overrides.get(attr)
        text: str | None = None
        if isinstance(given, str):
            text, where = given, "command line"
        elif given is None and k.env in raw:
            text, where = raw[k.env]
        if given is not None and not isinstance(given, str):
            v, where = given, "command line"
        elif text is not None and (text.strip() or k.empty):
            try:
                v = k.parse(text) if text.strip() else EMPTY.get(k.parse)
            except ValueError:
                if attr in strict:
                    errors.append(f"{k.env}={text!r} ({where}): expected {TYPE_NAMES.get(k.parse, 'a value')}")
                where = "default"
                v = k.derive(values) if k.derive else k.per_scope.get(scope, k.default)
        else:
            v, where = (k.derive(values) if k.derive else k.per_scope.get(scope, k.default)), "default"
        if k.check is not None and attr in strict and v is not None and where != "default":
            problem = k.check(v)
            if problem:
                errors.append(f"{k.env}={_show(v)} ({where}): {problem}")
        values[attr], sources[attr] = v, where
    cfg = Config(**values, sources=sources)
    for attr, lim in (("max_tokens", "max_model_len"), ("critic_max_tokens", "max_model_len")):
        if attr in strict and lim in strict and getattr(cfg, attr) >= getattr(cfg, lim):
            errors.append(
                f"{table[attr].env}={getattr(cfg, attr)} leaves no room for a prompt in "
                f"{table[lim].env}={getattr(cfg, lim)}; raise {table[lim].env} or lower {table[attr].env}"
            )
    if {"mc_n", "mc_k"} <= strict and cfg.mc_k > cfg.mc_n:
        errors.append(f"MC_K={cfg.mc_k} is more than MC_N={cfg.mc_n}: no critique could pass the filter")
    if errors:
        raise UsageError("; ".join(errors))
    return cfg


def _show(v: Any) -> str:
    if isinstance(v, bool):
        return str(int(v))
    if isinstance(v, tuple):
        return repr(" ".join(map(str, v)))
    return repr(v) if isinstance(v, str) else str(v)


# ---------------------------------------------------------------------- models
HUB_OFFLINE_VALUES = ("1", "true", "yes", "on")


def check_model(name: str, knob_name: str, env: Mapping[str, str] | None = None) -> str | None:
    """A problem with a model knob, or None. A name that looks like a path (absolute, ``.``/``~``,
    more than one ``/``, or whose first folder exists here) must be a folder with ``config.json``;
    a hub id must be in the Hugging Face cache unless the hub may be reached (HF_HUB_OFFLINE unset)."""
    env = os.environ if env is None else env
    p = Path(name).expanduser()
    first = Path(name.split("/", 1)[0])
    looks_local = (
        name.startswith(("/", ".", "~")) or name.count("/") != 1 or p.exists() or (first.is_dir() and "/" in name)
    )
    if looks_local:
        if (p / "config.json").is_file():
            return None
        what = "not found" if not p.exists() else "is not a model folder (no config.json)"
        if name == "annotator" and not p.exists():
            return f"{knob_name}: model {name} {what}; the programmatic critic is now named 'programmatic'"
        return f"{knob_name}: model {name} {what} (run 'bash scripts/setup_env.sh' for the embedded model)"
    if env.get("HF_HUB_OFFLINE", "").strip().lower() not in HUB_OFFLINE_VALUES:
        return None
    if _hub_cached(name, env):
        return None
    return (
        f"{knob_name}: {name} is neither a local model folder nor in the Hugging Face cache, and "
        f"HF_HUB_OFFLINE is set; download it first (huggingface-cli download {name}) or unset HF_HUB_OFFLINE"
    )


def data_folder(value: str | None) -> Path:
    """The data folder a DATA_DIR value names (stripped, ``~`` expanded); empty or None: the
    project's ``data/``."""
    value = (value or "").strip()
    return Path(value).expanduser() if value else ROOT / "data"


def env_data_folder(env: Mapping[str, str] | None = None) -> Path:
    """The data folder ``$DATA_DIR`` of ``env`` (default: this process's environment) names."""
    return data_folder((os.environ if env is None else env).get("DATA_DIR"))


def check_run_folder(runs_dir: str, root: Path) -> str | None:
    """Why the experiment folder ``root`` (``RUNS_DIR/EXP_NUM``) cannot be created or written, or
    None. The nearest existing folder on its path decides: it must be a folder (not a file or a
    broken link) that this process may write; missing folders below it are created by the run."""
    for p in (root, *root.parents):
        if os.path.exists(p):
            if not p.is_dir() and p == root:
                return f"RUNS_DIR={runs_dir}: the experiment folder {p} is a file; move it away or use another EXP_NUM"
            if not p.is_dir():
                return f"RUNS_DIR={runs_dir}: {p} is a file, not a folder; set RUNS_DIR to a folder you can write"
            if not os.access(p, os.W_OK | os.X_OK):
                return f"RUNS_DIR={runs_dir}: {p} is not writable (read-only); set RUNS_DIR to a folder you can write"
            return None
        if os.path.islink(p):
            return f"RUNS_DIR={runs_dir}: {p} is a broken symbolic link; set RUNS_DIR to a folder you can write"
    return None


def _hub_cached(repo: str, env: Mapping[str, str]) -> bool:
    home = Path(env.get("HF_HOME") or Path.home() / ".cache" / "huggingface")
    cache = Path(env.get("HF_HUB_CACHE") or env.get("HUGGINGFACE_HUB_CACHE") or home / "hub")
    snaps = cache / f"models--{repo.replace('/', '--')}" / "snapshots"
    return snaps.is_dir() and any((s / "config.json").exists() for s in snaps.iterdir())


# ---------------------------------------------------------------------- shell form
def shell_lines(cfg: Config, scope: str) -> list[str]:
    """``KEY=value`` lines (``export`` where the driver passes the knob on), shell-quoted."""
    lines = []
    for attr, k in knobs(scope).items():
        v = getattr(cfg, attr)
        text = (
            ""
            if v is None
            else str(int(v))
            if isinstance(v, bool)
            else " ".join(map(str, v))
            if isinstance(v, tuple)
            else str(v)
        )
        lines.append(f"{'export ' if scope in k.export else ''}{k.env}={shlex.quote(text)}")
    lines.append(f"RUN={shlex.quote(str(cfg.layout.root))}")
    if scope in (INFERENCE, SELFTALK, CRITIC):
        lines.append(f"sft_format={cfg.sft_format}")
    if scope == CRITIC:
        lines.append(f"critic_type={cfg.critic_type} critic_format={cfg.critic_format}")
    if scope in (CRITIC, SELFTALK):  # the driver's files and step names: ${files[role]}, ${steps[role]}
        paths, names = cfg.layout.pipeline(scope)
        lines.append("declare -A files=(" + " ".join(f"[{r}]={shlex.quote(str(p))}" for r, p in paths.items()) + ")")
        lines.append("declare -A steps=(" + " ".join(f"[{r}]={shlex.quote(n)}" for r, n in names.items()) + ")")
    return lines


def exports(cfg: Config, scope: str) -> dict[str, str]:
    """The knobs a driver exports to what it calls (:func:`shell_lines`' ``export`` lines), unquoted."""
    out = {}
    for line in shell_lines(cfg, scope):
        if line.startswith("export "):
            k, _, v = line[len("export ") :].partition("=")
            out[k] = " ".join(shlex.split(v)) if v else ""
    return out


def eval_actors(cfg: Config, check_folder: Callable[[Path], list[str]] | None = None) -> list[tuple[str, str]]:
    """``(label, model path)`` of every actor the evaluation covers. With ``check_folder`` (a model
    folder's problems, e.g. :func:`selfimprove.training.weights.check_model_folder`) each
    iteration's actor must exist and be complete, else :class:`UsageError` (refused now, not by the
    engine minutes later)."""
    lay = cfg.layout
    if cfg.actor_models:
        return [(os.path.basename(m.rstrip("/")), m) for m in cfg.actor_models]
    actors = [("base", cfg.model_name)] if cfg.eval_base else []
    iters = cfg.eval_iters if cfg.eval_iters is not None else tuple(range(cfg.iter_num + 1))
    for k in iters:
        if check_folder is not None:
            if not (lay.actor(k) / "config.json").is_file():
                raise UsageError(f"{lay.actor(k)} not found (run inference-all.sh first, or set EVAL_ITERS)")
            broken = check_folder(lay.actor(k))
            if broken:
                raise UsageError(
                    f"{lay.actor(k)} is incomplete ({broken[0]}); rerun inference-all.sh: it trains it again"
                )
        actors.append((f"iter_{k}", str(lay.actor(k))))
    return actors
