"""The model server (llama.cpp through xllamacpp, the packaged 0.5B) and the
engine every LLM worker uses to reach it: streaming, sharing slots, cancel,
a prompt too long, a server that dies mid-answer."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from switchboard.bus import BusSettings, transport
from switchboard.bus.servers import free_port
from switchboard.schemas import WorkerState
from switchboard.workers.engines.llm import (
    LLMPromptTooLong,
    LLMSettings,
    LLMUnavailable,
    ServerLLM,
    load_llm,
    server_state,
)
from tests.model_server import model_server

pytestmark = pytest.mark.slow
PARIS = [{"role": "user", "content": "What is the capital of France? One word."}]
COUNT = [{"role": "user", "content": "Count from 1 to 300, one number per line."}]


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with model_server(slots=2, context_tokens=1024) as (url, _):
        yield url


@pytest.fixture
def llm(server: str) -> ServerLLM:
    engine = load_llm(LLMSettings(engine="server", server_url=server, wait_ready_s=60))
    assert isinstance(engine, ServerLLM)
    return engine


def _busy_slots(url: str) -> int:
    return sum(bool(s["is_processing"]) for s in httpx.get(f"{url}/slots", timeout=10).json())


def _decoded(url: str) -> float:
    """Tokens the server has generated so far (its Prometheus counter)."""
    for line in httpx.get(f"{url}/metrics", timeout=10).text.splitlines():
        if line.startswith("llamacpp:n_decode_total"):
            return float(line.split()[-1])
    raise AssertionError("no llamacpp:n_decode_total in /metrics")


async def _until(check: object, wait_s: float = 60.0) -> bool:
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return True
        await asyncio.sleep(0.1)
    return False


async def test_streams_a_correct_answer_and_names_its_model(llm: ServerLLM) -> None:
    pieces = [p async for p in llm.stream(PARIS, max_tokens=16)]
    assert len(pieces) >= 1 and "Paris" in "".join(pieces)
    assert llm.capabilities.name == "qwen2.5-coder-0.5b-instruct-q4_k_m"
    assert llm.capabilities.context_tokens == 1024


async def test_a_cancelled_generation_frees_its_slot_at_once(llm: ServerLLM, server: str) -> None:
    before = _decoded(server)
    stream = llm.stream(COUNT, max_tokens=900)
    async with contextlib.aclosing(stream):
        got = 0
        async for _ in stream:
            got += 1
            if got == 3:
                assert _busy_slots(server) == 1
                break
    assert await _until(lambda: _busy_slots(server) == 0)
    assert _decoded(server) - before < 100  # stopped there, not after 900 tokens
    assert "Paris" in await llm.complete(PARIS, max_tokens=16)


async def test_two_streams_share_the_server(llm: ServerLLM, server: str) -> None:
    """The second answer starts while the first is still being written: slots, not a queue."""
    events: list[str] = []

    async def run(name: str, messages: list[dict[str, str]], tokens: int) -> None:
        async for _ in llm.stream(messages, max_tokens=tokens):
            events.append(name)
        events.append(f"{name} done")

    first = asyncio.create_task(run("a", COUNT, 200))
    assert await _until(lambda: "a" in events)
    await run("b", PARIS, 16)
    await first
    assert events.index("b") < events.index("a done")


async def test_a_prompt_over_the_context_is_trimmed_or_refused(llm: ServerLLM) -> None:
    long = "word " * 3000  # ~3,000 tokens against 1,024 per slot
    with pytest.raises(LLMPromptTooLong, match="context"):
        await llm.complete([{"role": "user", "content": long}], max_tokens=8)
    history = [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": long},
        {"role": "assistant", "content": "ok"},
        *PARIS,
    ]
    assert "Paris" in await llm.complete(history, max_tokens=16)  # the old turns dropped
    assert "Paris" in await llm.complete(PARIS, max_tokens=16)  # and the server still serves


async def test_a_server_that_dies_mid_answer_is_a_retryable_error() -> None:
    with model_server(slots=1, context_tokens=1024) as (url, proc):
        llm = load_llm(LLMSettings(engine="server", server_url=url))
        llm.retry_wait_s = 2.0  # type: ignore[attr-defined]
        with pytest.raises(LLMUnavailable) as raised:
            async for _ in llm.stream(COUNT, max_tokens=900):
                proc.kill()
        assert raised.value.retryable
        proc.wait(30)
        assert server_state(url) == "down"
        with pytest.raises(LLMUnavailable, match="model server at .* is down"):
            await llm.complete(PARIS, max_tokens=8)


def test_a_worker_waits_for_the_model_and_says_so_when_it_never_comes() -> None:
    with pytest.raises(LLMUnavailable, match="down after"):
        load_llm(LLMSettings(engine="server", server_url=f"http://127.0.0.1:{free_port()}", wait_ready_s=1))


def _health_answering(status: int) -> tuple[str, ThreadingHTTPServer]:
    """A stand-in that answers /health as a model server still loading does."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status)
            self.end_headers()
            self.wfile.write(b'{"error": {"message": "Loading model"}}')

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{httpd.server_port}", httpd


async def _say(settings: BusSettings, event: WorkerState) -> None:
    async with transport(settings) as bus:
        await bus.publisher("test@1")(event)


@pytest.mark.nats
def test_readyz_tells_loading_from_ready(
    server: str, nats_settings: BusSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from starlette.testclient import TestClient

    from switchboard.edge.app import create_app
    from switchboard.edge.settings import EdgeSettings

    loading, httpd = _health_answering(503)
    try:
        for url, code, state in ((loading, 503, "loading"), (server, 200, "ready")):
            monkeypatch.setenv("SWITCHBOARD_LLM_SERVER_URL", url)
            with TestClient(create_app(nats_settings, EdgeSettings(open=True))) as client:
                r = client.get("/readyz")
                assert r.status_code == code, r.text
                body = r.json()
                assert body["status"] == state and body["bus"] == "ok"
                assert body["kinds"] == {"llm": state, "codegen": state}
        monkeypatch.setenv("SWITCHBOARD_LLM_SERVER_URL", f"http://127.0.0.1:{free_port()}")
        with TestClient(create_app(nats_settings, EdgeSettings(open=True))) as client:
            # no model server, and no LLM worker runs: the rest of the system is ready
            assert "codegen" not in client.get("/readyz").json()["kinds"]
            said = WorkerState(correlation_id="codegen", kind="codegen", replica="r1", state="loading")
            asyncio.run(_say(nats_settings, said))
            deadline = time.monotonic() + 60
            while client.get("/readyz").json()["kinds"].get("codegen") != "down":  # it runs; no server
                assert time.monotonic() < deadline, client.get("/readyz").text
                time.sleep(0.2)
    finally:
        httpd.shutdown()
