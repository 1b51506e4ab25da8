"""Answer worker: voice.context -> voice.answer.delta ... -> voice.answer.

Streams the chat model's answer as deltas; a ``voice.cancel`` for the session
(barge-in, hang-up) stops generation at the next token. The finished turn
(question and answer, even a cut one) goes into the session's history."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from switchboard.bus import Context, Worker, handles
from switchboard.bus.cancels import CancelLog
from switchboard.schemas import Answer, AnswerDelta, Cancel, Event
from switchboard.schemas import Context as VoiceContext
from switchboard.workers.engines.llm import LLM, SERVER_MODEL, LLMError, LLMSettings, Message, load_llm

from . import store

MAX_TOKENS = 120
MAX_SESSIONS = 10_000
SYSTEM = (
    "You are Switchboard's voice assistant. Answer in one to three short, plain sentences "
    "that sound natural when spoken."
)
# small models sometimes open with a label copied from the prompt's wording
LABELS = ("answer:", "assistant:", "response:")


def unlabel(opening: str) -> tuple[str, str]:
    """(held, to speak) for the answer's opening: a label is dropped, a possible
    label's start held back; anything else goes out at once."""
    said = opening.lstrip().lower()
    for label in LABELS:
        if said.startswith(label):
            return "", opening.lstrip()[len(label) :].lstrip()
        if said and label.startswith(said):
            return opening, ""
    return "", opening


def within(budget: int, texts: list[str]) -> list[str]:
    """The texts in order until ``budget`` characters; the last one cut at a word."""
    out = []
    for text in texts:
        if budget <= 0:
            break
        if len(text) > budget:
            text = text[:budget].rsplit(" ", 1)[0] + " …"
        out.append(text)
        budget -= len(text)
    return out


def messages(c: VoiceContext, notes_chars: int) -> list[Message]:
    """History, then the question with the retrieved notes right before it
    (small models heed notes there, not in the system prompt)."""
    out: list[Message] = [{"role": "system", "content": SYSTEM}]
    out += [{"role": t.role, "content": t.content} for t in c.history if t.role != "system"]
    question = c.query
    if c.passages:
        notes = "\n".join(f"- {text}" for text in within(notes_chars, [p.text for p in c.passages]))
        question = f"Notes:\n{notes}\n\nUsing the notes if they help, answer: {c.query}"
    out.append({"role": "user", "content": question})
    return out


class LLMWorker:
    """Streams answers from one LLM engine; remembers cancelled sessions."""

    def __init__(self, llm: LLM | None = None, settings: store.VoiceSettings | None = None) -> None:
        self.llm = llm
        self.settings = settings or store.VoiceSettings()
        self.cancels = CancelLog(MAX_SESSIONS)  # session -> when a cancel reached this worker

    def about(self) -> str:
        """The chat model it uses."""
        if self.llm:
            return f"model {self.llm.capabilities.name}"
        settings = LLMSettings()
        return f"model {settings.model or SERVER_MODEL} ({settings.engine})"

    async def start(self) -> None:
        """Connect to the chat model (unless one was handed in)."""
        if self.llm is None:
            self.llm = await asyncio.to_thread(load_llm, None, "chat")

    @handles(Cancel)
    async def on_cancel(self, c: Cancel, ctx: Context) -> None:
        """Stop the session's answer in flight; a hang-up also forgets its history."""
        self.cancels.record(c.correlation_id, datetime.now(UTC))
        if c.reason == "disconnect":
            await asyncio.to_thread(store.forget, self.settings.db_url, c.correlation_id)

    @handles(VoiceContext)
    async def on_context(self, c: VoiceContext, ctx: Context) -> AsyncIterator[Event]:
        """The answer as deltas, then the whole answer; the turn goes into the history."""
        assert self.llm is not None, "llm started without a model"
        started = datetime.now(UTC)
        answer_id = f"a-{c.turn_id}"[:64]
        text = ""
        index = 0
        finish = "stop"
        try:
            head = ""  # an opening that may be a label ("Answer:"), held until it is told apart
            tokens = 0
            prompt = messages(c, self.settings.notes_chars)
            async for piece in self.llm.stream(prompt, max_tokens=MAX_TOKENS, temperature=0.0):
                if self.cancels.cancelled_since(c.correlation_id, started):
                    finish = "cancelled"
                    break
                tokens += 1
                if not text:
                    head, piece = unlabel(head + piece)
                    if not piece:
                        continue
                text += piece
                yield AnswerDelta(
                    correlation_id=c.correlation_id, answer_id=answer_id, index=index, text=piece[:1000]
                )
                index += 1
            else:
                finish = "length" if tokens >= MAX_TOKENS else "stop"
                if not text and head.strip():  # the whole answer looked like a label's start
                    text = head
                    yield AnswerDelta(
                        correlation_id=c.correlation_id, answer_id=answer_id, index=index, text=text[:1000]
                    )
                    index += 1
        except LLMError as exc:
            finish = "error"
            text = text or f"Sorry, the model failed: {exc}"[:1000]
        yield AnswerDelta(
            correlation_id=c.correlation_id, answer_id=answer_id, index=index, text="", last=True
        )
        yield Answer(
            correlation_id=c.correlation_id,
            answer_id=answer_id,
            turn_id=c.turn_id,
            text=text.strip()[:20_000],
            model=self.llm.capabilities.name[:128],
            finish_reason=finish,
        )
        turns = [("user", c.query), ("assistant", text.strip())]
        await asyncio.to_thread(store.remember, self.settings.db_url, c.correlation_id, turns)


def build(llm: LLM | None = None, settings: store.VoiceSettings | None = None) -> Worker:
    """The llm worker kind; sessions side by side: they share the model server's
    slots instead of queueing."""
    return Worker.of(
        LLMWorker(llm, settings),
        "llm",
        version="0.1.0",
        emits=(AnswerDelta, Answer),
        ack_wait_s=120,
        sessions_side_by_side=True,
    )
