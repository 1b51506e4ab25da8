"""WebSocket edge, HTTP job API and the web page.

WebSocket ``/ws``: the server opens a session and sends
``{"type": "session", "session_id": ...}``; the client sends events as JSON
(``{"type": "voice.transcript", ...}``, without ids: the edge sets the session as
correlation id) or PCM16 audio as binary frames; it receives every event of its
own session as JSON, and ``{"type": "error", "code", "message"}`` frames for bad
input. HTTP: ``POST /jobs`` (202 + id), ``GET /jobs/{id}``, ``DELETE /jobs/{id}``,
``/healthz``, ``/readyz``, ``/metrics``, OpenAPI at ``/docs``.

Closed by default (``edge/auth.py``): every call but health, metrics and the
page's static files needs a token; jobs belong to the client that submitted
them; pages of other origins are refused unless allowed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
from collections.abc import AsyncIterator
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Cookie, Depends, FastAPI, Header, HTTPException, Query, WebSocket
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field

from switchboard.bus.config import BusSettings
from switchboard.bus.subjects import subject_of
from switchboard.bus.transport import transport
from switchboard.schemas import TERMINAL_STATES, Feedback, JobCancel, JobSubmitted
from switchboard.schemas.base import Params
from switchboard.workers.jobs import BadJob, JobKind, first_event, job_kinds

from .auth import COOKIE, Identity, bearer
from .chat import chat_router
from .hub import Hub, JobRecord, Sessions
from .limits import BodyLimit, Limiter, RedisLimiter, timely_http
from .session import WebSocketEndpoint
from .settings import EdgeSettings
from .voice_http import voice_router

STATIC_FILES = {
    "voice-mic.js": "text/javascript",
    "music-player.js": "text/javascript",
}
# browser libraries from npm (edge/package.json; scripts/setup.sh installs them)
NODE_MODULES = Path(
    os.environ.get("SWITCHBOARD_NODE_MODULES") or Path(__file__).resolve().parent / "node_modules"
)
VENDOR_FILES = {
    "tone.js": "tone/build/Tone.js",
    "midi.js": "@tonejs/midi/build/Midi.js",
    "vega.js": "vega/build/vega.min.js",
    "vega-lite.js": "vega-lite/build/vega-lite.min.js",
    "vega-embed.js": "vega-embed/build/vega-embed.min.js",
    "highlight.js": "@highlightjs/cdn-assets/highlight.min.js",
    "highlight.css": "@highlightjs/cdn-assets/styles/github-dark.min.css",
}
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


class JobRequest(BaseModel):
    kind: str = Field(min_length=1, max_length=128, examples=["analyst.ask"])
    params: Params = {}


class FeedbackRequest(BaseModel):
    verdict: Literal["right", "wrong"]


class JobAccepted(BaseModel):
    job_id: str
    status_url: str


def create_app(bus: BusSettings | None = None, edge: EdgeSettings | None = None) -> FastAPI:
    bus = bus or BusSettings()
    edge = edge or EdgeSettings()
    state: dict[str, Sessions] = {}
    docs: dict[str, Any] = {}
    identity = Identity(edge)
    limiter = (  # per client, across its connections (and edges, with Redis)
        RedisLimiter(edge.redis_url, edge.rate_per_s, edge.rate_burst, bus.namespace)
        if edge.redis_url
        else Limiter(edge.rate_per_s, edge.rate_burst)
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        hub = Hub(transport(bus, "edge"))
        await hub.start()
        state["hub"] = hub
        yield
        await hub.stop()
        await limiter.close()

    app = FastAPI(title="Switchboard edge", version="0.1.0", lifespan=lifespan)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=edge.allowed_origins,
        allow_methods=["GET", "POST", "DELETE"],
        allow_headers=["authorization", "content-type"],
    )
    app.add_middleware(BodyLimit, max_bytes=edge.max_body_bytes)

    def hub() -> Sessions:
        return state["hub"]

    def authorize(
        authorization: Annotated[str | None, Header()] = None,
        sb_token: Annotated[str | None, Cookie()] = None,
    ) -> str:
        client = identity.client(bearer(authorization), sb_token)
        if client is None:
            raise HTTPException(401, "missing or wrong token (Authorization: Bearer …)")
        return client

    def own_job(job_id: str, client: str) -> JobRecord:
        rec = hub().jobs.get(job_id)
        if rec is None or rec.owner != client:
            raise HTTPException(404, f"no job {job_id}")
        return rec

    @app.get("/asyncapi.json")
    async def asyncapi() -> JSONResponse:
        """The bus's AsyncAPI document: subjects, event schemas, which worker reads and emits what."""
        if "asyncapi" not in docs:  # imports every worker module: once, off the loop
            from switchboard.streams.asyncapi import document

            docs["asyncapi"] = await asyncio.to_thread(document, bus.namespace, bus.partitions)
        return JSONResponse(docs["asyncapi"])

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        h = state.get("hub")
        connected = bool(h and h.connected)
        if not connected:
            raise HTTPException(503, "not connected to the bus")
        return {"status": "ok", "namespace": bus.namespace, "sessions": len(h.sessions) if h else 0}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        """The bus, each worker kind's state (from its replicas' word on the bus:
        loading, ready, degraded, gone) and the model server's: 503 until all serve."""
        h = state.get("hub")
        bus_ok = bool(h and h.connected)
        model = await _model_state()
        workers = h.board.kinds() if h else {}
        kinds = {kind: w["state"] for kind, w in workers.items()}
        if model:  # an LLM kind answers only once the model server does
            for kind in LLM_KINDS:
                # a server down whose users do not run here holds nothing up
                if kind in kinds or model["state"] != "down":
                    kinds[kind] = model["state"] if model["state"] != "ready" else kinds.get(kind, "ready")
        ready = bus_ok and all(v == "ready" for v in kinds.values())
        waiting = sorted({v for v in kinds.values() if v != "ready"})
        overall = (
            "down" if not bus_ok else "ready" if ready else (waiting[0] if len(waiting) == 1 else "partial")
        )
        body = {
            "status": overall,
            "bus": "ok" if bus_ok else "down",
            "kinds": kinds,
            "workers": workers,
            "model": model,
        }
        return JSONResponse(body, status_code=200 if ready else 503)

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    kinds = job_kinds()
    app.include_router(chat_router(hub, authorize, limiter.take, _history, _Owners()))
    app.include_router(voice_router(hub, authorize, limiter.take))

    @app.get("/jobs/kinds")
    async def list_kinds(client: str = Depends(authorize)) -> dict[str, Any]:
        """Every job kind, the worker kind that runs it, and its params' schema."""
        return {k.name: {"worker": k.worker, "params": k.params_schema()} for k in kinds.values()}

    @app.post("/jobs", status_code=202, openapi_extra=_jobs_openapi(kinds))
    async def submit(req: JobRequest, client: str = Depends(authorize)) -> JobAccepted:
        if not await limiter.take(client):
            raise HTTPException(429, f"more than {edge.rate_per_s:g} requests/s")
        job_id = secrets.token_hex(16)
        job = JobSubmitted(correlation_id=job_id, kind=req.kind, params=req.params, submitted_by=client)
        try:
            first = first_event(job)  # an unknown kind or bad params: refused now, not failed later
        except BadJob as exc:
            raise HTTPException(400, str(exc)) from None
        h = hub()
        waiting = h.board.holding_up("jobs.submitted", subject_of(first))
        if waiting:  # its workers said they are loading (or gone): say so, do not queue into a void
            raise HTTPException(503, f"{req.kind} is not ready yet ({waiting}); try again in a moment")
        h.jobs[job_id] = JobRecord(job_id, req.kind, owner=client, submitted_at=job.created_at.isoformat())
        await h.publish(job)
        return JobAccepted(job_id=job_id, status_url=f"/jobs/{job_id}")

    @app.get("/jobs/{job_id}")
    async def job(job_id: str, client: str = Depends(authorize)) -> JobRecord:
        return own_job(job_id, client)

    @app.get("/jobs")
    async def jobs(
        client: str = Depends(authorize), limit: Annotated[int, Query(ge=1, le=1000)] = 100
    ) -> list[JobRecord]:
        return [rec for rec in hub().jobs.values() if rec.owner == client][-limit:]

    @app.delete("/jobs/{job_id}", status_code=202)
    async def cancel(job_id: str, client: str = Depends(authorize)) -> dict[str, str]:
        rec = own_job(job_id, client)
        if rec.state in TERMINAL_STATES:
            raise HTTPException(409, f"job {job_id} already {rec.state}")
        await hub().publish(JobCancel(correlation_id=job_id, reason="cancelled over HTTP"))
        return {"job_id": job_id, "state": "cancelling"}

    @app.get("/analyst/datasets")
    async def analyst_datasets(client: str = Depends(authorize)) -> list[dict[str, str]]:
        """The datasets the analyst can answer over here (PostgreSQL ones only when configured)."""
        from switchboard.workers.analyst.datasets import configured

        return [{"name": ds.name, "doc": ds.doc} for ds in configured()]

    @app.post("/jobs/{job_id}/feedback", status_code=202)
    async def feedback(
        job_id: str, body: FeedbackRequest, client: str = Depends(authorize)
    ) -> dict[str, str]:
        """Mark an answered analyst job right (its question and code become a worked
        example for questions like it) or wrong (dropped, and its cached result)."""
        rec = own_job(job_id, client)
        if rec.kind != "analyst.ask":
            raise HTTPException(400, f"job {job_id} is {rec.kind}; only analyst.ask answers take a verdict")
        if rec.state != "succeeded":
            raise HTTPException(409, f"job {job_id} is {rec.state}; only an answer can be judged")
        await hub().publish(Feedback(correlation_id=job_id, verdict=body.verdict))
        return {"job_id": job_id, "verdict": body.verdict}

    @app.get("/", response_class=HTMLResponse, response_model=None)
    async def page(
        token: str | None = None, sb_token: Annotated[str | None, Cookie()] = None
    ) -> Response | str:
        if token is not None:
            if identity.client(token) is None:
                return HTMLResponse(LOCKED_PAGE.format(why="That token is not this edge's."), 401)
            # the token moves into a cookie only this site's pages send, and out of the address bar
            done = RedirectResponse("/", status_code=303)
            done.set_cookie(COOKIE, token, httponly=True, samesite="strict", max_age=30 * 24 * 3600)
            return done
        if identity.client(sb_token) is None:
            return HTMLResponse(LOCKED_PAGE.format(why="This edge needs its token."), 401)
        return resources.files("switchboard.edge").joinpath("static/index.html").read_text()

    @app.get("/static/{name}")
    async def static(name: str) -> Response:
        if name not in STATIC_FILES:
            raise HTTPException(404, f"no file {name}")
        body = resources.files("switchboard.edge").joinpath(f"static/{name}").read_text()
        return Response(body, media_type=STATIC_FILES[name])

    @app.get("/static/vendor/{name}")
    async def vendor(name: str) -> Response:
        path = NODE_MODULES / VENDOR_FILES.get(name, "-")
        if not path.is_file():
            raise HTTPException(404, f"no file {name} (browser libraries come from `npm ci` in edge/)")
        return FileResponse(path, media_type="text/css" if name.endswith(".css") else "text/javascript")

    @app.get("/music/{path:path}", dependencies=[Depends(authorize)])
    async def music_file(path: str) -> Response:
        """Generated MIDI and piano rolls, loss plots, evaluation reports."""
        from switchboard.workers.music.store import MusicSettings

        if not MUSIC_FILE.match(path):
            raise HTTPException(404, f"no music file {path}")
        file = MusicSettings().dir / path
        if not file.is_file():
            raise HTTPException(404, f"no music file {path}")
        return FileResponse(file, media_type=MEDIA_TYPES[file.suffix])

    endpoint = WebSocketEndpoint(edge, identity, limiter, hub)

    @app.websocket("/ws")
    async def ws(socket: WebSocket, token: str | None = None) -> None:
        await endpoint(socket, token)

    return app


