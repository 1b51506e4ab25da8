"""Audio frames from clients: raw 16 kHz mono PCM16, or a WAV file in that
format (its header is read and dropped). Anything else is refused with a
message that says what was expected."""

from __future__ import annotations

import io
import wave

EXPECTED = "16 kHz mono 16-bit PCM"


def pcm16(frame: bytes) -> bytes:
    if frame[:4] == b"RIFF":
        try:
            with wave.open(io.BytesIO(frame)) as w:
                rate, channels, width = w.getframerate(), w.getnchannels(), w.getsampwidth()
                data: bytes = w.readframes(w.getnframes())
        except (wave.Error, EOFError) as exc:
            raise ValueError(f"unreadable WAV ({exc}); send {EXPECTED}") from None
        if (rate, channels, width) != (16_000, 1, 2):
            raise ValueError(f"WAV is {rate} Hz, {channels} channel(s), {8 * width}-bit; send {EXPECTED}")
        return data
    if len(frame) % 2:
        raise ValueError(f"odd number of bytes ({len(frame)}): not 16-bit PCM; send {EXPECTED}")
    return frame
