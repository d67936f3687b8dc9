"""The engine interface: sampling parameters in, :class:`Completion` objects out.

    engine.generate(prompts: Sequence[Prompt], params: SamplingParams) -> list[list[Completion]]

returns ``params.n`` completions per prompt, in prompt order. An engine is a context manager that
releases its model and worker processes on exit (``with make_engine(...) as engine:``);
``close()`` does the same and may be called more than once.

Engines that know their context window (``context_length``) and can count a prompt's tokens
(:meth:`Engine.count_prompt_tokens`) let the generation loop fit each prompt to the window: its
``max_tokens`` is capped by what the prompt leaves of the window (:meth:`Engine.generate_capped`),
and a prompt that fills the window alone is never sent (an :class:`Unanswered` completion). Engines that run in child processes can be paused while another engine works
(:meth:`Engine.suspend`, :mod:`selfimprove.generation.engines.idle`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from selfimprove.core.errors import UsageError
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


@dataclass(frozen=True)
class FailedCompletion(Completion):
    """A completion an engine could not give (an endpoint that gave up retrying, a row that failed
    on two replicas): no text, ``finish_reason`` "error", and why in the record's ``error`` field.
    The generation loop never writes it; a rerun asks for it again."""

    finish_reason: str | None = "error"
    error: str = ""

    def record_fields(self) -> dict:
        return {**super().record_fields(), "error": self.error}


#: Why an item has no completion: its prompt alone fills the engine's context window.
UNANSWERED_REASON = "prompt longer than the context window"


@dataclass(frozen=True)
class Unanswered(Completion):
    """The completion of a prompt that was never sent because it leaves no room in the context
    window: no text, ``finish_reason`` "unanswered", and why. Its record says so
    (``"unanswered": true``, ``unanswered_reason``) and is graded wrong."""

    finish_reason: str | None = "unanswered"
    reason: str = UNANSWERED_REASON

    def record_fields(self) -> dict:
        return {**super().record_fields(), "unanswered": True, "unanswered_reason": self.reason}


@dataclass(frozen=True)
class EngineSettings:
    """Everything configuration says about one engine; each engine class takes what it needs."""

    model: str
    model_type: str = "auto"
    tp: int = 1
    dp: int | None = None
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    max_model_len: int = 4096
    gpu_memory_utilization: float = 0.9
    seed: int = 0
    mode: str | None = None
    ray_address: str = ""  #: engine "ray": the cluster to join (empty: start one here)
    ray_replicas: int = 0  #: engine "ray": model replicas (0: one per tp GPUs, or per node)
    ray_engine: str = "auto"  #: engine "ray": the engine in each replica


class Engine(ABC):
    """Turns prompts into completions. ``name`` identifies the model in records.

    ``format`` renders prompts for a local model (None for chat APIs, which take messages).
    ``context_length`` is the most tokens a prompt and its completion may take together (None:
    unknown, no prompt is refused).
    """

    name: str = "engine"
    format: PromptFormat | None = None
    context_length: int | None = None

    @abstractmethod
    def generate(self, prompts: Sequence[Prompt], params: SamplingParams) -> list[list[Completion]]: ...

    def generate_capped(
        self, prompts: Sequence[Prompt], params: SamplingParams, max_tokens: Sequence[int]
    ) -> list[list[Completion]]:
        """:meth:`generate` with each prompt's own ``max_tokens`` (what its prompt leaves of the
        context window, at most ``params.max_tokens``). Here one :meth:`generate` call per distinct
        value; engines that take a limit per prompt in one batch override this."""
        if len(max_tokens) != len(prompts):
            raise ValueError(f"{len(max_tokens)} max_tokens for {len(prompts)} prompts")
        by_limit: dict[int, list[int]] = {}
        for i, m in enumerate(max_tokens):
            by_limit.setdefault(m, []).append(i)
        out: list[list[Completion]] = [[] for _ in prompts]
        for m, idx in sorted(by_limit.items(), reverse=True):
            p = params if m == params.max_tokens else replace(params, max_tokens=m)
            got = self.generate([prompts[i] for i in idx], p)
            if len(got) != len(idx):
                raise RuntimeError(f"engine returned {len(got)} results for {len(idx)} prompts")
            for i, completions in zip(idx, got):
                out[i] = completions
        return out

    @classmethod
    def from_settings(cls, settings: EngineSettings) -> Engine:
        """Build from configuration (what :func:`~selfimprove.generation.engines.make_engine` calls)."""
        raise NotImplementedError(f"{cls.__name__} is not built from configuration")

    def close(self) -> None:
        """Release the model and any worker processes (idempotent). Nothing to release here."""
        return None

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- prompts

    @property
    def prompt_kind(self) -> str:
        """ "chat" or "base": which wording of a prompt suits this model (chat APIs are chat)."""
        return self.format.kind if self.format is not None else "chat"

    def with_stops(self, params: SamplingParams) -> SamplingParams:
        """Add the prompt format's own stop strings (base models' next "Human:" turn)."""
        extra = tuple(s for s in (self.format.stop if self.format else ()) if s not in params.stop)
        return replace(params, stop=params.stop + extra) if extra else params

    def render(self, prompt: Prompt) -> str:
        if self.format is None:
            raise RuntimeError(f"engine {self.name!r} has no prompt format to render with")
        return self.format.render(prompt)

    def count_prompt_tokens(self, prompts: Sequence[Prompt]) -> list[int] | None:
        """Tokens each prompt takes as the model sees it, or None when this engine cannot tell."""
        return None

    # ----------------------------------------------------------------- idle engines

    def suspend(self) -> bool:
        """Stop this engine's worker processes from using the CPU while it is idle. Returns
        whether anything was suspended (engines without worker processes have nothing to stop)."""
        return False

    def resume(self) -> None:
        """Undo :meth:`suspend` (a no-op when not suspended)."""
        return None


class TokenizedEngine(Engine):
    """An engine that renders prompts with a local tokenizer and can count their tokens.

    ``add_special_tokens`` says whether the engine's own tokenization of a prompt text adds the
    tokenizer's special tokens (vLLM does for text prompts; the HF engine does not)."""

    tokenizer: Any = None
    add_special_tokens: bool = True

    def count_prompt_tokens(self, prompts: Sequence[Prompt]) -> list[int] | None:
        if self.tokenizer is None or self.format is None:
            return None
        if not prompts:
            return []
        texts = [self.render(p) for p in prompts]
        ids = self.tokenizer(texts, add_special_tokens=self.add_special_tokens)["input_ids"]
        return [len(x) for x in ids]


def truncate_at_stop(text: str, stop: Sequence[str]) -> str:
    cut = len(text)
    for s in stop:
        if s:
            i = text.find(s)
            if i != -1:
                cut = min(cut, i)
    return text[:cut]


def whitespace_tokens(text: str) -> int:
    """A deterministic stand-in token count (for engines without a tokenizer)."""
    return len(text.split())


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
        raise UsageError(f"model path {model!r} is not a model folder (no config.json there)")
