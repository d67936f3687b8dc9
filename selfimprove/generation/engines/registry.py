"""Engines from configuration: the name -> class registry, the command-line options of a model
role, :func:`make_engine`, the per-process cache of :func:`shared_engine`, and the sampling
parameters given by the generation options (:func:`sampling_from_args`)."""

from __future__ import annotations

import argparse
import atexit
from pathlib import Path
from typing import Any

from selfimprove.core import stop
from selfimprove.core.errors import UsageError
from selfimprove.generation.engines.base import Engine, EngineSettings, SamplingParams, check_model_path
from selfimprove.generation.engines.hf import HFEngine
from selfimprove.generation.engines.openai import OpenAIEngine
from selfimprove.generation.engines.ray_engine import RayEngine
from selfimprove.generation.engines.vllm import VLLMEngine

ENGINE_CLASSES: dict[str, type[Engine]] = {}

#: a model folder holding this file is a likelihood critic (:mod:`selfimprove.critic.likelihood`,
#: which registers its engine as "likelihood"): the engine for it whatever engine is named
LIKELIHOOD_CALIBRATION = "likelihood.json"


def register_engine(name: str, cls: type[Engine]) -> None:
    """Make ``cls`` buildable as ``--<role>-engine name`` (it implements ``from_settings``)."""
    ENGINE_CLASSES[name] = cls


register_engine("vllm", VLLMEngine)
register_engine("hf", HFEngine)
register_engine("openai", OpenAIEngine)
register_engine("ray", RayEngine)  # replicas of the vllm/hf engine on a Ray cluster (docs/scaling.md)

OPENAI_MODES = ("chat", "completions")


def engine_names() -> tuple[str, ...]:
    return ("auto", *ENGINE_CLASSES)


ENGINES = engine_names()


MODEL_TYPES = ("auto", "chat", "instruct", "base")


def model_type_arg(value: str) -> str:
    """``--<role>-type``: a prompt format, case-insensitive (argparse reports anything else)."""
    if value.lower() not in MODEL_TYPES:
        raise argparse.ArgumentTypeError(f"{value!r} is not a prompt format: auto, chat/Instruct or base/Base")
    return value


def add_engine_args(parser: argparse.ArgumentParser, role: str, required: bool = True) -> None:
    """Add ``--<role>-model``, ``--<role>-engine`` ... options for one model role (actor/critic).

    ``--<role>-engine`` and ``--<role>-tp`` left out take the knobs ENGINE and TP_SIZE when
    :func:`selfimprove.core.cli.engine_kwargs` reads the options (no environment variable is read here)."""
    g = parser.add_argument_group(f"{role} model")
    g.add_argument(f"--{role}-model", required=required, help=f"{role} model: local folder or hub id")
    g.add_argument(
        f"--{role}-engine",
        default=None,
        choices=engine_names(),
        help="generation engine (auto: vllm if installed, else hf; default: knob ENGINE)",
    )
    g.add_argument(
        f"--{role}-type",
        default="auto",
        type=model_type_arg,
        help="prompt format: auto (chat template if the tokenizer has one), chat/Instruct, base/Base",
    )
    g.add_argument(
        f"--{role}-tp",
        type=int,
        default=None,
        help="vLLM tensor-parallel size (GPUs per engine; default: knob TP_SIZE)",
    )
    g.add_argument(
        f"--{role}-dp", type=int, default=None, help="vLLM data-parallel engines (default: visible GPUs // tp)"
    )
    g.add_argument(f"--{role}-base-url", default=None, help="OpenAI-compatible endpoint URL")
    g.add_argument(
        f"--{role}-api-key-env", default="OPENAI_API_KEY", help="name of the environment variable holding the API key"
    )
    g.add_argument(
        f"--{role}-api-mode",
        default=None,
        choices=OPENAI_MODES,
        help="OpenAI-compatible endpoint: chat (messages) or completions (prompt rendered locally with the "
        "model's tokenizer); default: completions for --{role}-type base, else chat",
    )


