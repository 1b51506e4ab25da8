"""Speech for tests, made with the real Piper voice and resampled to 16 kHz."""

from __future__ import annotations

import functools

import numpy as np


@functools.cache
def speech_16k(text: str, lead_s: float = 0.8, tail_s: float = 1.2) -> bytes:
    from scipy.signal import resample_poly

    from switchboard.workers.engines.tts import PiperTTS

    speech = PiperTTS().synthesize(text)
    audio = np.frombuffer(speech.pcm, dtype=np.int16).astype(np.float32)
    resampled = resample_poly(audio, 16_000 // 100, speech.sample_rate // 100)
    pcm = np.clip(resampled, -32768, 32767).astype(np.int16)
    lead = np.zeros(int(16_000 * lead_s), dtype=np.int16)
    tail = np.zeros(int(16_000 * tail_s), dtype=np.int16)
    return np.concatenate([lead, pcm, tail]).tobytes()
