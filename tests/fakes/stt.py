"""An STT that hears tones (tests only): an utterance whose loudest pitch is
nearest ``f`` Hz says ``texts[f]``, so partials of one utterance agree and
each utterance of a test says what the test scripted."""

from __future__ import annotations

import numpy as np

from switchboard.workers.engines.stt import STT


class FakeSTT(STT):
    def __init__(self, texts: dict[int, str]) -> None:
        self.texts = dict(texts)
        self.heard: list[float] = []  # seconds of audio per call
        self.name = "fake-stt"

    def _transcribe_impl(self, audio: np.ndarray) -> tuple[str, bool]:
        self.heard.append(len(audio) / 16_000)
        if not np.any(audio):
            return "", False
        spectrum = np.abs(np.fft.rfft(audio))
        pitch = float(np.argmax(spectrum[1:]) + 1) * 16_000 / len(audio)
        return self.texts[min(self.texts, key=lambda f: abs(f - pitch))], False
