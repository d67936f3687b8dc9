"""Any OpenAI-compatible HTTP endpoint: GPT-4o-class critics, ``vllm serve``. The API key is read
from an environment variable and never written anywhere."""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from selfimprove.generation.engines import idle
from selfimprove.generation.engines.base import Completion, Engine, EngineSettings, SamplingParams, load_tokenizer
from selfimprove.generation.prompts import Prompt, PromptFormat


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
        self.client: Any = OpenAI(
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
                    r = self.client.completions.create(prompt=self.render(prompt), **common)
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

        idle.activate(self)  # local engines rest while the endpoint works
        params = self.with_stops(params)
        with ThreadPoolExecutor(self.concurrency) as pool:
            return list(pool.map(lambda p: self._one(p, params), prompts))

    @classmethod
    def from_settings(cls, settings: EngineSettings) -> OpenAIEngine:
        """``mode`` None: "completions" for a base model (chat endpoints apply a chat template),
        else "chat"."""
        mode = settings.mode or ("completions" if (settings.model_type or "").lower() == "base" else "chat")
        return cls(
            settings.model,
            base_url=settings.base_url,
            api_key_env=settings.api_key_env,
            mode=mode,
            model_type=settings.model_type,
        )

    def close(self) -> None:
        client = getattr(self, "client", None)
        if client is not None:
            self.client = None
            client.close()
