"""Chat over HTTP (seed 002), for clients that cannot hold a WebSocket:
``POST /chat`` sends a message into a conversation and streams the assistant's
reply as Server-Sent Events; ``GET /conversations`` and
``GET /conversations/{id}`` are the caller's own conversations, read from the
voice pipeline's history store, which also keeps who owns each (so an edge
restart, or another edge replica, knows). A conversation is a session of the
voice pipeline (typed chat): the same workers, limits and auth as the page."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from switchboard.schemas import Transcript, new_id

from .hub import Sessions

REPLY_WAIT_S = 180.0  # for the whole reply; the model server may be busy with others


class ChatRequest(BaseModel):
    """One message; without a conversation id, a new conversation starts."""

    message: str = Field(min_length=1, max_length=4000)
    conversation_id: str | None = Field(default=None, pattern=r"^[0-9a-f]{32}$")


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


class Owners(Protocol):
    """Who owns which conversation (the voice history store)."""

    def claim(self, conversation: str, owner: str) -> bool: ...
    def owner_of(self, conversation: str) -> str | None: ...
    def conversations_of(self, owner: str) -> list[str]: ...


def chat_router(
    hub: Callable[[], Sessions],
    authorize: Callable[..., str],
    take: Callable[[str], Awaitable[bool]],
    history: Callable[[str], list[tuple[str, str]]],
    owners: Owners,
) -> APIRouter:
    """The chat endpoints; ``take(client)`` applies the edge's rate limit,
    ``history(conversation)`` reads a conversation's turns, ``owners`` keeps whose they are."""
    router = APIRouter()

    async def owned(conversation_id: str, client: str) -> None:
        if await asyncio.to_thread(owners.owner_of, conversation_id) != client:
            raise HTTPException(404, f"no conversation {conversation_id}")

    @router.post("/chat")
    async def chat(req: ChatRequest, client: str = Depends(authorize)) -> StreamingResponse:
        """Stream the reply: ``conversation`` (its id), ``delta`` pieces, then ``answer`` (or ``error``)."""
        if not await take(client):
            raise HTTPException(429, "too many requests")
        h = hub()
        conversation = req.conversation_id or secrets.token_hex(16)
        if req.conversation_id:
            await owned(conversation, client)
        waiting = h.board.holding_up("voice.transcript")
        if waiting:
            raise HTTPException(503, f"the assistant is not ready yet ({waiting}); try again in a moment")
        if conversation in h.sessions:
            raise HTTPException(409, "a reply is still on its way in this conversation")
        if not await asyncio.to_thread(owners.claim, conversation, client):
            raise HTTPException(404, f"no conversation {conversation}")
        queue = h.open_session(conversation)
        message = Transcript(
            correlation_id=conversation, segment_id=new_id(), text=req.message, is_final=True, source="text"
        )
        try:
            await h.publish(message)
        except Exception:
            h.close_session(conversation)
            raise HTTPException(503, "the bus is not reachable") from None

        async def reply() -> AsyncIterator[bytes]:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + REPLY_WAIT_S
            try:
                yield _sse("conversation", {"conversation_id": conversation})
                while True:
                    subject, data = await asyncio.wait_for(queue.get(), max(0.1, deadline - loop.time()))
                    if subject == "voice.answer.delta":
                        text = json.loads(data).get("text", "")
                        if text:
                            yield _sse("delta", {"text": text})
                    elif subject == "voice.answer":
                        answer = json.loads(data)
                        yield _sse("answer", {k: answer.get(k) for k in ("text", "finish_reason", "model")})
                        return
            except TimeoutError:
                yield _sse("error", {"message": f"no answer within {REPLY_WAIT_S:.0f} s"})
            finally:
                h.close_session(conversation)

        return StreamingResponse(
            reply(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
        )

    @router.get("/conversations")
    async def conversations(client: str = Depends(authorize)) -> list[dict[str, Any]]:
        """The caller's conversations: id, number of turns, the last message."""
        mine = await asyncio.to_thread(owners.conversations_of, client)
        out = []
        for c in mine:
            turns = await asyncio.to_thread(history, c)
            out.append(
                {"conversation_id": c, "turns": len(turns), "last": turns[-1][1][:200] if turns else ""}
            )
        return out

    @router.get("/conversations/{conversation_id}")
    async def conversation(conversation_id: str, client: str = Depends(authorize)) -> dict[str, Any]:
        """One of the caller's conversations, turn by turn."""
        await owned(conversation_id, client)
        turns = await asyncio.to_thread(history, conversation_id)
        return {"conversation_id": conversation_id, "turns": [{"role": r, "content": c} for r, c in turns]}

    return router
