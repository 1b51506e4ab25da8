"""Speech for tests, made with the real Piper voice and resampled to 16 kHz.

The voice's noise is off, so a phrase is the same audio on every run: with
it on, one run in many gave Whisper audio it heard wrongly."""

from __future__ import annotations

import functools

import numpy as np


@functools.cache
def speech_16k(text: str, lead_s: float = 0.8, tail_s: float = 1.2) -> bytes:
    from piper.config import SynthesisConfig
    from scipy.signal import resample_poly

    from switchboard.workers.engines.tts import PiperTTS

    tts = PiperTTS()
    steady = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)
    chunks = tts.voice.synthesize(text, syn_config=steady)
    audio = np.frombuffer(b"".join(c.audio_int16_bytes for c in chunks), dtype=np.int16)
    resampled = resample_poly(audio.astype(np.float32), 16_000 // 100, tts.sample_rate // 100)
    pcm = np.clip(resampled, -32768, 32767).astype(np.int16)
    lead = np.zeros(int(16_000 * lead_s), dtype=np.int16)
    tail = np.zeros(int(16_000 * tail_s), dtype=np.int16)
    return np.concatenate([lead, pcm, tail]).tobytes()
