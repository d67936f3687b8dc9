"""Any OpenAI-compatible HTTP endpoint: GPT-4o-class critics, ``vllm serve``. The API key is read
from an environment variable and never written anywhere: not in records, logs or error messages
(an endpoint that echoes it back gets it replaced by ``***``).

Every request is bounded (``timeout_seconds``, a stalled response included). A transient failure
(connection error, timeout, HTTP 408/409/425/429/5xx, a response that is not valid JSON, a
completion without its ``n`` choices) is tried again after ``retry_base_seconds * 2**attempt``
seconds with jitter, or after the ``Retry-After`` the endpoint asked for, at most
``max_attempts`` times and within ``retry_budget_seconds`` per item. An item that still fails, or
that the endpoint rejects (another 4xx), comes back as a :class:`FailedCompletion`
(``finish_reason`` "error", the reason in ``error``): the generation loop records it as an error
and writes no record, so a rerun asks for it again. A refusal that every item would get (HTTP
401, 403, 404: key, permissions, model or URL) stops the engine at once with one line.
"""

from __future__ import annotations

import email.utils
import logging
import os
import random
import re
import time
from typing import Any

from selfimprove.core.errors import EngineError, UsageError
from selfimprove.generation.engines import idle
from selfimprove.generation.engines.base import (
    Completion,
    Engine,
    EngineSettings,
    FailedCompletion,
    SamplingParams,
    load_tokenizer,
)
from selfimprove.generation.prompts import Prompt, PromptFormat

log = logging.getLogger(__name__)
RETRY_STATUS = frozenset({408, 409, 425, 429})  # and every 5xx
FATAL_STATUS = {401: "unauthorized", 403: "forbidden", 404: "not found"}


class BadResponse(EngineError):
    """An answer with status 200 that is not a usable completion."""


class OpenAIEngine(Engine):
    """An OpenAI-compatible endpoint. ``mode="chat"`` sends the conversation as messages (the reply
    is returned whole; chat APIs cannot be prefilled); ``mode="completions"`` renders the prompt
    locally with the model's tokenizer (for ``vllm serve`` endpoints of local models). Retries:
    see the module's docstring; the limits are class attributes."""

    max_attempts = 5
    retry_base_seconds = 1.0
    retry_max_seconds = 60.0  # longest wait between two attempts (a longer Retry-After gives up)
    retry_budget_seconds = 1800.0  # per item: requests and waits together
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
            raise UsageError(f"the OpenAI engine needs an API key in ${api_key_env}")
        self._key = key or ""
        self.api_key_env = api_key_env
        self.client: Any = OpenAI(
            api_key=key or "EMPTY",
            base_url=base_url,
            timeout=self.timeout_seconds if timeout is None else timeout,
            max_retries=0,  # retried here, within the budget
        )
        self.model = model
        self.name = name or model
        self.mode = mode
        self.concurrency = concurrency
        if mode == "completions":
            self.format = PromptFormat.for_tokenizer(load_tokenizer(tokenizer or model), model_type)
        elif mode != "chat":
            raise UsageError(f"OpenAI engine mode must be chat or completions, not {mode!r}")

    def _request(self, prompt: Prompt, params: SamplingParams) -> list[Completion]:
        common = dict(
            model=self.model,
            n=params.n,
            temperature=params.temperature,
            top_p=params.top_p,
            max_tokens=params.max_tokens,
            stop=list(params.stop) or None,
            seed=params.seed,
        )
        if self.mode == "chat":
            r = self.client.chat.completions.create(messages=list(prompt.messages), **common)
        else:
            r = self.client.completions.create(prompt=self.render(prompt), **common)
        choices = getattr(r, "choices", None)
        if not isinstance(choices, list):
            raise BadResponse("the response is not a completion object")
        if len(choices) != params.n:
            raise BadResponse("empty choices list" if not choices else f"{len(choices)} choices for n={params.n}")
        texts = [(c.message.content or "") if self.mode == "chat" else (c.text or "") for c in choices]
        return self._completions(r, texts)

    def _one(self, prompt: Prompt, params: SamplingParams) -> list[Completion]:
        """The item's completions, or ``n`` :class:`FailedCompletion` once retrying is over."""
        start = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._request(prompt, params)
            except Exception as e:
                retry, hint, reason = self._classify(e)
            elapsed = time.monotonic() - start
            wait = hint if hint is not None else self.backoff(attempt)
            if not retry or attempt >= self.max_attempts or wait > self.retry_max_seconds:
                return self._failed(params, reason, attempt, elapsed)
            if elapsed + wait > self.retry_budget_seconds:
                return self._failed(params, reason, attempt, elapsed)
            log.warning("%s: %s; attempt %d, trying again in %.2fs", self.name, reason, attempt, wait)
            time.sleep(wait)

    def backoff(self, attempt: int) -> float:
        """Seconds before attempt ``attempt + 1``: exponential, capped, with jitter (half to all)."""
        return min(self.retry_max_seconds, self.retry_base_seconds * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)

    def _failed(self, params: SamplingParams, reason: str, attempts: int, elapsed: float) -> list[Completion]:
        error = f"{reason} (gave up after {attempts} attempt(s), {elapsed:.1f}s)"
        log.warning("%s: %s", self.name, error)
        return [FailedCompletion("", error=error) for _ in range(params.n)]

    def _redact(self, text: str) -> str:
        return text.replace(self._key, "***") if len(self._key) >= 4 else text

    def _classify(self, e: Exception) -> tuple[bool, float | None, str]:
        """``(retry, wait the endpoint asked for, reason)``; raises :class:`EngineError` for a
        refusal every item would get."""
        import openai

        if isinstance(e, openai.APIStatusError):
            status = e.status_code
            detail = re.sub(r"^Error code: \d+ - ", "", self._redact(str(getattr(e, "message", "") or "")))[:200]
            if status in FATAL_STATUS:
                raise EngineError(
                    f"{self.name}: the endpoint answered HTTP {status} ({FATAL_STATUS[status]}: {detail}); "
                    f"check the base URL, the model name and ${self.api_key_env}"
                ) from None
            reason = f"HTTP {status}" + (f" ({detail})" if detail else "")
            return status in RETRY_STATUS or status >= 500, retry_after(e.response.headers), reason
        if isinstance(e, openai.APITimeoutError):
            return True, None, "no response within the request timeout"
        if isinstance(e, openai.APIConnectionError):
            return True, None, f"connection failed ({type(e.__cause__ or e).__name__})"
        if isinstance(e, BadResponse):
            return True, None, str(e)
        if isinstance(e, ValueError):  # json.JSONDecodeError and the client's validation errors
            return True, None, f"invalid JSON in the response ({type(e).__name__})"
        raise e

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


def retry_after(headers: Any) -> float | None:
    """Seconds the endpoint asked to wait: ``retry-after-ms``, or ``Retry-After`` in seconds or
    as an HTTP date; None when it did not say."""
    try:
        ms = headers.get("retry-after-ms")
        if ms is not None:
            return max(0.0, float(ms) / 1000)
        value = headers.get("retry-after")
        if value is None:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            when = email.utils.parsedate_to_datetime(value)
            return max(0.0, when.timestamp() - time.time())
    except (TypeError, ValueError, AttributeError):
        return None
