"""A scripted STT (tests only): each utterance gets the next scripted text."""

from __future__ import annotations

import numpy as np

from switchboard.workers.engines.stt import STT


class FakeSTT(STT):
    def __init__(self, texts: list[str] | None = None, default: str = "hello there") -> None:
        self.texts = list(texts or [])
        self.default = default
        self.heard: list[float] = []  # seconds of audio per call
        self.name = "fake-stt"

    def _transcribe_impl(self, audio: np.ndarray) -> tuple[str, bool]:
        self.heard.append(len(audio) / 16_000)
        return (self.texts.pop(0) if self.texts else self.default), False
