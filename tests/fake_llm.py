"""A scripted LLM for tests (tests only): replies in order, records prompts."""

from __future__ import annotations

from collections.abc import AsyncIterator

from workers.engines.llm import LLM, Capabilities, Message


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
