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

from switchboard.bus import Context, Worker, handles
from switchboard.bus.cancels import CancelLog
from switchboard.schemas import AnswerDelta, Cancel, Event, SpeechAudio
from switchboard.schemas.voice import MAX_TTS_BYTES
from switchboard.workers.engines.tts import TTS, TTSSettings, load_tts

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
MAX_DROPPED = 10_000


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


class TTSWorker:
    """Speaks answers sentence by sentence with one TTS engine; keeps each
    answer's text not yet spoken, and which answers a cancel cut."""

    def __init__(self, tts: TTS | None = None) -> None:
        self.tts = tts
        self.pending: dict[str, tuple[str, int]] = {}  # answer -> (text gathered, next index)
        self.cancels = CancelLog(10_000)  # session -> time of its latest cancel (event time)
        self.dropped: dict[str, None] = {}  # answers cut by a cancel (insertion-ordered, bounded)
        self.sessions: dict[str, str] = {}  # answer -> session, for answers with gathered text

    def about(self) -> str:
        """The voice it speaks with."""
        return f"voice {self.tts.name}" if self.tts else f"voice {TTSSettings().voice}"

    async def start(self) -> None:
        """Load the voice (unless one was handed in)."""
        if self.tts is None:
            self.tts = await asyncio.to_thread(load_tts)

    def _drop(self, answer: str) -> None:
        self.pending.pop(answer, None)
        self.dropped[answer] = None
        while len(self.dropped) > MAX_DROPPED:
            del self.dropped[next(iter(self.dropped))]

    def _cut(self, d: AnswerDelta) -> bool:
        """Was this answer in flight when its session was cancelled?"""
        if d.answer_id in self.dropped:
            return True
        if self.cancels.cancelled_since(d.correlation_id, d.created_at):  # written before the cancel: stale
            self._drop(d.answer_id)
            return True
        return False

    @handles(Cancel)
    async def on_cancel(self, c: Cancel, ctx: Context) -> None:
        """Drop what was gathered for the session and its answers in flight."""
        self.cancels.record(c.correlation_id, c.created_at)
        for answer in [a for a, v in self.sessions.items() if v == c.correlation_id and a in self.pending]:
            self._drop(answer)

    @handles(AnswerDelta)
    async def on_delta(self, d: AnswerDelta, ctx: Context) -> AsyncIterator[Event]:
        """Audio of each sentence the delta completes (all that is left on the last delta)."""
        assert self.tts is not None, "tts started without a voice"
        if self._cut(d):
            return
        session = d.correlation_id
        text, index = self.pending.pop(d.answer_id, ("", 0))
        self.sessions.pop(d.answer_id, None)
        sentences, rest = split(text + d.text, d.last, first=index == 0)
        for sentence in sentences:
            speech = await asyncio.to_thread(self.tts.synthesize, sentence)
            RTF.observe(speech.rtf)
            if self._cut(d):  # cancelled while speaking
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
                sample_rate=self.tts.sample_rate,
                pcm=b"",
                last=True,
            )
        else:
            self.pending[d.answer_id] = (rest, index)
            self.sessions[d.answer_id] = session


def build(tts: TTS | None = None) -> Worker:
    """The tts worker kind; sessions side by side: one session's sentence
    (synthesized in a thread) does not queue the next."""
    return Worker.of(TTSWorker(tts), "tts", version="0.1.0", emits=(SpeechAudio,), sessions_side_by_side=True)