def sampling_from_args(args: argparse.Namespace) -> SamplingParams:
    """The sampling parameters given by the generation options (:func:`selfimprove.core.cli.add_generation_args`)."""
    return SamplingParams(
        n=args.n, temperature=args.temperature, top_p=args.top_p, max_tokens=args.max_tokens, seed=args.seed
    )


def resolve_engine(engine: str, base_url: str | None = None) -> str:
    """The registered engine a configuration names: an endpoint URL means "openai"; "auto" is
    vLLM when it is installed, else transformers."""
    if engine == "openai" or base_url:
        return "openai"
    if engine == "auto":
        try:
            import vllm  # noqa: F401

            return "vllm"
        except ImportError:
            return "hf"
    if engine not in ENGINE_CLASSES:
        raise UsageError(f"unknown engine {engine!r} (expected one of {', '.join(engine_names())})")
    return engine


def make_engine(
    model: str,
    engine: str = "auto",
    model_type: str = "auto",
    tp: int = 1,
    dp: int | None = None,
    base_url: str | None = None,
    api_key_env: str = "OPENAI_API_KEY",
    max_model_len: int = 4096,
    gpu_memory_utilization: float = 0.9,
    seed: int = 0,
    mode: str | None = None,
    ray_address: str = "",
    ray_replicas: int = 0,
    ray_engine: str = "auto",
) -> Engine:
    """Build an engine from configuration. ``mode`` is the OpenAI-compatible endpoint's API
    (chat/completions; see :meth:`OpenAIEngine.from_settings`); ``ray_*`` place the replicas of
    ``engine="ray"`` (the knobs RAY_ADDRESS, RAY_REPLICAS, RAY_ENGINE)."""
    name = resolve_engine(engine, base_url)
    if name != "openai":
        check_model_path(model)
        if (Path(model) / LIKELIHOOD_CALIBRATION).is_file():
            if "likelihood" not in ENGINE_CLASSES:
                raise UsageError(
                    f"{model} is a likelihood critic ({LIKELIHOOD_CALIBRATION}); "
                    "import selfimprove.critic.likelihood to register its engine"
                )
            name = "likelihood"
    settings = EngineSettings(
        model=model,
        model_type=model_type,
        tp=tp,
        dp=dp,
        base_url=base_url,
        api_key_env=api_key_env,
        max_model_len=max_model_len,
        gpu_memory_utilization=gpu_memory_utilization,
        seed=seed,
        mode=mode,
        ray_address=ray_address,
        ray_replicas=ray_replicas,
        ray_engine=ray_engine,
    )
    engine_ = ENGINE_CLASSES[name].from_settings(settings)
    stop.reinstall()  # a library may have taken SIGTERM or SIGINT (Ray's init does): a stage stops cleanly
    return engine_


_ENGINE_CACHE: dict[tuple, Engine] = {}
_close_at_exit_registered = False


def shared_engine(**kwargs: Any) -> Engine:
    """Build an engine once per process for identical settings (actor == critic shares one model).
    Cached engines are closed at exit, or earlier by :func:`close_shared_engines`."""
    global _close_at_exit_registered
    key = tuple(sorted((k, str(v)) for k, v in kwargs.items()))
    if key not in _ENGINE_CACHE:
        _ENGINE_CACHE[key] = make_engine(**kwargs)
        if not _close_at_exit_registered:
            atexit.register(close_shared_engines)
            _close_at_exit_registered = True
    return _ENGINE_CACHE[key]


def close_shared_engines() -> None:
    """Close every engine :func:`shared_engine` built; the next call builds afresh."""
    engines = list(_ENGINE_CACHE.values())
    _ENGINE_CACHE.clear()
    errors = []
    for engine in engines:
        try:
            engine.close()
        except Exception as e:  # close the others regardless
            errors.append(e)
    if errors:
        raise errors[0]
