"""MIDI in: music21 corpus works converted offline, metadata read back with
pretty_midi, descriptions; bad files skipped with a reason."""

from __future__ import annotations

from pathlib import Path

import pretty_midi
import pytest

from switchboard.workers.music import ingest

pytestmark = pytest.mark.slow  # the music21 corpus and real MIDI files


def _midi(path: Path, tempo: float = 120.0, notes: int = 4) -> Path:
    pm = pretty_midi.PrettyMIDI(initial_tempo=tempo)
    piano = pretty_midi.Instrument(program=0)
    for i in range(notes):
        piano.notes.append(pretty_midi.Note(velocity=80, pitch=60 + i, start=i * 0.5, end=i * 0.5 + 0.4))
    pm.instruments.append(piano)
    pm.write(str(path))
    return path


def test_bach_chorales_become_midi_with_metadata() -> None:
    got = [x for x in ingest.corpus_midi("bach", 3)]
    assert len(got) == 3 and not any(isinstance(x, ingest.Skipped) for x in got)
    for data, known in got:  # type: ignore[misc]
        piece = ingest.read_midi(data, "test", **known)
        assert piece.composer == "J.S. Bach" and piece.collection == "bach"
        assert piece.notes > 50 and 30 <= piece.lowest_pitch < piece.highest_pitch <= 90
        assert piece.duration_s > 10 and piece.time_signature and piece.key
        assert "J.S. Bach" in piece.description and "notes" in piece.description


def test_bad_files_are_skipped_with_reasons(tmp_path: Path) -> None:
    _midi(tmp_path / "good.mid")
    _midi(tmp_path / "silent.mid", notes=0)
    _midi(tmp_path / "absurd.mid", tempo=2000)
    (tmp_path / "corrupt.mid").write_bytes(b"MThd\x00\x00\x00\x06garbage")
    (tmp_path / "notes.txt").write_text("not music")
    (tmp_path / "huge.mid").write_bytes(b"MThd" + b"\0" * (ingest.MAX_BYTES + 1))
    items = [x if isinstance(x, ingest.Skipped) else x[1] for x in ingest.ingest_folder(tmp_path)]
    out = {Path(x.source).name: x for x in items}
    assert isinstance(out["good.mid"], ingest.Piece) and out["good.mid"].notes == 4
    reasons = {name: x.reason for name, x in out.items() if isinstance(x, ingest.Skipped)}
    assert reasons["silent.mid"] == "no notes"
    assert "tempo" in reasons["absurd.mid"]
    assert "unreadable" in reasons["corrupt.mid"]
    assert "not a .mid" in reasons["notes.txt"]
    assert "limit" in reasons["huge.mid"]
