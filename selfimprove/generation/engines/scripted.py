"""A scripted engine for exact tests of stage logic: no model, deterministic completions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from selfimprove.generation.engines import idle
from selfimprove.generation.engines.base import Completion, Engine, SamplingParams, whitespace_tokens
from selfimprove.generation.prompts import Prompt, PromptFormat


def prompt_text(prompt: Prompt) -> str:
    """A prompt's words without any model's template (what the scripted engine counts)."""
    return "\n".join(m["content"] for m in prompt.messages) + "\n" + prompt.prefix


class ScriptedEngine(Engine):
    """Answers from a function ``respond(prompt, k) -> str | Completion`` (k = sample index).

    A plain string becomes a Completion that finished with "stop"; a Completion is returned as
    given (a test scripts "length" that way). Token counts left None are filled in
    deterministically: whitespace-separated words of the prompt's messages and prefix, and of
    the text. ``context_length`` (default: none) makes the generation loop fit prompts to that
    window (capped ``max_tokens``, unanswered items); ``prompt_format`` picks the prompt wording
    (default: chat). With ``cut_at_max_tokens`` a text longer than ``max_tokens`` words is cut
    there and finishes with "length", as a model's would. Records every call in ``calls``, and
    ``closed`` once closed.
    """

    def __init__(
        self,
        respond: Callable[[Prompt, int], str | Completion],
        name: str = "scripted",
        context_length: int | None = None,
        prompt_format: PromptFormat | None = None,
        cut_at_max_tokens: bool = False,
    ):
        self.respond = respond
        self.name = name
        self.context_length = context_length
        self.format = prompt_format
        self.cut_at_max_tokens = cut_at_max_tokens
        self.calls: list[tuple[list[Prompt], SamplingParams]] = []
        self.closed = False

    def count_prompt_tokens(self, prompts):
        return [whitespace_tokens(prompt_text(p)) for p in prompts]

    def _complete(self, prompt: Prompt, k: int, max_tokens: int) -> Completion:
        out = self.respond(prompt, k)
        c = out if isinstance(out, Completion) else Completion(out)
        if self.cut_at_max_tokens and whitespace_tokens(c.text) > max_tokens:
            c = replace(c, text=" ".join(c.text.split()[:max_tokens]), finish_reason="length")
        return replace(
            c,
            prompt_tokens=whitespace_tokens(prompt_text(prompt)) if c.prompt_tokens is None else c.prompt_tokens,
            completion_tokens=whitespace_tokens(c.text) if c.completion_tokens is None else c.completion_tokens,
        )

    def generate(self, prompts, params):
        if self.closed:
            raise RuntimeError(f"engine {self.name!r} is closed")
        idle.activate(self)  # the engine at work: every other one is paused
        prompts = list(prompts)
        self.calls.append((prompts, params))
        return [[self._complete(p, k, params.max_tokens) for k in range(params.n)] for p in prompts]

    def close(self) -> None:
        self.closed = True
