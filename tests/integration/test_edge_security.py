"""The edge is closed by default: tokens, client ownership, origins, limits, bad frames."""

from __future__ import annotations

import asyncio
import json
import secrets
import stat
import time
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from switchboard.bus import BusSettings, transport
from switchboard.bus.servers import free_port
from switchboard.edge.app import create_app
from switchboard.edge.settings import EdgeSettings
from tests.edge_server import edge_server

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
        assert client.post("/jobs", json={"kind": "music.tokenize"}).status_code == 401
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
        assert client.post("/jobs", json={"kind": "music.tokenize"}, headers=headers).status_code == 202
    with TestClient(create_app(nats_settings, EdgeSettings(token_file=token_file))) as client:
        assert client.get("/jobs", headers={"Authorization": f"Bearer {token}"}).status_code == 200  # kept


def test_jobs_belong_to_their_client(nats_settings: BusSettings, tmp_path: Path) -> None:
    edge = EdgeSettings(token_file=tmp_path / "t", tokens={ALICE: "alice", BOB: "bob"})
    with TestClient(create_app(nats_settings, edge)) as client:
        alice, bob = {"Authorization": f"Bearer {ALICE}"}, {"Authorization": f"Bearer {BOB}"}
        job_id = client.post("/jobs", json={"kind": "music.tokenize"}, headers=alice).json()["job_id"]
        other = client.post("/jobs", json={"kind": "music.tokenize"}, headers=alice).json()["job_id"]
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


def test_rate_limits_are_shared_by_edges_through_redis(nats_settings: BusSettings, tmp_path: Path) -> None:
    edge = EdgeSettings(
        token_file=tmp_path / "t",
        tokens={ALICE: "alice", BOB: "bob"},
        rate_per_s=0.01,
        rate_burst=4,
        redis_url="redis://127.0.0.1:6379/0",
    )
    ns = nats_settings.model_copy(update={"namespace": f"rl{secrets.token_hex(4)}"})
    alice, bob = {"Authorization": f"Bearer {ALICE}"}, {"Authorization": f"Bearer {BOB}"}
    try:
        _rate_limited_on_both(ns, edge, alice, bob)
    finally:  # its own namespace (a fresh Redis bucket): its streams go too

        async def drop() -> None:
            async with transport(ns, provision=False) as bus:
                await bus.drop(ns.namespace)

        asyncio.run(drop())


def _rate_limited_on_both(
    ns: BusSettings, edge: EdgeSettings, alice: dict[str, str], bob: dict[str, str]
) -> None:
    with TestClient(create_app(ns, edge)) as one, TestClient(create_app(ns, edge)) as two:
        codes = [
            (one if i % 2 else two).post("/jobs", json={"kind": "music.tokenize"}, headers=alice).status_code
            for i in range(6)
        ]
        assert codes == [202] * 4 + [429] * 2  # one bucket for alice on both edges
        assert two.post("/jobs", json={"kind": "music.tokenize"}, headers=bob).status_code == 202
        with two.websocket_connect(f"/ws?token={ALICE}") as ws:
            ws.receive_json()
            ws.send_text("{}")
            assert ws.receive_json()["code"] == "rate_limited"


def test_rate_limits_hold_per_edge_while_redis_is_down(nats_settings: BusSettings, tmp_path: Path) -> None:
    edge = EdgeSettings(
        token_file=tmp_path / "t",
        tokens={ALICE: "alice"},
        rate_per_s=0.01,
        rate_burst=2,
        redis_url=f"redis://127.0.0.1:{free_port()}/0",
    )
    alice = {"Authorization": f"Bearer {ALICE}"}
    with TestClient(create_app(nats_settings, edge)) as client:
        codes = [
            client.post("/jobs", json={"kind": "music.tokenize"}, headers=alice).status_code for _ in range(3)
        ]
        assert codes == [202, 202, 429]


async def test_a_request_that_drips_in_is_cut_off(nats_settings: BusSettings) -> None:
    edge = EdgeSettings(open=True, request_timeout_s=1.0)
    async with edge_server(nats_settings, edge) as port:
        slow = []
        for _ in range(20):  # slow headers, and a body that never comes
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: ")
            slow.append((reader, writer))
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        slow.append((reader, writer))
        for reader, writer in slow:
            assert await asyncio.wait_for(reader.read(), 60) == b""  # closed by the edge
            writer.close()
        async with httpx.AsyncClient() as http:  # and the edge still serves
            assert (await http.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200
