"""A TTS that speaks silence (tests only): 50 ms per word, and records what it said."""

from __future__ import annotations

from switchboard.workers.engines.tts import TTS


class FakeTTS(TTS):
    def __init__(self, sample_rate: int = 16_000) -> None:
        self.sample_rate = sample_rate
        self.name = "fake-tts"
        self.said: list[str] = []

    def _synthesize_impl(self, text: str) -> bytes:
        self.said.append(text)
        return b"\0\0" * (self.sample_rate // 20) * max(1, len(text.split()))
