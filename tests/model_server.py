"""A real model server (``switchboard model serve``) on a free port, for tests
and benches: the smallest packaged model unless told otherwise."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator

from switchboard.bus.servers import free_port, stop
from switchboard.workers.engines.llm import server_state

TEST_MODEL = "qwen2.5-coder-0.5b"


@contextlib.contextmanager
def model_server(
    model: str = TEST_MODEL, slots: int = 2, context_tokens: int = 2048, wait_s: float = 600
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Yields (url, process) once the server serves its model."""
    url = f"http://127.0.0.1:{free_port()}"
    env = {
        **os.environ,
        "SWITCHBOARD_LLM_SERVER_URL": url,
        "SWITCHBOARD_LLM_MODEL": model,
        "SWITCHBOARD_LLM_SLOTS": str(slots),
        "SWITCHBOARD_LLM_CONTEXT_TOKENS": str(context_tokens),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "switchboard.cli", "model", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + wait_s
        while server_state(url) != "ready":
            if proc.poll() is not None:
                raise RuntimeError(f"model server exited with {proc.returncode}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"model server not ready after {wait_s} s")
            time.sleep(0.2)
        yield url, proc
    finally:
        stop(proc)


@contextlib.contextmanager
def serving(slots: int | None = None) -> Iterator[str]:
    """For benches: the configured model server when it serves, else one with the
    configured model (default: the server default) started for the duration;
    sets SWITCHBOARD_LLM_SERVER_URL."""
    from switchboard.workers.engines.llm import SERVER_MODEL, LLMSettings

    settings = LLMSettings()
    if settings.engine != "server" or server_state(settings.server_url) == "ready":
        yield settings.server_url
        return
    slots = slots or settings.slots
    model = settings.model or SERVER_MODEL  # SWITCHBOARD_LLM_MODEL picks another
    print(f"no model server on {settings.server_url}: starting one ({model}, {slots} slots)")
    with model_server(model, slots=slots, context_tokens=settings.context_tokens) as (url, _):
        old = os.environ.get("SWITCHBOARD_LLM_SERVER_URL")
        os.environ["SWITCHBOARD_LLM_SERVER_URL"] = url
        try:
            yield url
        finally:
            if old is None:
                os.environ.pop("SWITCHBOARD_LLM_SERVER_URL", None)
            else:
                os.environ["SWITCHBOARD_LLM_SERVER_URL"] = old
