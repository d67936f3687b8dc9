"""Hugging Face transformers ``generate`` (batched, left padding): the fallback engine that needs
nothing but transformers. Runs in this process, so there is nothing to pause while it is idle."""

from __future__ import annotations

import gc
import time
from typing import Any

from selfimprove.generation.engines import idle
from selfimprove.generation.engines.base import (
    Completion,
    EngineSettings,
    SamplingParams,
    TokenizedEngine,
    load_tokenizer,
    truncate_at_stop,
)
from selfimprove.generation.prompts import PromptFormat


class HFEngine(TokenizedEngine):
    """transformers ``generate``: batched, left-padded. ``context_length``: ``max_model_len`` or
    the model's own position limit, whichever is smaller."""

    add_special_tokens = False  # prompts are tokenized as rendered

    def __init__(
        self,
        model: str,
        model_type: str = "auto",
        batch_size: int = 16,
        dtype: str = "auto",
        device: str | None = None,
        seed: int = 0,
        name: str | None = None,
        max_model_len: int | None = None,
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
        loaded: Any = AutoModelForCausalLM.from_pretrained(model, dtype=torch_dtype)
        self.model: Any = loaded.to(self.device).eval()
        self.load_seconds = time.time() - t0
        self.batch_size = batch_size
        self.seed = seed
        limits = [n for n in (max_model_len, getattr(self.model.config, "max_position_embeddings", None)) if n]
        self.context_length = min(limits) if limits else None

    @classmethod
    def from_settings(cls, settings: EngineSettings) -> HFEngine:
        return cls(
            settings.model, model_type=settings.model_type, seed=settings.seed, max_model_len=settings.max_model_len
        )

    def generate(self, prompts, params):
        torch = self.torch
        if self.model is None:
            raise RuntimeError(f"engine {self.name!r} is closed")
        idle.activate(self)
        params = self.with_stops(params)
        texts = [self.render(p) for p in prompts]
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

    def close(self) -> None:
        if getattr(self, "model", None) is not None:
            self.model = None
            gc.collect()
