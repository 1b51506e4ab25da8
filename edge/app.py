"""WebSocket edge, HTTP job API and the web page.

WebSocket ``/ws``: the server opens a session and sends
``{"type": "session", "session_id": ...}``; the client sends events as JSON
(``{"type": "voice.transcript", ...}``, without ids: the edge sets the session as
correlation id) or PCM16 audio as binary frames; it receives every event of its
own session as JSON, and ``{"type": "error", "code", "message"}`` frames for bad
input. HTTP: ``POST /jobs`` (202 + id), ``GET /jobs/{id}``, ``DELETE /jobs/{id}``,
``/healthz``, ``/readyz``, ``/metrics``, OpenAPI at ``/docs``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
from collections.abc import AsyncIterator
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException, Query, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse, HTMLResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field, ValidationError

from bus.config import BusSettings
from bus.runtime import connect_nats
from schemas import EVENT_TYPES, AudioChunk, Cancel, JobCancel, JobSubmitted, new_id
from schemas.base import Params
from streams.topology import ENTRY_SUBJECTS

from . import audio
from .hub import Hub, JobRecord, Sessions
from .limits import TokenBucket
from .settings import EdgeSettings

STATIC_FILES = {
    "voice-mic.js": "text/javascript",
    "voice-player.js": "text/javascript",
    "music-player.js": "text/javascript",
}
# browser libraries from npm (edge/package.json; scripts/setup.sh installs them)
NODE_MODULES = Path(
    os.environ.get("SWITCHBOARD_NODE_MODULES") or Path(__file__).resolve().parent / "node_modules"
)
VENDOR_FILES = {"tone.js": "tone/build/Tone.js", "midi.js": "@tonejs/midi/build/Midi.js"}
# what the music workers leave for clients (see workers/music/store.py)
MUSIC_FILE = re.compile(
    r"^(generated/[A-Za-z0-9_.:-]+\.(mid|png)|models/[A-Za-z0-9_.-]+/loss\.png"
    r"|reports/[A-Za-z0-9_.-]+/(report\.md|report\.json|features\.png))$"
)
MEDIA_TYPES = {
    ".mid": "audio/midi",
    ".png": "image/png",
    ".md": "text/markdown; charset=utf-8",
    ".json": "application/json",
}
CLIENT_SUBJECTS = frozenset(s for subs in ENTRY_SUBJECTS.values() for s in subs)


class JobRequest(BaseModel):
    kind: str = Field(min_length=1, max_length=128, examples=["analyst.ask"])
    params: Params = {}


class JobAccepted(BaseModel):
    job_id: str
    status_url: str


def create_app(bus: BusSettings | None = None, edge: EdgeSettings | None = None) -> FastAPI:
    bus = bus or BusSettings()
    edge = edge or EdgeSettings()
    state: dict[str, Sessions] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        nc = None
        if bus.broker == "kafka":
            from .kafka_hub import KafkaHub

            hub: Sessions = KafkaHub(bus)
        else:
            nc = await connect_nats(bus, "edge")
            hub = Hub(nc, bus)
        await hub.start()
        state["hub"] = hub
        yield
        await hub.stop()
        if nc is not None:
            await nc.drain()

    app = FastAPI(title="Switchboard edge", version="0.1.0", lifespan=lifespan)

    def hub() -> Sessions:
        return state["hub"]

    def authorize(authorization: Annotated[str | None, Header()] = None) -> None:
        if edge.token and authorization != f"Bearer {edge.token}":
            raise HTTPException(401, "missing or wrong bearer token")

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        h = state.get("hub")
        connected = bool(h and h.connected)
        if not connected:
            raise HTTPException(503, "not connected to the bus")
        return {"status": "ok", "namespace": bus.namespace, "sessions": len(h.sessions) if h else 0}

    @app.get("/readyz")
    async def readyz() -> dict[str, str]:
        await healthz()
        return {"status": "ready"}

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.post("/jobs", status_code=202, dependencies=[Depends(authorize)])
    async def submit(req: JobRequest) -> JobAccepted:
        job_id = new_id()
        h = hub()
        h.jobs[job_id] = JobRecord(job_id, req.kind)
        await h.publish(JobSubmitted(correlation_id=job_id, kind=req.kind, params=req.params))
        return JobAccepted(job_id=job_id, status_url=f"/jobs/{job_id}")

    @app.get("/jobs/{job_id}", dependencies=[Depends(authorize)])
    async def job(job_id: str) -> JobRecord:
        rec = hub().jobs.get(job_id)
        if rec is None:
            raise HTTPException(404, f"no job {job_id}")
        return rec

    @app.get("/jobs", dependencies=[Depends(authorize)])
    async def jobs(limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[JobRecord]:
        return list(hub().jobs.values())[-limit:]

    @app.delete("/jobs/{job_id}", status_code=202, dependencies=[Depends(authorize)])
    async def cancel(job_id: str) -> dict[str, str]:
        if job_id not in hub().jobs:
            raise HTTPException(404, f"no job {job_id}")
        await hub().publish(JobCancel(correlation_id=job_id, reason="cancelled over HTTP"))
        return {"job_id": job_id, "state": "cancelling"}

    @app.get("/", response_class=HTMLResponse)
    async def page() -> str:
        return resources.files("edge").joinpath("static/index.html").read_text()

    @app.get("/static/{name}")
    async def static(name: str) -> Response:
        if name not in STATIC_FILES:
            raise HTTPException(404, f"no file {name}")
        body = resources.files("edge").joinpath(f"static/{name}").read_text()
        return Response(body, media_type=STATIC_FILES[name])

    @app.get("/static/vendor/{name}")
    async def vendor(name: str) -> Response:
        path = NODE_MODULES / VENDOR_FILES.get(name, "-")
        if not path.is_file():
            raise HTTPException(404, f"no file {name} (browser libraries come from `npm ci` in edge/)")
        return FileResponse(path, media_type="text/javascript")

    @app.get("/music/{path:path}", dependencies=[Depends(authorize)])
    async def music_file(path: str) -> Response:
        """Generated MIDI and piano rolls, loss plots, evaluation reports."""
        from workers.music.store import MusicSettings

        if not MUSIC_FILE.match(path):
            raise HTTPException(404, f"no music file {path}")
        file = MusicSettings().dir / path
        if not file.is_file():
            raise HTTPException(404, f"no music file {path}")
        return FileResponse(file, media_type=MEDIA_TYPES[file.suffix])

    @app.websocket("/ws")
    async def ws(socket: WebSocket, token: str | None = None) -> None:
        if edge.token and token != edge.token:
            await socket.close(code=4401, reason="missing or wrong token")
            return
        h = hub()
        if len(h.sessions) >= edge.max_sessions:
            await socket.close(code=4429, reason="too many sessions")
            return
        await socket.accept()
        session = new_id()
        queue = h.open_session(session)
        bucket = TokenBucket(edge.rate_per_s, edge.rate_burst)
        seq = 0

        async def error(code: str, message: str) -> None:
            await socket.send_text(json.dumps({"type": "error", "code": code, "message": message}))

        async def pump() -> None:
            with contextlib.suppress(WebSocketDisconnect, RuntimeError):  # client went away
                while True:
                    subject, data = await queue.get()
                    await socket.send_text(data.decode())

        sender = asyncio.create_task(pump())
        try:
            await socket.send_text(json.dumps({"type": "session", "session_id": session}))
            while True:
                frame = await socket.receive()
                if frame["type"] == "websocket.disconnect":
                    break
                raw = frame.get("bytes") if frame.get("bytes") is not None else frame.get("text")
                if raw is None:
                    continue
                if len(raw) > edge.max_frame_bytes:
                    await error(
                        "too_large", f"frame of {len(raw)} bytes; the limit is {edge.max_frame_bytes}"
                    )
                    continue
                if not bucket.take():
                    await error("rate_limited", f"more than {edge.rate_per_s:g} messages/s")
                    continue
                if isinstance(raw, bytes):
                    try:
                        pcm = audio.pcm16(raw)
                        await h.publish(AudioChunk(correlation_id=session, seq=seq, pcm=pcm))
                        seq += 1
                    except ValueError as exc:  # pydantic's ValidationError included
                        message = _first_error(exc) if isinstance(exc, ValidationError) else str(exc)
                        await error("bad_audio", message)
                    continue
                await _client_event(raw, session, h, error)
        except WebSocketDisconnect:
            pass
        finally:
            sender.cancel()
            h.close_session(session)
            with contextlib.suppress(Exception):
                await h.publish(Cancel(correlation_id=session, reason="disconnect"))

    return app


async def _client_event(raw: str, session: str, hub: Sessions, error: Any) -> None:
    try:
        body = json.loads(raw)
    except ValueError:
        await error("bad_json", "frame is not JSON")
        return
    if not isinstance(body, dict) or body.get("type") not in CLIENT_SUBJECTS:
        await error("bad_type", f"type must be one of {sorted(CLIENT_SUBJECTS)}")
        return
    body.pop("id", None)
    body.pop("causation_id", None)
    body.pop("created_at", None)
    body["correlation_id"] = session
    try:
        event = EVENT_TYPES[body["type"]].model_validate_json(json.dumps(body))
    except ValidationError as exc:
        await error("invalid", _first_error(exc))
        return
    await hub.publish(event)


def _first_error(exc: ValidationError) -> str:
    e = exc.errors()[0]
    return f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}"
