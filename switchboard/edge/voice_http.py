"""One-shot voice over HTTP (seed 001's gateway), for clients that cannot
stream: ``POST /voice/query`` with a WAV file (16 kHz mono 16-bit) or raw
PCM16 goes through the voice workers on the bus like a spoken turn on the
page, and answers with the transcript, the answer and an audio URL;
``GET /audio/{id}`` serves the spoken answer (to its own client only)."""

from __future__ import annotations

import asyncio
import io
import json
import secrets
import wave
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response

from switchboard.schemas import AudioChunk, Cancel, SpeechAudio

from .audio import EXPECTED, pcm16
from .hub import Sessions

CHUNK = 32_000  # 1 s of PCM16 per event
HEARD_WAIT_S = 30.0  # after the upload, for the transcript: none means nothing was heard
ANSWER_WAIT_S = 180.0
KEPT_CLIPS = 200
NOT_AUDIO = {
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"%PDF": "a PDF",
    b"PK\x03\x04": "a ZIP file",
    b"OggS": "Ogg audio",
    b"ID3": "MP3 audio",
    b"fLaC": "FLAC audio",
    b"{": "JSON",
    b"<": "HTML or XML",
}


def _audio_of(body: bytes) -> bytes:
    """The upload's PCM16 (HTTPException 415 for anything but WAV or raw PCM16)."""
    if not body:
        raise HTTPException(400, f"no audio: send {EXPECTED} as WAV or raw PCM")
    for magic, what in NOT_AUDIO.items():
        if body.startswith(magic):
            raise HTTPException(415, f"this is {what}; send {EXPECTED} as WAV or raw PCM")
    try:
        return pcm16(body)
    except ValueError as exc:
        raise HTTPException(415, str(exc)) from None


def _silent(pcm: bytes) -> bool:
    """Digital silence, or next to it: nothing for the VAD to find (told at once, not after a wait)."""
    import numpy as np

    samples = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype=np.int16)
    return not samples.size or float(np.abs(samples).max()) < 100  # -50 dBFS


def _wav(pcm: bytes, rate: int) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
    return out.getvalue()


def voice_router(
    hub: Callable[[], Sessions], authorize: Callable[..., str], take: Callable[[str], Awaitable[bool]]
) -> APIRouter:
    """The one-shot voice endpoints; ``take(client)`` applies the edge's rate limit."""
    router = APIRouter()
    clips: OrderedDict[str, tuple[str, bytes]] = OrderedDict()  # id -> (client, WAV), the latest kept

    @router.post("/voice/query")
    async def query(request: Request, client: str = Depends(authorize)) -> dict[str, Any]:
        """Transcript, answer and the answer's audio URL for one spoken question."""
        if not await take(client):
            raise HTTPException(429, "too many requests")
        pcm = _audio_of(await request.body())
        if _silent(pcm):
            raise HTTPException(422, "no speech was heard in the audio (it is silent)")
        h = hub()
        waiting = h.board.holding_up("voice.audio.chunk")
        if waiting:
            raise HTTPException(503, f"the assistant is not ready yet ({waiting}); try again in a moment")
        session = secrets.token_hex(16)
        queue = h.open_session(session)
        try:
            parts = [pcm[i : i + CHUNK] for i in range(0, len(pcm), CHUNK)] or [b""]
            for seq, part in enumerate(parts):
                await h.publish(
                    AudioChunk(correlation_id=session, seq=seq, pcm=part, end_of_stream=seq == len(parts) - 1)
                )
            return await _turn(queue, session, clips, client)
        finally:
            h.close_session(session)
            await h.publish(Cancel(correlation_id=session, reason="disconnect"))  # nothing left running

    @router.get("/audio/{clip_id}")
    async def audio(clip_id: str, client: str = Depends(authorize)) -> Response:
        """A spoken answer as WAV."""
        clip = clips.get(clip_id)
        if clip is None or clip[0] != client:
            raise HTTPException(404, f"no audio {clip_id}")
        return Response(clip[1], media_type="audio/wav")

    return router


async def _turn(
    queue: asyncio.Queue[tuple[str, bytes]],
    session: str,
    clips: OrderedDict[str, tuple[str, bytes]],
    client: str,
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    heard_by = loop.time() + HEARD_WAIT_S
    done_by = loop.time() + ANSWER_WAIT_S
    transcript: str | None = None
    answer: dict[str, Any] | None = None
    pieces: dict[int, bytes] = {}
    rate = 16_000
    spoken = False  # the answer's last audio came
    while True:
        deadline = heard_by if transcript is None else done_by
        try:
            subject, data = await asyncio.wait_for(queue.get(), max(0.1, deadline - loop.time()))
        except TimeoutError:
            if transcript is None:
                raise HTTPException(422, "no speech was heard in the audio") from None
            raise HTTPException(504, f"no answer within {ANSWER_WAIT_S:.0f} s") from None
        ev = json.loads(data)
        if subject == "voice.transcript" and ev.get("is_final"):
            transcript = ev["text"]
        elif subject == "voice.answer":
            answer = ev
        elif subject == "voice.speech.audio":
            audio = SpeechAudio.model_validate_json(data)
            rate = audio.sample_rate
            pieces[audio.index] = audio.pcm
            spoken = spoken or audio.last
        if answer is not None and (spoken or (answer.get("finish_reason") != "stop" and not pieces)):
            break  # answered and spoken (or cut before any audio)
    clip = secrets.token_hex(16)
    clips[clip] = (client, _wav(b"".join(pieces[i] for i in sorted(pieces)), rate))
    while len(clips) > KEPT_CLIPS:
        clips.popitem(last=False)
    assert answer is not None
    return {
        "session_id": session,
        "transcript": transcript,
        "answer": answer.get("text", ""),
        "finish_reason": answer.get("finish_reason"),
        "audio_url": f"/audio/{clip}",
    }
