"""MIDI in: the music21 corpus converted to MIDI offline, or a folder of .mid
files; per piece the metadata pretty_midi reads (duration, tempo, time
signature, key, instruments, notes, pitch range) and a text description built
from it and from what the corpus knows (composer, title, collection).

Bad input (not MIDI, no notes, absurd tempo, too large, too long) is skipped
with a recorded reason, never raised past ``ingest_*``."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

MAX_BYTES = 512_000  # schemas.music.MAX_MIDI_BYTES: one piece fits one event
MAX_SECONDS = 30 * 60
TEMPO_RANGE = (10.0, 400.0)
KEYS = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]


class BadMidi(ValueError):
    """Why a file is not a usable piece."""


@dataclass
class Piece:
    piece_id: str
    source: str
    title: str | None
    composer: str | None
    collection: str | None
    duration_s: float
    tempo_bpm: float
    time_signature: str | None
    key: str | None
    instruments: list[str]
    notes: int
    lowest_pitch: int
    highest_pitch: int
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Skipped:
    source: str
    reason: str


def read_midi(data: bytes, source: str, **known: Any) -> Piece:
    """Metadata of a MIDI file; BadMidi with the reason when it is not usable."""
    import pretty_midi

    if len(data) > MAX_BYTES:
        raise BadMidi(f"{len(data)} bytes; the limit is {MAX_BYTES}")
    if data[:4] != b"MThd":
        raise BadMidi("not a MIDI file (no MThd header)")
    try:
        pm = pretty_midi.PrettyMIDI(io.BytesIO(data))
    except Exception as exc:  # pretty_midi/mido raise many types on corrupt files
        raise BadMidi(f"unreadable MIDI: {type(exc).__name__}: {str(exc)[:200]}") from None
    notes = [n for inst in pm.instruments if not inst.is_drum for n in inst.notes]
    if not notes:
        raise BadMidi("no notes")
    duration = float(pm.get_end_time())
    if duration > MAX_SECONDS:
        raise BadMidi(f"{duration:.0f} s long; the limit is {MAX_SECONDS} s")
    _, tempi = pm.get_tempo_changes()
    tempo = float(tempi[0]) if len(tempi) else 120.0
    if not TEMPO_RANGE[0] <= tempo <= TEMPO_RANGE[1]:
        raise BadMidi(f"tempo {tempo:.0f} bpm is outside {TEMPO_RANGE[0]:.0f}-{TEMPO_RANGE[1]:.0f}")
    ts = pm.time_signature_changes[0] if pm.time_signature_changes else None
    ks = pm.key_signature_changes[0] if pm.key_signature_changes else None
    key = None
    if ks is not None:
        key = f"{KEYS[ks.key_number % 12]} {'minor' if ks.key_number >= 12 else 'major'}"
    instruments = sorted(
        {pretty_midi.program_to_instrument_name(int(i.program)) for i in pm.instruments if i.notes}
    )
    pitches = [n.pitch for n in notes]
    piece = Piece(
        piece_id=hashlib.sha256(data).hexdigest()[:16],
        source=source,
        title=known.get("title"),
        composer=known.get("composer"),
        collection=known.get("collection"),
        duration_s=round(duration, 2),
        tempo_bpm=round(tempo, 1),
        time_signature=f"{ts.numerator}/{ts.denominator}" if ts else None,
        key=key,
        instruments=instruments,
        notes=len(notes),
        lowest_pitch=min(pitches),
        highest_pitch=max(pitches),
    )
    piece.description = describe(piece)
    return piece


def describe(p: Piece) -> str:
    """A plain sentence about the piece, from its metadata."""
    import pretty_midi

    who = f" by {p.composer}" if p.composer else ""
    title = f'"{p.title}"' if p.title else "A piece"
    speed = "slow" if p.tempo_bpm < 76 else "moderate" if p.tempo_bpm < 120 else "fast"
    voices = ", ".join(p.instruments[:4]) or "unknown instruments"
    parts = [
        f"{title}{who}",
        f"from the {p.collection} collection" if p.collection else "",
        f"in {p.key}" if p.key else "",
        f"in {p.time_signature} time" if p.time_signature else "",
        f"{speed} tempo ({p.tempo_bpm:.0f} bpm)",
        f"{p.duration_s:.0f} seconds",
        f"{p.notes} notes for {voices}",
        f"range {pretty_midi.note_number_to_name(p.lowest_pitch)} to {pretty_midi.note_number_to_name(p.highest_pitch)}",
    ]
    return ", ".join(x for x in parts if x) + "."


def ingest_folder(folder: Path, limit: int | None = None) -> Iterator[tuple[bytes, Piece] | Skipped]:
    done = 0
    for path in sorted(folder.rglob("*")):
        if limit is not None and done >= limit:
            return
        if not path.is_file():
            continue
        if path.suffix.lower() not in (".mid", ".midi"):
            yield Skipped(str(path), "not a .mid file")
            continue
        try:
            data = path.read_bytes()
            yield data, read_midi(data, str(path), title=path.stem)
            done += 1
        except (BadMidi, OSError) as exc:
            yield Skipped(str(path), str(exc))


def pieces(
    collection: str | None = None, folder: Path | None = None, limit: int = 200
) -> Iterator[tuple[bytes, Piece] | Skipped]:
    """Pieces of a music21 collection or of a folder, with the files skipped and why."""
    if (collection is None) == (folder is None):
        raise ValueError("give one of collection or folder")
    if folder is not None:
        if not folder.is_dir():
            raise ValueError(f"{folder} is not a folder the worker can read")
        yield from ingest_folder(folder, limit)
        return
    assert collection is not None
    found = False
    for item in corpus_midi(collection, limit):
        found = True
        if isinstance(item, Skipped):
            yield item
            continue
        data, known = item
        try:
            yield data, read_midi(data, f"music21:{collection}/{known['title']}", **known)
        except BadMidi as exc:
            yield Skipped(str(known["title"]), str(exc))
    if not found:
        raise ValueError(f"no music21 corpus collection {collection!r} (try bach, palestrina, essenFolksong)")


def corpus_midi(collection: str, limit: int) -> Iterator[tuple[bytes, dict[str, Any]] | Skipped]:
    """Works of one music21 corpus collection (a folder: bach, palestrina,
    essenFolksong...) as MIDI, with what the corpus knows about each."""
    from music21 import corpus, midi

    from switchboard.workers.analyst.scores import FOLDER_COMPOSERS

    done = 0
    for path in corpus.getComposer(collection) or corpus.getPaths(name=collection):
        if done >= limit:
            return
        try:
            parsed = corpus.parse(path)
            scores = list(getattr(parsed, "scores", None) or [parsed])  # ABC files hold many tunes
        except Exception as exc:  # music21 raises many types on odd files
            yield Skipped(str(path), f"music21 could not parse it: {type(exc).__name__}: {str(exc)[:200]}")
            continue
        for score in scores:
            if done >= limit:
                return
            md = score.metadata
            known = {
                "title": (md.title if md else None) or Path(path).stem,
                "composer": (md.composer if md else None) or FOLDER_COMPOSERS.get(collection),
                "collection": collection,
            }
            try:
                data = midi.translate.streamToMidiFile(score).writestr()
            except Exception as exc:
                yield Skipped(
                    f"{path}#{known['title']}",
                    f"no MIDI from music21: {type(exc).__name__}: {str(exc)[:200]}",
                )
                continue
            done += 1
            yield data, known
