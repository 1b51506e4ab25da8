"""Voice activity detection: Silero VAD (the ONNX model inside the
``silero-vad`` package) run with onnxruntime, one small recurrent state per
session so one loaded model serves every session.

``Segmenter`` turns a session's PCM16 stream into speech events: speech
started (for barge-in), the utterance so far every ``partial_ms`` (for partial
transcripts), and the whole utterance at end of turn (``min_silence_ms`` of
silence) or when it reaches ``max_ms``.
"""

from __future__ import annotations

import abc
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeAlias

import numpy as np
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from .models import packaged_file

RATE = 16_000
WINDOW = 512  # samples per model step at 16 kHz (32 ms)
CONTEXT = 64
State: TypeAlias = tuple[np.ndarray, np.ndarray]


class VADSettings(BaseSettings):
    """Turn-taking knobs (``SWITCHBOARD_VAD_*``)."""

    model_config = SettingsConfigDict(env_prefix="SWITCHBOARD_VAD_", extra="ignore")

    threshold: float = Field(0.5, gt=0, lt=1)
    min_silence_ms: int = Field(400, ge=100, le=5000)
    """Silence that ends a turn: lower answers sooner, higher lets users pause."""
    partial_ms: int = Field(1000, ge=200)
    max_ms: int = Field(20_000, ge=1000, le=20_000)


class VAD(abc.ABC):
    """Speech probability of 32 ms windows, with a small state per session, so
    one loaded model serves every session. Engines implement ``new_state`` and
    ``_probability_impl``."""

    @abc.abstractmethod
    def new_state(self) -> State:
        """The state of a session that has not spoken yet."""

    def probability(self, window: np.ndarray, state: State) -> tuple[float, State]:
        """Speech probability (0 to 1) of one 512-sample float32 window, and the next state."""
        if window.shape != (WINDOW,):
            raise ValueError(f"a VAD window is {WINDOW} samples, got {window.shape}")
        prob, state = self._probability_impl(window, state)
        return min(1.0, max(0.0, float(prob))), state

    @abc.abstractmethod
    def _probability_impl(self, window: np.ndarray, state: State) -> tuple[float, State]: ...


class SileroVAD(VAD):
    """Silero VAD in onnxruntime, one thread (its windows are tiny)."""

    def __init__(self, path: Path | None = None) -> None:
        import onnxruntime

        opts = onnxruntime.SessionOptions()
        opts.inter_op_num_threads = 1
        opts.intra_op_num_threads = 1
        model = path or packaged_file("silero-vad", "data/silero_vad.onnx")
        self.session = onnxruntime.InferenceSession(
            str(model), providers=["CPUExecutionProvider"], sess_options=opts
        )
        self._lock = threading.Lock()

    def new_state(self) -> State:
        """Silero's recurrent state and its 64 samples of context, zeroed."""
        return np.zeros((2, 1, 128), dtype=np.float32), np.zeros((1, CONTEXT), dtype=np.float32)

    def _probability_impl(self, window: np.ndarray, state: State) -> tuple[float, State]:
        rnn, context = state
        x = np.concatenate([context, window.reshape(1, WINDOW)], axis=1)
        with self._lock:
            out, rnn = self.session.run(
                None, {"input": x, "state": rnn, "sr": np.array(RATE, dtype=np.int64)}
            )
        return float(out[0][0]), (rnn, x[:, -CONTEXT:])


def load_vad(path: Path | None = None) -> VAD:
    """The VAD engine: Silero from the ``silero-vad`` package, or the ONNX file at ``path``."""
    return SileroVAD(path)


@dataclass
class SpeechEvent:
    """What the segmenter found: speech started, the utterance so far, its end, or noise."""

    kind: str  # "start" | "partial" | "end" | "noise" (speech too short to be words)
    pcm: bytes = b""
    start_ms: int = 0
    end_ms: int = 0


