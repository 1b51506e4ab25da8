"""Job kinds come from the workers that run them; the OpenAPI document shows
each kind with its params, and a submit is checked against them."""

from __future__ import annotations

import json

from starlette.testclient import TestClient

from switchboard.bus import BusSettings
from switchboard.edge.app import create_app
from switchboard.edge.settings import EdgeSettings
from switchboard.schemas import JobSubmitted, Question, TrainRequest
from switchboard.workers.jobs import BadJob, first_event, job_kinds
from tests.conftest import fresh_namespace


def test_the_workers_declare_the_job_kinds() -> None:
    kinds = job_kinds()
    assert kinds["analyst.ask"].worker == "codegen" and kinds["analyst.ask"].starts is Question
    assert kinds["music.train"].worker == "music-train" and kinds["music.train"].starts is TrainRequest
    assert set(kinds) == {
        "analyst.ask",
        *(f"music.{s}" for s in ("ingest", "embed", "tokenize", "train", "generate", "evaluate")),
    }
    ask = first_event(JobSubmitted(correlation_id="j", kind="analyst.ask", params={"question": "How many?"}))
    assert isinstance(ask, Question) and ask.job and ask.dataset == "chinook"
    for bad, why in (
        ({"question": "q", "colour": "red"}, "unknown params"),
        ({"max_attempts": 99}, "bad parameters"),
    ):
        try:
            first_event(JobSubmitted(correlation_id="j", kind="analyst.ask", params=bad))
        except BadJob as exc:
            assert why in str(exc)
        else:
            raise AssertionError(f"{bad} was accepted")


def test_openapi_shows_each_kind_and_its_params() -> None:
    bus = BusSettings(broker="memory", namespace=fresh_namespace())
    with TestClient(create_app(bus, EdgeSettings(open=True))) as client:
        doc = client.get("/openapi.json").json()
        body = doc["paths"]["/jobs"]["post"]["requestBody"]["content"]["application/json"]["schema"]
        by_kind = {v["properties"]["kind"]["const"]: v["properties"]["params"] for v in body["oneOf"]}
        assert "question" in by_kind["analyst.ask"]["properties"]
        assert "max_steps" in by_kind["music.train"]["properties"]
        assert "$ref" not in json.dumps(by_kind)  # self-contained: nothing points into a missing $defs
        listed = client.get("/jobs/kinds").json()
        assert listed["music.generate"]["worker"] == "music-generate"
        refused = client.post("/jobs", json={"kind": "music.train", "params": {"max_steps": "lots"}})
        assert refused.status_code == 400 and "max_steps" in refused.json()["detail"]
        accepted = client.post(
            "/jobs", json={"kind": "analyst.ask", "params": {"question": "How many artists?"}}
        )
        assert accepted.status_code == 202, accepted.text
