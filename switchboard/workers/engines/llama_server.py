"""The model server: llama.cpp's own HTTP server (the ``xllamacpp`` wheel), one
process holding one copy of the weights for every LLM user in the system.

Parallel slots share the model with continuous batching, so several voice
sessions and analyst questions decode together; the prompt-prefix cache keeps
a repeated system prompt and schema from being read again. ``/health`` answers
503 while the model loads and 200 once it serves; ``/v1/chat/completions``
streams; closing a stream stops its generation and frees its slot.

``switchboard model serve`` runs it; ``switchboard up`` starts it when no
model server answers on ``SWITCHBOARD_LLM_SERVER_URL``.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from urllib.parse import urlparse

from .llm import SERVER_MODEL, LLMSettings
from .models import resolve

log = logging.getLogger(__name__)


def host_port(url: str) -> tuple[str, int]:
    """The host and port of a model server URL."""
    parsed = urlparse(url)
    return parsed.hostname or "127.0.0.1", parsed.port or 8090


def is_local(url: str) -> bool:
    """Does the URL point at this machine (where ``up`` may start a server)?"""
    return host_port(url)[0] in ("127.0.0.1", "localhost", "::1")


def params(settings: LLMSettings, host: str | None = None) -> object:
    """llama.cpp's settings; ``host`` is the address to listen on (default: the URL's)."""
    import xllamacpp as xlc

    url_host, port = host_port(settings.server_url)
    host = host or url_host
    p = xlc.CommonParams()
    p.model.path = str(resolve(settings.model or SERVER_MODEL))
    p.n_parallel = settings.slots
    p.n_ctx = settings.slots * settings.context_tokens  # split evenly between the slots
    p.cont_batching = True
    p.cache_prompt = True
    # read into memory, not mapped: llama.cpp repacks the weights for this CPU,
    # and a mapping would keep the file's pages resident beside that copy (+600 MiB)
    p.load_mode = xlc.llama_load_mode.LLAMA_LOAD_MODE_NONE
    p.cache_ram_mib = settings.cache_ram_mib  # llama.cpp's default, 8 GiB, would outgrow a small machine
    p.use_jinja = True  # the chat template the GGUF carries
    p.cpuparams.n_threads = settings.threads
    p.cpuparams_batch.n_threads = settings.threads
    p.hostnames = [host]
    p.port = port
    p.endpoint_slots = True
    p.endpoint_metrics = True
    p.n_predict = settings.max_tokens_cap
    if settings.api_key:
        p.api_keys = [settings.api_key]
    return p


def serve(
    settings: LLMSettings | None = None, stop: threading.Event | None = None, host: str | None = None
) -> None:
    """Load the model and serve until SIGTERM/SIGINT (or ``stop``)."""
    settings = settings or LLMSettings()
    # llama.cpp's OpenMP threads spin while idle; beside other workers on few
    # cores that spinning starves everyone (0.2 tokens/s seen), so they sleep
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import xllamacpp as xlc

    stop = stop or threading.Event()
    # answers /health with 503 while it loads; a signal meanwhile ends the process at once
    server = xlc.Server(params(settings, host))
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
    log.info("model server ready", extra={"url": server.listening_address})
    stop.wait()
    del server
