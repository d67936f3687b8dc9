"""Generation engines behind one small interface (:class:`Engine`).

    engine.generate(prompts: Sequence[Prompt], params: SamplingParams) -> list[list[Completion]]

returns ``params.n`` completions per prompt, in prompt order. A :class:`Completion` is the text
after the prompt's ``prefix`` with why generation stopped (``finish_reason``: "stop", "length", ...)
and the token counts the engine reports. One module per engine:

* :mod:`.vllm` — :class:`VLLMEngine`, vLLM offline inference (data parallel over GPU groups);
* :mod:`.hf` — :class:`HFEngine`, transformers ``generate``; the fallback;
* :mod:`.openai` — :class:`OpenAIEngine`, any OpenAI-compatible endpoint;
* :mod:`.ray_engine` — :class:`~.ray_engine.RayEngine`, replicas of the others on a Ray cluster
  (``ENGINE=ray``; :mod:`.ray_pool` feeds them; docs/scaling.md);
* :mod:`.scripted` — :class:`ScriptedEngine`, scripted completions for exact tests;
* :mod:`.workers` — the data-parallel worker pool and GPU grouping;
* :mod:`.idle` — an idle engine's processes are paused while another engine works;
* :mod:`.registry` — name -> class registry, command-line options, :func:`make_engine`,
  :func:`shared_engine`.

Engines are context managers (``with make_engine(...) as engine:``) that release their model and
worker processes on exit. A model is loaded once when its engine is built; a stage builds its
engines once and reuses them.
"""

from selfimprove.generation.engines.base import (
    UNANSWERED_REASON,
    Completion,
    Engine,
    EngineSettings,
    SamplingParams,
    TokenizedEngine,
    Unanswered,
    check_model_path,
    load_tokenizer,
    truncate_at_stop,
    whitespace_tokens,
)
from selfimprove.generation.engines.hf import HFEngine
from selfimprove.generation.engines.openai import OpenAIEngine
from selfimprove.generation.engines.registry import (
    ENGINE_CLASSES,
    ENGINES,
    add_engine_args,
    close_shared_engines,
    make_engine,
    register_engine,
    resolve_engine,
    sampling_from_args,
    shared_engine,
)
from selfimprove.generation.engines.scripted import ScriptedEngine, prompt_text
from selfimprove.generation.engines.vllm import VLLMEngine, _vllm_worker, vllm_completions
from selfimprove.generation.engines.workers import (
    DataParallelWorkers,
    _visible_gpus,
    contiguous_shards,
    gpu_groups,
    visible_gpus,
)

__all__ = [
    "ENGINES",
    "ENGINE_CLASSES",
    "UNANSWERED_REASON",
    "Completion",
    "DataParallelWorkers",
    "Engine",
    "EngineSettings",
    "HFEngine",
    "OpenAIEngine",
    "SamplingParams",
    "ScriptedEngine",
    "TokenizedEngine",
    "Unanswered",
    "VLLMEngine",
    "_visible_gpus",
    "_vllm_worker",
    "add_engine_args",
    "check_model_path",
    "close_shared_engines",
    "contiguous_shards",
    "gpu_groups",
    "load_tokenizer",
    "make_engine",
    "prompt_text",
    "register_engine",
    "resolve_engine",
    "sampling_from_args",
    "shared_engine",
    "truncate_at_stop",
    "visible_gpus",
    "vllm_completions",
    "whitespace_tokens",
]
