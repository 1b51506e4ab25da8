"""The edge on Kafka (Tansu): sessions see their own events, jobs are tracked."""

from __future__ import annotations

import asyncio
import json

import pytest
from starlette.testclient import TestClient

from switchboard.bus import BusSettings, transport
from switchboard.bus.kafka import provision_kafka
from switchboard.edge.app import create_app
from switchboard.edge.settings import EdgeSettings
from switchboard.schemas import EVENT_TYPES, Event, Transcript
from tests.conftest import fast_settings
from tests.helpers import job_state, spawn_worker

pytestmark = pytest.mark.kafka


@pytest.fixture
def kafka_settings(kafka_bootstrap: str) -> BusSettings:
    settings = fast_settings(broker="kafka", kafka_bootstrap=kafka_bootstrap, partitions=3)
    asyncio.run(provision_kafka(settings, list(EVENT_TYPES)))
    return settings


def _publish(settings: BusSettings, event: Event) -> None:
    async def go() -> None:
        async with transport(settings) as bus:
            await bus.publisher("test@1")(event)

    asyncio.run(go())


def test_sessions_see_only_their_own_events(kafka_settings: BusSettings) -> None:
    with TestClient(create_app(kafka_settings, EdgeSettings(open=True))) as client:
        assert client.get("/healthz").json()["status"] == "ok"
        with client.websocket_connect("/ws") as a, client.websocket_connect("/ws") as b:
            sa = a.receive_json()["session_id"]
            sb = b.receive_json()["session_id"]
            typed = {"type": "voice.transcript", "segment_id": "t1", "text": "hello", "is_final": True}
            a.send_text(json.dumps({**typed, "source": "text"}))
            got = a.receive_json()  # the edge's own publish comes back from Kafka
            assert got["type"] == "voice.transcript" and got["correlation_id"] == sa
            _publish(
                kafka_settings, Transcript(correlation_id=sb, segment_id="x", text="for b", is_final=False)
            )
            assert b.receive_json()["text"] == "for b"
            a.send_text(json.dumps({"type": "voice.cancel"}))
            assert a.receive_json()["type"] == "voice.cancel"  # a got nothing of b's in between


def test_jobs_api(kafka_settings: BusSettings) -> None:
    proc = spawn_worker(kafka_settings, "jobs")
    try:
        with TestClient(create_app(kafka_settings, EdgeSettings(open=True))) as client:
            r = client.post("/jobs", json={"kind": "no.such.kind", "params": {"x": 1}})
            assert r.status_code == 400 and "known kinds" in r.json()["detail"]
            r = client.post("/jobs", json={"kind": "music.tokenize"})  # no tokenize worker: stays queued
            assert r.status_code == 202
            job_id = r.json()["job_id"]
            assert job_state(client.get, job_id, "queued", 60)["state"] == "queued"
        with TestClient(create_app(kafka_settings, EdgeSettings(open=True))) as client:  # a new edge knows it
            assert job_state(client.get, job_id, "queued", 10)["state"] == "queued"
    finally:
        proc.terminate()
        proc.wait(10)
