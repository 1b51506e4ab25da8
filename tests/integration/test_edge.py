"""The edge over a real NATS server: sessions, isolation, bad input, jobs, auth."""

from __future__ import annotations

import asyncio
import json

import nats
import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from switchboard.bus import BusSettings
from switchboard.bus.nats.jetstream import JetStreamPublisher
from switchboard.bus.nats.streams import read
from switchboard.edge.app import create_app
from switchboard.edge.settings import EdgeSettings
from switchboard.schemas import Transcript
from tests.helpers import job_state, spawn_worker

pytestmark = pytest.mark.nats


def _publish(settings: BusSettings, event: Transcript) -> None:
    async def go() -> None:
        nc = await nats.connect(settings.nats_url)
        await JetStreamPublisher(nc, settings, "test@1").publish(event)
        await nc.close()

    asyncio.run(go())


def _read(settings: BusSettings, subject: str) -> list:  # type: ignore[type-arg]
    async def go() -> list:  # type: ignore[type-arg]
        nc = await nats.connect(settings.nats_url)
        try:
            return await read(nc.jetstream(), settings.namespace, subject)
        finally:
            await nc.close()

    return asyncio.run(go())


def test_sessions_see_only_their_own_events(nats_settings: BusSettings) -> None:
    with TestClient(create_app(nats_settings, EdgeSettings(open=True))) as client:
        assert client.get("/healthz").json()["status"] == "ok"
        assert "Switchboard" in client.get("/").text
        with client.websocket_connect("/ws") as a, client.websocket_connect("/ws") as b:
            sa = a.receive_json()["session_id"]
            sb = b.receive_json()["session_id"]
            a.send_text(
                json.dumps(
                    {
                        "type": "voice.transcript",
                        "segment_id": "t1",
                        "text": "hello",
                        "is_final": True,
                        "source": "text",
                    }
                )
            )
            got = a.receive_json()  # the edge's own publish comes back on the session
            assert got["type"] == "voice.transcript" and got["correlation_id"] == sa
            _publish(
                nats_settings, Transcript(correlation_id=sb, segment_id="x", text="for b", is_final=False)
            )
            assert b.receive_json()["text"] == "for b"
            a.send_text(json.dumps({"type": "voice.cancel"}))
            assert a.receive_json()["type"] == "voice.cancel"  # a got nothing of b's in between
        doc = client.get("/asyncapi.json").json()
        assert doc["channels"]["voice.transcript"]["address"].startswith(f"{nats_settings.namespace}.")
        stored = _read(nats_settings, "voice.transcript")
        assert {json.loads(r.data)["correlation_id"] for r in stored} == {sa, sb}


def test_bad_input_gets_error_frames(nats_settings: BusSettings) -> None:
    edge = EdgeSettings(open=True, max_frame_bytes=1_000, rate_per_s=1, rate_burst=8)
    with TestClient(create_app(nats_settings, edge)) as client, client.websocket_connect("/ws") as ws:
        ws.receive_json()
        ws.send_text("not json")
        assert ws.receive_json()["code"] == "bad_json"
        ws.send_text(json.dumps({"type": "jobs.status"}))
        assert ws.receive_json()["code"] == "bad_type"
        ws.send_text(json.dumps({"type": "music.train.request"}))  # a job: over HTTP, not the socket
        assert ws.receive_json()["code"] == "bad_type"
        ws.send_text(json.dumps({"type": "voice.transcript", "text": 5}))
        assert ws.receive_json()["code"] == "invalid"
        ws.send_bytes(b"\x00" * 2_000)
        assert ws.receive_json()["code"] == "too_large"
        ws.send_bytes(b"\x00\x01\x02")
        assert ws.receive_json()["code"] == "bad_audio"
        codes = []
        for _ in range(6):
            ws.send_text("{}")
            codes.append(ws.receive_json()["code"])
        assert "rate_limited" in codes
        assert client.get("/healthz").status_code == 200  # the edge keeps serving


def test_jobs_api(nats_settings: BusSettings) -> None:
    proc = spawn_worker(nats_settings, "jobs")
    try:
        with TestClient(create_app(nats_settings, EdgeSettings(open=True))) as client:
            r = client.post("/jobs", json={"kind": "no.such.kind", "params": {"x": 1}})
            assert r.status_code == 400 and "unknown job kind" in r.json()["detail"]
            assert "music.train" in r.json()["detail"]  # the kinds there are
            r = client.post("/jobs", json={"kind": "music.train", "params": {"n_layer": 0}})
            assert r.status_code == 400 and "n_layer" in r.json()["detail"]
            r = client.post("/jobs", json={"kind": "music.tokenize"})  # no tokenize worker: stays queued
            assert r.status_code == 202
            job_id = r.json()["job_id"]
            assert job_state(client.get, job_id, "queued")["state"] == "queued"
            assert client.get("/jobs/nope").status_code == 404
            # a verdict is for an answered analyst job of one's own
            assert client.post(f"/jobs/{job_id}/feedback", json={"verdict": "right"}).status_code == 400
            assert client.post("/jobs/nope/feedback", json={"verdict": "right"}).status_code == 404
            assert client.post(f"/jobs/{job_id}/feedback", json={"verdict": "meh"}).status_code == 422
            asked = client.post("/jobs", json={"kind": "analyst.ask", "params": {"question": "How many?"}})
            unanswered = client.post(f"/jobs/{asked.json()['job_id']}/feedback", json={"verdict": "wrong"})
            assert unanswered.status_code == 409 and "only an answer" in unanswered.json()["detail"]
            assert client.delete(f"/jobs/{job_id}").status_code == 202
            assert job_state(client.get, job_id, "cancelled")["state"] == "cancelled"
            finished = client.delete(f"/jobs/{job_id}")  # a job that ended cannot be cancelled
            assert finished.status_code == 409 and "already cancelled" in finished.json()["detail"]
            assert client.post("/jobs", json={"kind": ""}).status_code == 422
            assert "/jobs" in client.get("/openapi.json").json()["paths"]
    finally:
        proc.terminate()
        proc.wait(10)


def test_token_auth(nats_settings: BusSettings) -> None:
    with TestClient(create_app(nats_settings, EdgeSettings(token="s3cret"))) as client:
        assert client.post("/jobs", json={"kind": "music.tokenize"}).status_code == 401
        ok = client.post("/jobs", json={"kind": "music.tokenize"}, headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 202
        with pytest.raises(WebSocketDisconnect) as closed, client.websocket_connect("/ws") as ws:
            ws.receive_json()
        assert closed.value.code == 4401
        with client.websocket_connect("/ws?token=s3cret") as ws:
            assert ws.receive_json()["type"] == "session"
