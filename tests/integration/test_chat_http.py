"""Chat over HTTP: a message in, the reply streamed back as Server-Sent Events,
the conversation kept and listed for its own client only. The voice workers
run on real NATS with fakes of their engines (the reply is scripted)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from switchboard.bus import BusSettings
from switchboard.edge.settings import EdgeSettings
from tests.edge_server import edge_server
from tests.fakes import FakeEmbedder, FakeLLM, FakeSTT, FakeTTS, FakeVAD, MemoryCollection
from tests.voice_stack import VoiceStack, voice_settings, voice_stack

pytestmark = pytest.mark.nats
ALICE, BOB = "alice-token-0123456789abcdef", "bob-token-0123456789abcdef00"


@pytest.fixture
async def chat(
    nats_settings: BusSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[VoiceStack]:
    monkeypatch.setenv("SWITCHBOARD_VOICE_DB_URL", voice_settings(tmp_path).db_url)  # the edge reads it
    engines = {
        "vad": FakeVAD(),
        "stt": FakeSTT({220: "unused"}),
        "embedder": FakeEmbedder(),
        "passages": MemoryCollection(),
        "llm": FakeLLM(["Start more replicas of the worker.", "Each one takes a share of the sessions."]),
        "tts": FakeTTS(),
    }
    edge = EdgeSettings(tokens={ALICE: "alice", BOB: "bob"})
    async with voice_stack(nats_settings, tmp_path, edge, **engines) as stack:
        yield stack


async def _say(client: httpx.AsyncClient, token: str, body: dict[str, object]) -> list[tuple[str, dict]]:
    events = []
    headers = {"Authorization": f"Bearer {token}"}
    async with client.stream("POST", "/chat", json=body, headers=headers, timeout=120) as reply:
        assert reply.status_code == 200, await reply.aread()
        assert reply.headers["content-type"].startswith("text/event-stream")
        name = ""
        async for line in reply.aiter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                events.append((name, json.loads(line[6:])))
    return events


async def test_a_conversation_over_http(chat: VoiceStack, nats_settings: BusSettings) -> None:
    base = f"http://127.0.0.1:{chat.port}"
    async with httpx.AsyncClient(base_url=base) as client:
        first = await _say(client, ALICE, {"message": "How do I scale a worker?"})
        assert first[0][0] == "conversation" and first[-1][0] == "answer"
        conversation = first[0][1]["conversation_id"]
        assert "".join(d["text"] for n, d in first if n == "delta").split() == first[-1][1]["text"].split()
        assert first[-1][1]["text"] == "Start more replicas of the worker."
        second = await _say(client, ALICE, {"message": "And then?", "conversation_id": conversation})
        assert second[-1][1]["text"] == "Each one takes a share of the sessions."

        alice = {"Authorization": f"Bearer {ALICE}"}
        bob = {"Authorization": f"Bearer {BOB}"}
        listed = (await client.get("/conversations", headers=alice)).json()
        assert [c["conversation_id"] for c in listed] == [conversation] and listed[0]["turns"] == 4
        turns = (await client.get(f"/conversations/{conversation}", headers=alice)).json()["turns"]
        assert [t["role"] for t in turns] == ["user", "assistant", "user", "assistant"]
        assert turns[2]["content"] == "And then?"

        # another client's conversation, an unknown one, garbage: 4xx, nothing sent
        assert (await client.get(f"/conversations/{conversation}", headers=bob)).status_code == 404
        assert (await client.get("/conversations", headers=bob)).json() == []
        theirs = {"message": "hi", "conversation_id": conversation}
        assert (await client.post("/chat", json=theirs, headers=bob)).status_code == 404
        unknown = {"message": "hi", "conversation_id": "0" * 32}
        assert (await client.post("/chat", json=unknown, headers=alice)).status_code == 404
        assert (await client.post("/chat", json={"message": ""}, headers=alice)).status_code == 422
        assert (await client.post("/chat", json={"message": "x" * 5000}, headers=alice)).status_code == 422
        assert (await client.post("/chat", json={"message": "hi"})).status_code == 401

    # a new edge (a restart, another replica) still knows whose conversation it is
    edge = EdgeSettings(tokens={ALICE: "alice", BOB: "bob"})
    async with (
        edge_server(nats_settings, edge) as port,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as again,
    ):
        mine = (await again.get("/conversations", headers=alice)).json()
        assert [c["conversation_id"] for c in mine] == [conversation]
        assert (await again.get(f"/conversations/{conversation}", headers=bob)).status_code == 404
