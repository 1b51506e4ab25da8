"""TTS worker: voice.answer.delta -> voice.speech.audio, sentence by sentence.

Deltas of an answer are gathered until a sentence ends, then that sentence is
spoken, so the first audio leaves long before the answer is complete. A
``voice.cancel`` drops what was gathered for the session and the rest of its
answers in flight."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

from prometheus_client import Histogram

from switchboard.bus import Context, Worker
from switchboard.bus.cancels import CancelLog
from switchboard.schemas import AnswerDelta, Cancel, Event, SpeechAudio
from switchboard.schemas.voice import MAX_TTS_BYTES
from switchboard.workers.engines.tts import PiperTTS

RTF = Histogram("switchboard_tts_rtf", "TTS time / audio time", buckets=(0.02, 0.05, 0.1, 0.2, 0.4, 0.8))
_SENTENCE = re.compile(r"(.+?[.!?;:])(\s+|$)", re.S)
_CLAUSE = re.compile(r"^(.*?[^\s,;:][,;:])\s+", re.S)  # a first clause ("Sure," too)
# words a phrase may start with: the first piece can end before one of them
_JOINERS = frozenset(
    {"and", "but", "or", "so", "because", "with", "without", "to", "in", "on", "for", "of", "that"}
    | {"which", "who", "when", "where", "if", "by", "from", "as", "at", "then", "while", "into"}
    | {"through", "after", "before"}
)
FIRST_MIN_WORDS = 3  # the first piece, cut at a phrase break, has at least this many words
FIRST_MAX_WORDS = 6  # and is cut here when no break came (long sentences)
_tts: PiperTTS | None = None
_pending: dict[str, tuple[str, int]] = {}  # answer -> (text gathered, next index)
_cancels = CancelLog(10_000)  # session -> time of its latest cancel (event time)
_dropped: dict[str, None] = {}  # answers cut by a cancel (insertion-ordered, bounded)
_sessions: dict[str, str] = {}  # answer -> session, for answers with gathered text
MAX_DROPPED = 10_000


async def _load() -> None:
    global _tts
    if _tts is None:
        _tts = await asyncio.to_thread(PiperTTS)


# sessions side by side: one session's sentence (synthesized in a thread) does not queue the next
worker = Worker("tts", version="0.1.0", emits=(SpeechAudio,), on_start=_load, sessions_side_by_side=True)


def first_piece(text: str) -> tuple[str, str] | None:
    """The answer's opening words, spoken before its first sentence is complete
    so the user hears something sooner: a clause ending in a comma, else the
    words before a phrase break ("Start more copies | with ..."), else the
    first ``FIRST_MAX_WORDS`` words. None while too little has arrived."""
    clause = _CLAUSE.match(text)
    if clause:
        return clause.group(1).strip(), text[clause.end() :]
    words = list(re.finditer(r"\S+\s+", text))  # complete words only
    for i in range(FIRST_MIN_WORDS, len(words)):
        if words[i].group().strip().lower() in _JOINERS and i + 1 < len(words):
            return text[: words[i].start()].strip(), text[words[i].start() :]
    if len(words) >= FIRST_MAX_WORDS:
        cut = words[FIRST_MAX_WORDS - 1].end()
        return text[:cut].strip(), text[cut:]
    return None


def split(text: str, final: bool, first: bool = False) -> tuple[list[str], str]:
    """Whole sentences in ``text`` and the rest (all of it when final); for the
    answer's first piece, its opening words are enough (``first_piece``)."""
    sentences = []
    pos = 0
    if first and not final and not _SENTENCE.match(text):
        piece = first_piece(text)
        if piece:
            rest_sentences, rest = split(piece[1], final)
            return [piece[0], *rest_sentences], rest
    for m in _SENTENCE.finditer(text):
        if m.group(2) or final:
            sentences.append(m.group(1).strip())
            pos = m.end()
    rest = text[pos:]
    if final and rest.strip():
        sentences.append(rest.strip())
        rest = ""
    return [s for s in sentences if s], rest


def _drop(answer: str) -> None:
    _pending.pop(answer, None)
    _dropped[answer] = None
    while len(_dropped) > MAX_DROPPED:
        del _dropped[next(iter(_dropped))]


def _cut(d: AnswerDelta) -> bool:
    """Was this answer in flight when its session was cancelled?"""
    if d.answer_id in _dropped:
        return True
    if _cancels.cancelled_since(d.correlation_id, d.created_at):  # written before the cancel: stale
        _drop(d.answer_id)
        return True
    return False


@worker.handler(Cancel)
async def on_cancel(c: Cancel, ctx: Context) -> None:
    _cancels.record(c.correlation_id, c.created_at)
    for answer in [a for a, v in _sessions.items() if v == c.correlation_id and a in _pending]:
        _drop(answer)


@worker.handler(AnswerDelta)
async def on_delta(d: AnswerDelta, ctx: Context) -> AsyncIterator[Event]:
    assert _tts is not None, "tts started without a voice"
    if _cut(d):
        return
    session = d.correlation_id
    text, index = _pending.pop(d.answer_id, ("", 0))
    _sessions.pop(d.answer_id, None)
    sentences, rest = split(text + d.text, d.last, first=index == 0)
    for sentence in sentences:
        speech = await asyncio.to_thread(_tts.synthesize, sentence)
        RTF.observe(speech.rtf)
        if _cut(d):  # cancelled while speaking
            return
        pcm = speech.pcm
        while pcm:  # long sentences go out in pieces under the event size limit
            part, pcm = pcm[:MAX_TTS_BYTES], pcm[MAX_TTS_BYTES:]
            yield SpeechAudio(
                correlation_id=session,
                answer_id=d.answer_id,
                index=index,
                sample_rate=speech.sample_rate,
                pcm=part,
                text=sentence[:1000],
            )
            index += 1
    if d.last:
        yield SpeechAudio(
            correlation_id=session,
            answer_id=d.answer_id,
            index=index,
            sample_rate=_tts.sample_rate,
            pcm=b"",
            last=True,
        )
    else:
        _pending[d.answer_id] = (rest, index)
        _sessions[d.answer_id] = session