@dataclass
class Segmenter:
    """One session's speech detector (not thread-safe; one per session)."""

    vad: VAD
    threshold: float = 0.5
    min_silence_ms: int = 400
    min_speech_ms: int = 250
    pad_ms: int = 200
    partial_ms: int = 1000
    max_ms: int = 20_000
    state: State = field(init=False)
    _pending: bytes = b""  # samples not yet a whole window
    _pre: bytearray = field(default_factory=bytearray)  # audio before speech (padding)
    _speech: bytearray = field(default_factory=bytearray)
    _in_speech: bool = False
    _silence: int = 0  # samples of silence inside speech
    _pos: int = 0  # samples seen
    _start: int = 0
    _last_partial: int = 0

    def __post_init__(self) -> None:
        self.state = self.vad.new_state()

    @classmethod
    def configured(cls, vad: VAD, settings: VADSettings) -> Segmenter:
        """A segmenter with the turn-taking settings."""
        return cls(
            vad,
            threshold=settings.threshold,
            min_silence_ms=settings.min_silence_ms,
            partial_ms=settings.partial_ms,
            max_ms=settings.max_ms,
        )

    def feed(self, pcm: bytes) -> list[SpeechEvent]:
        """Speech events in the next piece of the session's PCM16 audio."""
        out: list[SpeechEvent] = []
        data = self._pending + pcm
        whole = len(data) // (WINDOW * 2) * WINDOW * 2
        self._pending = data[whole:]
        for off in range(0, whole, WINDOW * 2):
            chunk = data[off : off + WINDOW * 2]
            window = np.frombuffer(chunk, dtype=np.int16).astype(np.float32) / 32768.0
            prob, self.state = self.vad.probability(window, self.state)
            self._pos += WINDOW
            out.extend(self._step(chunk, prob))
        return out

    def start_at(self, samples: int) -> None:
        """Count positions from ``samples`` into the stream (a detector rebuilt
        mid-session keeps the times, and so the segment ids, of the first)."""
        self._pos = samples

    def flush(self) -> list[SpeechEvent]:
        """End of stream: close an open utterance."""
        if self._in_speech and len(self._speech) >= self._ms(self.min_speech_ms) * 2:
            return [self._end()]
        return []

    def _ms(self, ms: int) -> int:
        return RATE * ms // 1000

    def _step(self, chunk: bytes, prob: float) -> list[SpeechEvent]:
        if not self._in_speech:
            self._pre += chunk
            del self._pre[: max(0, len(self._pre) - self._ms(self.pad_ms) * 2)]
            if prob >= self.threshold:
                self._in_speech = True
                self._speech = bytearray(self._pre)
                self._start = self._pos - len(self._pre) // 2
                self._silence = 0
                self._last_partial = self._pos
                return [SpeechEvent("start", start_ms=self._start * 1000 // RATE)]
            return []
        self._speech += chunk
        self._silence = self._silence + WINDOW if prob < self.threshold - 0.15 else 0
        if self._silence >= self._ms(self.min_silence_ms) or len(self._speech) >= self._ms(self.max_ms) * 2:
            return [self._end()]
        # no partial in a pause: the STT should be free when the turn ends
        if self._silence == 0 and self._pos - self._last_partial >= self._ms(self.partial_ms):
            self._last_partial = self._pos
            return [SpeechEvent("partial", bytes(self._speech), *self._span())]
        return []

    def _span(self) -> tuple[int, int]:
        start = self._start * 1000 // RATE
        return start, start + len(self._speech) * 1000 // (2 * RATE)

    def _end(self) -> SpeechEvent:
        # keep a little of the trailing silence, drop the rest
        keep = len(self._speech) - max(0, self._silence - self._ms(self.pad_ms)) * 2
        self._speech = self._speech[:keep]
        voiced = len(self._speech) // 2 - self._ms(2 * self.pad_ms)
        kind = "end" if voiced >= self._ms(self.min_speech_ms) else "noise"
        event = SpeechEvent(kind, bytes(self._speech), *self._span())
        self._in_speech = False
        self._speech = bytearray()
        self._pre = bytearray()
        self._silence = 0
        return event
