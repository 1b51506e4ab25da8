"""LLM engines: a template method owns timing, metrics and errors; an engine
implements only ``_stream_impl`` (livekit's stt.py pattern).

- ``ServerLLM`` (default): the model server (``llama_server``: llama.cpp,
  one copy of the weights, parallel slots) over its HTTP API; every worker
  that needs an LLM shares it. Closing the stream stops generation there.
- ``TransformersLLM``: fallback; a GGUF model from an installed package loaded
  into this process with transformers (a private copy, slow to start).
- ``OllamaLLM``: an Ollama server through the ``ollama`` client.
"""

from __future__ import annotations

import abc
import asyncio
import json
import logging
import os
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client import Histogram
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from switchboard.bus import loading

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
    """An engine failed to answer; ``retryable`` when trying later may work."""

    retryable = False


class LLMUnavailable(LLMError):
    """The model server is down, still loading, or went away mid-answer: try again later."""

    retryable = True


class LLMPromptTooLong(LLMError):
    """Even trimmed of its history, the prompt does not fit the model's context."""


@dataclass(frozen=True)
class Capabilities:
    """What an engine serves: the model's name, its context length, whether it streams."""

    name: str
    context_tokens: int
    streaming: bool = True


class LLMSettings(BaseSettings):
    """Which LLM engine and model, and the model server's knobs (``SWITCHBOARD_LLM_*``)."""

    model_config = SettingsConfigDict(env_prefix="SWITCHBOARD_LLM_", extra="ignore")

    engine: str = "server"  # server | embedded | ollama
    model: str | None = None
    """server and embedded: a split model name (``workers.engines.models.SPLIT``),
    a package carrying a .gguf, or a .gguf path; ollama: a model name. Unset:
    ``SERVER_MODEL`` on the server, the role's ``DEFAULT_MODELS`` embedded."""
    server_url: str = "http://127.0.0.1:8090"
    """Where the model server answers; ``switchboard up`` starts one there when none does."""
    api_key: str | None = None
    """The model server's key (clients send it as Bearer); unset: none asked."""
    slots: int = Field(default=4, ge=1, le=64)
    """Model server: generations decoded together (continuous batching)."""
    context_tokens: int = Field(default=4096, ge=256)
    """Model server: context per slot (prompt + answer)."""
    max_tokens_cap: int = Field(default=1024, ge=1)
    cache_ram_mib: int = Field(default=512, ge=0)
    """Model server: memory for prompts kept beyond the slots' own (0: none)."""
    wait_ready_s: float = Field(default=900.0, gt=0)
    """How long a worker waits at start for the model server to load its model."""
    ollama_host: str = "http://127.0.0.1:11434"
    threads: int = Field(default_factory=lambda: os.cpu_count() or 2, ge=1)
    quantize: str | None = None
    """embedded: "int8" (dynamic int8 linear layers: ~4x faster decoding on CPU) or
    "none". Unset: the role's default (``DEFAULT_QUANTIZE``)."""


# The model server's default: Qwen2.5-Coder-1.5B picks the right tables and
# columns where the 0.5B invents them (bench/analyst), and llama.cpp reads its
# Q4_K_M weights as they are (1.1 GB, loaded in seconds).
SERVER_MODEL = "qwen2.5-coder-1.5b"
# Embedded (transformers) fallback defaults per role: the 0.5B, which
# transformers can hold twice on a small machine.
DEFAULT_MODELS = {"chat": "qwen2.5-coder-0.5b", "code": "qwen2.5-coder-0.5b"}
# int8 is ~4x faster but cost the coder most of its accuracy in bench/analyst;
# chat answers keep their sense at int8 and need the speed (first audio).
DEFAULT_QUANTIZE = {"chat": "int8", "code": "none"}


class LLM(abc.ABC):
    """A chat model. The template ``stream`` owns timing, metrics and errors; engines implement ``_stream_impl``."""

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
        """The whole reply (``stream`` joined)."""
        return "".join([piece async for piece in self.stream(messages, **kw)])

    @abc.abstractmethod
    def _stream_impl(
        self, messages: list[Message], *, max_tokens: int, temperature: float
    ) -> AsyncIterator[str]: ...


class TransformersLLM(LLM):
    """Fallback: a GGUF model loaded into this process with transformers (a private copy)."""

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
        """Tokens of ``text`` in this model's tokenizer."""
        return len(self.tokenizer.encode(text))

    async def _stream_impl(
        self, messages: list[Message], *, max_tokens: int, temperature: float
    ) -> AsyncIterator[str]:
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        ids: Any = self.tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt"
        )
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
    """A model on an Ollama server."""

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


