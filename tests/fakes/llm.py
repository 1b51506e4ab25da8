"""A scripted LLM for tests (tests only): replies in order, records prompts."""

from __future__ import annotations

from collections.abc import AsyncIterator

from switchboard.workers.engines.llm import LLM, Capabilities, Message


class FakeLLM(LLM):
    def __init__(self, replies: list[str]) -> None:
        self.replies = list(replies)
        self.prompts: list[list[Message]] = []
        self.capabilities = Capabilities(name="fake", context_tokens=4096)

    async def _stream_impl(
        self, messages: list[Message], *, max_tokens: int, temperature: float
    ) -> AsyncIterator[str]:
        self.prompts.append(messages)
        reply = self.replies.pop(0) if self.replies else ""
        for word in reply.split(" "):
            yield word + " "


class SlowLLM(LLM):
    """Streams a long scripted answer one word at a time, slowly (tests only):
    long enough for a barge-in or a hang-up to land mid-answer."""

    def __init__(self, words: int = 60, delay_s: float = 0.25) -> None:
        self.words = words
        self.delay_s = delay_s
        self.stopped_early = 0
        self.streams = 0  # answers begun
        self.capabilities = Capabilities(name="slow", context_tokens=4096)

    async def _stream_impl(
        self, messages: list[Message], *, max_tokens: int, temperature: float
    ) -> AsyncIterator[str]:
        import asyncio

        sent = 0
        self.streams += 1
        try:
            for i in range(self.words):
                await asyncio.sleep(self.delay_s)
                sent += 1
                yield f"word{i}. " if i % 6 == 5 else f"word{i} "
        finally:
            if sent < self.words:
                self.stopped_early += 1
