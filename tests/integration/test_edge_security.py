"""The edge is closed by default: tokens, client ownership, origins, limits, bad frames."""

from __future__ import annotations

import json
import stat
import time
from pathlib import Path

import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from bus import BusSettings
from edge.app import create_app
from edge.settings import EdgeSettings

pytestmark = pytest.mark.nats
ALICE, BOB = "alice-token-0123456789", "bob-token-0123456789"


def _closed(code: int, client: TestClient, url: str, **kw: object) -> None:
    with pytest.raises(WebSocketDisconnect) as closed, client.websocket_connect(url, **kw) as ws:  # type: ignore[arg-type]
        ws.receive_json()
    assert closed.value.code == code


def test_closed_by_default_with_a_token_made_on_first_start(
    nats_settings: BusSettings, tmp_path: Path
) -> None:
    token_file = tmp_path / "edge-token"
    with TestClient(create_app(nats_settings, EdgeSettings(token_file=token_file))) as client:
        token = token_file.read_text().strip()
        assert len(token) >= 24 and stat.S_IMODE(token_file.stat().st_mode) == 0o600
        assert client.post("/jobs", json={"kind": "k"}).status_code == 401
        assert client.get("/jobs").status_code == 401
        assert client.get("/").status_code == 401
        assert client.get("/?token=wrong").status_code == 401
        assert client.get("/healthz").status_code == 200  # health stays open
        _closed(4401, client, "/ws")
        _closed(4401, client, "/ws?token=wrong")
        # the printed address: the token becomes a strict, http-only cookie, then the page loads
        landed = client.get(f"/?token={token}", follow_redirects=False)
        assert landed.status_code == 303 and landed.headers["location"] == "/"
        cookie = landed.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        assert "Switchboard" in client.get("/").text
        assert client.get("/jobs").status_code == 200
        with client.websocket_connect("/ws") as ws:
            assert ws.receive_json()["type"] == "session"
        client.cookies.clear()
        headers = {"Authorization": f"Bearer {token}"}
        assert client.post("/jobs", json={"kind": "k"}, headers=headers).status_code == 202
    with TestClient(create_app(nats_settings, EdgeSettings(token_file=token_file))) as client:
        assert client.get("/jobs", headers={"Authorization": f"Bearer {token}"}).status_code == 200  # kept


def test_jobs_belong_to_their_client(nats_settings: BusSettings, tmp_path: Path) -> None:
    edge = EdgeSettings(token_file=tmp_path / "t", tokens={ALICE: "alice", BOB: "bob"})
    with TestClient(create_app(nats_settings, edge)) as client:
        alice, bob = {"Authorization": f"Bearer {ALICE}"}, {"Authorization": f"Bearer {BOB}"}
        job_id = client.post("/jobs", json={"kind": "k"}, headers=alice).json()["job_id"]
        other = client.post("/jobs", json={"kind": "k"}, headers=alice).json()["job_id"]
        assert len(job_id) == 32 and abs(int(job_id, 16) - int(other, 16)) > 1 << 64  # not sequential
        assert client.get(f"/jobs/{job_id}", headers=alice).status_code == 200
        assert client.get(f"/jobs/{job_id}", headers=bob).status_code == 404
        assert client.delete(f"/jobs/{job_id}", headers=bob).status_code == 404
        assert [j["job_id"] for j in client.get("/jobs", headers=bob).json()] == []
        assert job_id in [j["job_id"] for j in client.get("/jobs", headers=alice).json()]
    # a new edge rebuilds the owners from the stream
    with TestClient(create_app(nats_settings, edge)) as client:
        deadline = time.monotonic() + 30
        while client.get(f"/jobs/{job_id}", headers=alice).status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert client.get(f"/jobs/{job_id}", headers=alice).status_code == 200
        assert client.get(f"/jobs/{job_id}", headers=bob).status_code == 404


def test_other_origins_are_refused(nats_settings: BusSettings, tmp_path: Path) -> None:
    edge = EdgeSettings(
        token_file=tmp_path / "t", tokens={ALICE: "alice"}, allowed_origins=["http://app.example"]
    )
    with TestClient(create_app(nats_settings, edge)) as client:
        url = f"/ws?token={ALICE}"
        _closed(4403, client, url, headers={"origin": "http://evil.example"})
        with client.websocket_connect(url, headers={"origin": "http://app.example"}) as ws:
            assert ws.receive_json()["type"] == "session"
        with client.websocket_connect(url, headers={"origin": "http://testserver"}) as ws:  # its own page
            assert ws.receive_json()["type"] == "session"
        pre = {"origin": "http://evil.example", "access-control-request-method": "POST"}
        assert "access-control-allow-origin" not in client.options("/jobs", headers=pre).headers
        pre["origin"] = "http://app.example"
        allowed = client.options("/jobs", headers=pre)
        assert allowed.headers["access-control-allow-origin"] == "http://app.example"


def test_limits_per_client(nats_settings: BusSettings, tmp_path: Path) -> None:
    edge = EdgeSettings(
        token_file=tmp_path / "t",
        tokens={ALICE: "alice", BOB: "bob"},
        max_sessions_per_client=2,
        rate_per_s=1,
        rate_burst=6,
        max_body_bytes=10_000,
    )
    with TestClient(create_app(nats_settings, edge)) as client:
        a = f"/ws?token={ALICE}"
        with client.websocket_connect(a) as one, client.websocket_connect(a) as two:
            one.receive_json()
            two.receive_json()
            _closed(4429, client, a)  # a third session of the same client
            with client.websocket_connect(f"/ws?token={BOB}") as bob:  # another client is not affected
                assert bob.receive_json()["type"] == "session"
            codes = []
            for i in range(8):  # the burst is shared by the client's connections
                ws = one if i % 2 else two
                ws.send_text("{}")
                codes.append(ws.receive_json()["code"])
            assert "rate_limited" in codes
        big = client.post(
            "/jobs", content=b"{" + b" " * 50_000 + b"}", headers={"Authorization": f"Bearer {ALICE}"}
        )
        assert big.status_code == 413
        assert client.get("/healthz").status_code == 200


def test_every_bad_frame_gets_an_error_frame(nats_settings: BusSettings) -> None:
    with (
        TestClient(create_app(nats_settings, EdgeSettings(open=True))) as client,
        client.websocket_connect("/ws") as ws,
    ):
        first = ws.receive_json()["session_id"]
        for frame, code in (
            ("[" * 1000 + "]" * 1000, "bad_json"),
            ('{"a":' * 5000 + "1" + "}" * 5000, "bad_json"),
            (json.dumps({"type": {}}), "bad_type"),
            (json.dumps({"type": ["voice.cancel"]}), "bad_type"),
            (json.dumps([1, 2]), "bad_type"),
            ("\udcff", "bad_json"),
        ):
            try:
                ws.send_text(frame)
            except UnicodeEncodeError:
                continue
            assert ws.receive_json()["code"] == code, frame[:20]
        ws.send_text(json.dumps({"type": "voice.cancel"}))
        assert ws.receive_json()["type"] == "voice.cancel"  # still serving
        with client.websocket_connect("/ws") as other:
            second = other.receive_json()["session_id"]
        assert abs(int(first, 16) - int(second, 16)) > 1 << 64


def test_idle_connections_are_closed(nats_settings: BusSettings) -> None:
    with TestClient(create_app(nats_settings, EdgeSettings(open=True, idle_s=0.5))) as client:
        with pytest.raises(WebSocketDisconnect) as closed, client.websocket_connect("/ws") as ws:
            ws.receive_json()
            ws.receive_json()  # nothing comes but the close
        assert closed.value.code == 4408