class ServerLLM(LLM):
    """The shared model server, over llama.cpp's OpenAI-style HTTP API."""

    def __init__(self, url: str, api_key: str | None = None, timeout_s: float = 300.0) -> None:
        import httpx

        self.url = url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._timeout = httpx.Timeout(timeout_s, connect=5.0)
        self.capabilities = Capabilities(name="model-server", context_tokens=4096)
        self.retry_wait_s = 120.0  # a server restarting mid-request: how long to wait for it

    def wait_ready(self, wait_s: float) -> None:
        """Block until the server serves its model (it answers 503 while loading),
        then learn its model's name and context per slot."""
        import httpx

        deadline = time.monotonic() + wait_s
        logged = ""
        while True:
            state = server_state(self.url, self._headers)
            if state == "ready":
                break
            if state != logged:
                log.info("waiting for the model server", extra={"url": self.url, "state": state})
                loading.report(f"waiting for the model server at {self.url} ({state})")
                logged = state
            if time.monotonic() > deadline:
                raise LLMUnavailable(f"the model server at {self.url} is {state} after {wait_s:g} s")
            time.sleep(1.0)
        props = httpx.get(f"{self.url}/props", headers=self._headers, timeout=10.0).json()
        name = Path(str(props.get("model_path") or "model-server")).stem
        ctx = int((props.get("default_generation_settings") or {}).get("n_ctx") or 4096)
        self.capabilities = Capabilities(name=name, context_tokens=ctx)

    async def _stream_impl(
        self, messages: list[Message], *, max_tokens: int, temperature: float
    ) -> AsyncIterator[str]:
        import httpx

        body: dict[str, Any] = {
            "messages": messages,
            "stream": True,
            "max_tokens": max_tokens,
            "temperature": temperature,
            "cache_prompt": True,  # a stable system prompt and schema are read once
        }
        waited = False
        while True:
            started = False
            try:
                async with (
                    httpx.AsyncClient(timeout=self._timeout, headers=self._headers) as client,
                    client.stream("POST", f"{self.url}/v1/chat/completions", json=body) as r,
                ):
                    if r.status_code != 200:
                        error = _error_of((await r.aread()).decode(errors="replace"))
                        if r.status_code == 400 and "context" in error:
                            trimmed = _trim(body["messages"])
                            if trimmed is None:
                                raise LLMPromptTooLong(f"prompt over the model's context: {error}")
                            body["messages"] = trimmed
                            continue
                        if r.status_code == 503:
                            raise LLMUnavailable(f"the model server is not ready: {error}")
                        raise LLMError(f"the model server answered {r.status_code}: {error}")
                    async for line in r.aiter_lines():
                        if not line.startswith("data: ") or line == "data: [DONE]":
                            continue
                        chunk = json.loads(line[6:])
                        if "error" in chunk:
                            raise LLMError(f"the model server failed mid-answer: {_error_of(chunk)}")
                        for choice in chunk.get("choices") or []:
                            text = (choice.get("delta") or {}).get("content")
                            if text:
                                started = True
                                yield text
                    return
            except (httpx.ConnectError, httpx.ConnectTimeout, LLMUnavailable) as exc:
                if waited:
                    raise LLMUnavailable(f"no model server serves on {self.url}: {exc}") from exc
                # restarting or still loading: wait for it once, then ask again
                waited = True
                await asyncio.to_thread(self.wait_ready, self.retry_wait_s)
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.ReadTimeout) as exc:
                if started or waited:
                    raise LLMUnavailable(f"the model server went away mid-answer: {exc}") from exc
                waited = True
                await asyncio.to_thread(self.wait_ready, self.retry_wait_s)


def server_state(url: str, headers: dict[str, str] | None = None, timeout: float = 5.0) -> str:
    """The model server's state: "ready", "loading" (it answers; its model not yet) or "down"."""
    import httpx

    try:
        r = httpx.get(url.rstrip("/") + "/health", headers=headers or {}, timeout=timeout)
    except httpx.HTTPError:
        return "down"
    return "ready" if r.status_code == 200 else "loading" if r.status_code == 503 else "down"


def _error_of(raw: str | dict[str, Any]) -> str:
    try:
        data = json.loads(raw) if isinstance(raw, str) else raw
        err = data.get("error", data)
        return str(err.get("message", err) if isinstance(err, dict) else err)[:500]
    except (ValueError, AttributeError):
        return str(raw)[:500]


def _trim(messages: list[Message]) -> list[Message] | None:
    """The oldest turn of history dropped (system prompt and question kept); None: nothing left to drop."""
    head = [m for m in messages[:1] if m["role"] == "system"]
    rest = messages[len(head) :]
    if len(rest) <= 1:
        return None
    return head + rest[1:]


def load_llm(settings: LLMSettings | None = None, role: str = "chat") -> LLM:
    """The LLM engine the settings name; ``role`` (chat or code) picks the embedded engine's defaults."""
    settings = settings or LLMSettings()
    if settings.engine not in ("server", "embedded", "ollama"):
        raise ValueError(f"unknown LLM engine {settings.engine!r}: server | embedded | ollama")
    if settings.engine == "server":
        llm = ServerLLM(settings.server_url, settings.api_key)
        llm.wait_ready(settings.wait_ready_s)
        return llm
    if settings.engine == "ollama":
        if not settings.model:
            raise ValueError("SWITCHBOARD_LLM_MODEL must name the Ollama model")
        return OllamaLLM(settings.model, settings.ollama_host)
    model = settings.model or DEFAULT_MODELS[role]
    quantize = settings.quantize or DEFAULT_QUANTIZE[role]
    # small chat models loop on their own words without a penalty; code repeats tokens by nature
    penalty = 1.1 if role == "chat" else 1.0
    return TransformersLLM(resolve(model), settings.threads, quantize, penalty)
