"""One browser's WebSocket session: admitted (origin, token, session limits),
then its frames in (audio as binary PCM/WAV, client events as JSON) and the
session's events out, until it goes away; leaving cancels what it started."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import Callable
from typing import Any

from fastapi import WebSocket, WebSocketDisconnect
from pydantic import ValidationError

from switchboard.schemas import EVENT_TYPES, AudioChunk, Cancel

from . import audio
from .auth import COOKIE, Identity
from .clients import WEBSOCKET_TYPES
from .hub import Sessions
from .settings import EdgeSettings


def same_origin(origin: str, host: str) -> bool:
    """Is the page's origin the edge's own address (as the browser reached it)?"""
    return origin.split("://", 1)[-1] == host


async def refuse(socket: WebSocket, code: int, reason: str) -> None:
    """Close with a code and reason the page can read: a browser sees only 1006
    for a handshake refused before accept, so accept, then close at once."""
    await socket.accept()
    await socket.close(code=code, reason=reason)


def first_error(exc: ValidationError) -> str:
    e = exc.errors()[0]
    return f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}"


class WebSocketEndpoint:
    """``/ws``: admits a connection or closes it with a reason, then runs its session."""

    def __init__(
        self, edge: EdgeSettings, identity: Identity, limiter: Any, hub: Callable[[], Sessions]
    ) -> None:
        self.edge, self.identity, self.limiter, self.hub = edge, identity, limiter, hub
        self.sessions_of: dict[str, int] = {}  # client -> open sessions

    async def __call__(self, socket: WebSocket, token: str | None) -> None:
        edge = self.edge
        origin = socket.headers.get("origin")
        if (
            origin
            and not same_origin(origin, socket.headers.get("host", ""))
            and origin not in edge.allowed_origins
        ):
            await refuse(socket, 4403, "origin not allowed")
            return
        client = self.identity.client(token, socket.cookies.get(COOKIE))
        if client is None:
            await refuse(socket, 4401, "missing or wrong token")
            return
        hub = self.hub()
        if len(hub.sessions) >= edge.max_sessions:
            await refuse(socket, 4429, "too many sessions")
            return
        if self.sessions_of.get(client, 0) >= edge.max_sessions_per_client:
            await refuse(socket, 4429, f"more than {edge.max_sessions_per_client} sessions for this client")
            return
        await socket.accept()
        self.sessions_of[client] = self.sessions_of.get(client, 0) + 1
        try:
            await ClientSession(socket, hub, client, edge, self.limiter).run()
        finally:
            self.sessions_of[client] -= 1
            if not self.sessions_of[client]:
                del self.sessions_of[client]


class ClientSession:
    """One admitted connection: a fresh session id (the correlation id of all it causes)."""

    def __init__(
        self, socket: WebSocket, hub: Sessions, client: str, edge: EdgeSettings, limiter: Any
    ) -> None:
        self.socket, self.hub, self.client, self.edge, self.limiter = socket, hub, client, edge, limiter
        self.id = secrets.token_hex(16)
        self.seq = 0  # audio chunks sent

    async def run(self) -> None:
        queue = self.hub.open_session(self.id)
        sender = asyncio.create_task(self._pump(queue))
        try:
            await self.socket.send_text(json.dumps({"type": "session", "session_id": self.id}))
            await self._receive()
        except WebSocketDisconnect:
            pass
        finally:
            sender.cancel()
            self.hub.close_session(self.id)
            with contextlib.suppress(Exception):
                await self.hub.publish(Cancel(correlation_id=self.id, reason="disconnect"))

    async def error(self, code: str, message: str) -> None:
        await self.socket.send_text(json.dumps({"type": "error", "code": code, "message": message}))

    async def _pump(self, queue: asyncio.Queue[tuple[str, bytes]]) -> None:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):  # client went away
            while True:
                _, data = await queue.get()
                await self.socket.send_text(data.decode())

    async def _receive(self) -> None:
        edge = self.edge
        while True:
            try:
                frame = await asyncio.wait_for(self.socket.receive(), edge.idle_s)
            except TimeoutError:
                await self.socket.close(code=4408, reason=f"idle for {edge.idle_s:g} s")
                return
            if frame["type"] == "websocket.disconnect":
                return
            raw = frame.get("bytes") if frame.get("bytes") is not None else frame.get("text")
            if raw is None:
                continue
            if len(raw) > edge.max_frame_bytes:
                await self.error(
                    "too_large", f"frame of {len(raw)} bytes; the limit is {edge.max_frame_bytes}"
                )
                continue
            if not await self.limiter.take(self.client):
                await self.error("rate_limited", f"more than {edge.rate_per_s:g} messages/s")
                continue
            if isinstance(raw, bytes):
                await self._audio(raw)
            else:
                await self._event(raw)

    async def _audio(self, raw: bytes) -> None:
        try:
            pcm = audio.pcm16(raw)
            await self.hub.publish(AudioChunk(correlation_id=self.id, seq=self.seq, pcm=pcm))
            self.seq += 1
        except ValueError as exc:  # pydantic's ValidationError included
            await self.error("bad_audio", first_error(exc) if isinstance(exc, ValidationError) else str(exc))

    async def _event(self, raw: str) -> None:
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError):
            await self.error("bad_json", "frame is not JSON (or nested too deeply)")
            return
        if (
            not isinstance(body, dict)
            or not isinstance(body.get("type"), str)
            or body["type"] not in WEBSOCKET_TYPES
        ):
            await self.error("bad_type", f"type must be one of {sorted(WEBSOCKET_TYPES)}")
            return
        for field in ("id", "causation_id", "created_at"):  # the bus stamps these
            body.pop(field, None)
        body["correlation_id"] = self.id
        try:
            event = EVENT_TYPES[body["type"]].model_validate_json(json.dumps(body))
        except ValidationError as exc:
            await self.error("invalid", first_error(exc))
            return
        waiting = self.hub.board.holding_up(body["type"])
        if waiting and body["type"] != "voice.cancel":
            await self.error("not_ready", f"not ready yet ({waiting}); ask again in a moment")
            return
        await self.hub.publish(event)
