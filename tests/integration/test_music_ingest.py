"""MIDI in: music21 corpus works converted offline, metadata read back with
pretty_midi, descriptions; bad files skipped with a reason."""

from __future__ import annotations

from pathlib import Path

import pretty_midi
import pytest

from workers.music import ingest


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
    out = {Path(x.source).name: x for x in ingest.ingest_folder(tmp_path)}
    assert isinstance(out["good.mid"], ingest.Piece) and out["good.mid"].notes == 4
    reasons = {name: x.reason for name, x in out.items() if isinstance(x, ingest.Skipped)}
    assert reasons["silent.mid"] == "no notes"
    assert "tempo" in reasons["absurd.mid"]
    assert "unreadable" in reasons["corrupt.mid"]
    assert "not a .mid" in reasons["notes.txt"]
    assert "limit" in reasons["huge.mid"]


@pytest.mark.slow
def test_cli_ingests_a_collection(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from switchboard.cli import app

    res = CliRunner().invoke(
        app, ["music", "ingest", "--collection", "bach", "--limit", "4", "--out", str(tmp_path)]
    )
    assert res.exit_code == 0, res.output
    assert len(list(tmp_path.glob("*.mid"))) == 4
    assert len((tmp_path / "pieces.jsonl").read_text().splitlines()) == 4


@pytest.mark.slow
def test_dataset_has_cluster_tokens_splits_and_a_version(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from switchboard.cli import app

    runner = CliRunner()
    assert (
        runner.invoke(
            app, ["music", "ingest", "--collection", "bach", "--limit", "12", "--out", str(tmp_path)]
        ).exit_code
        == 0
    )
    res = runner.invoke(app, ["music", "dataset", "--folder", str(tmp_path), "--clusters", "3"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert summary["pieces"] == 12 and summary["clusters"] == 3 and len(summary["version"]) == 12
    rows = [json.loads(x) for x in (tmp_path / "dataset.jsonl").read_text().splitlines()]
    base = summary["vocab"] - 3
    assert len(rows) == 12 and all(base <= r["ids"][0] < summary["vocab"] for r in rows)
    assert all(max(r["ids"][1:]) < base and len(r["ids"]) > 100 for r in rows)
    assert {r["split"] for r in rows} <= {"train", "valid", "test"}
    again = json.loads(
        runner.invoke(app, ["music", "dataset", "--folder", str(tmp_path), "--clusters", "3"])
        .stdout.strip()
        .splitlines()[-1]
    )
    assert again["version"] == summary["version"]  # same data, same tokenizer: same version