LOCKED_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Switchboard</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 4rem auto">
<h1>Switchboard</h1><p>{why} Open the address <code>switchboard up</code> printed
(<code>http://…/?token=…</code>), or read the token from <code>.switchboard/edge-token</code>.</p></body></html>"""


def _jobs_openapi(kinds: dict[str, JobKind]) -> dict[str, Any]:
    """POST /jobs's body in the OpenAPI document: one schema per job kind, its params."""
    variants = [
        {
            "title": k.name,
            "type": "object",
            "properties": {"kind": {"const": k.name}, "params": k.params_schema()},
            "required": ["kind"],
        }
        for k in sorted(kinds.values(), key=lambda k: k.name)
    ]
    body = {"oneOf": variants, "discriminator": {"propertyName": "kind"}}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": body}}}}


class _Owners:
    """Conversation owners in the voice pipeline's history store."""

    def __init__(self) -> None:
        from switchboard.workers.voice import store

        self.store, self.url = store, store.VoiceSettings().db_url

    def claim(self, conversation: str, owner: str) -> bool:
        return self.store.claim(self.url, conversation, owner)

    def owner_of(self, conversation: str) -> str | None:
        return self.store.owner_of(self.url, conversation)

    def conversations_of(self, owner: str) -> list[str]:
        return self.store.conversations_of(self.url, owner)


def _history(conversation: str) -> list[tuple[str, str]]:
    """A conversation's turns from the voice pipeline's history store."""
    from switchboard.workers.voice import store

    return store.history(store.VoiceSettings().db_url, conversation, 1_000_000)


LLM_KINDS = ("llm", "codegen")  # the worker kinds that answer through the model server


async def _model_state() -> dict[str, str] | None:
    """The model server's state ("ready", "loading", "down"); None when the LLM engine is not the server."""
    from switchboard.workers.engines.llm import LLMSettings, server_state

    llm = LLMSettings()
    if llm.engine != "server":
        return None
    state = await asyncio.to_thread(server_state, llm.server_url, None, 2.0)
    return {"state": state, "url": llm.server_url}


def server_config(app: FastAPI, edge: EdgeSettings, host: str, port: int) -> Any:
    """uvicorn's settings for the edge: its connection, frame and request limits."""
    import uvicorn

    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        ws_max_size=edge.max_frame_bytes * 2,
        limit_concurrency=edge.max_connections,  # past it: 503, not a stalled edge
        timeout_keep_alive=5,
        http=timely_http(edge.request_timeout_s),
    )
