"""MIDI in: the music21 corpus converted to MIDI offline, or a folder of .mid
files; per piece the metadata pretty_midi reads (duration, tempo, time
signature, key, instruments, notes, pitch range) and a text description built
from it and from what the corpus knows (composer, title, collection).

Bad input (not MIDI, no notes, absurd tempo, too large, too long) is skipped
with a recorded reason, never raised past ``ingest_*``."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

MAX_BYTES = 512_000  # schemas.music.MAX_MIDI_BYTES: one piece fits one event
MAX_SECONDS = 30 * 60
TEMPO_RANGE = (10.0, 400.0)
CONVERTER = 2  # bump when _convert changes: the cached conversions are made again
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
    collection: str | None = None,
    folder: Path | None = None,
    limit: int = 200,
    cache: Path | None = None,
    workers: int | None = None,
) -> Iterator[tuple[bytes, Piece] | Skipped]:
    """Pieces of music21 collections (comma-separated: ``limit`` of each) or of a
    folder, with the files skipped and why; corpus works are converted by ``workers`` processes (one per core by
    default), and those converted once are read back from ``cache``."""
    if (collection is None) == (folder is None):
        raise ValueError("give one of collection or folder")
    if folder is not None:
        if not folder.is_dir():
            raise ValueError(f"{folder} is not a folder the worker can read")
        yield from ingest_folder(folder, limit)
        return
    assert collection is not None
    names = [n.strip() for n in collection.split(",") if n.strip()]
    unknown = [n for n in names if not corpus_paths(n)]
    if unknown or not names:
        raise ValueError(
            f"no music21 corpus collection {', '.join(map(repr, unknown or [collection]))} "
            "(try bach, palestrina, essenFolksong, oneills1850, ryansMammoth, monteverdi)"
        )
    for name in names:
        for item in corpus_midi(name, limit, cache, workers):
            if isinstance(item, Skipped):
                yield item
                continue
            data, known = item
            try:
                yield data, read_midi(data, f"music21:{name}/{known['title']}", **known)
            except BadMidi as exc:
                yield Skipped(str(known["title"]), str(exc))


def corpus_paths(collection: str) -> list[str]:
    from music21 import corpus

    return [str(p) for p in corpus.getComposer(collection) or corpus.getPaths(name=collection)]


def corpus_midi(
    collection: str, limit: int, cache: Path | None = None, workers: int | None = None
) -> Iterator[tuple[bytes, dict[str, Any]] | Skipped]:
    """Works of one music21 corpus collection (a folder: bach, palestrina,
    essenFolksong...) as MIDI, with what the corpus knows about each; files are
    converted on every core, and each file's result is cached."""
    from functools import partial

    from .pool import imap

    done = 0
    convert = partial(convert_work, collection=collection, most=limit, cache=cache)
    for items in imap(convert, corpus_paths(collection), workers):
        for item in items:
            if done >= limit:
                return
            if isinstance(item, Skipped):
                yield item
                continue
            data, known = item
            done += 1
            yield data, known


Converted = list[tuple[bytes, dict[str, Any]] | Skipped]


def convert_work(path: str, collection: str, most: int, cache: Path | None = None) -> Converted:
    """The first ``most`` scores of one corpus file as MIDI (an ABC file holds
    many tunes); from the cache when this music21 converted as many before."""
    import base64
    import json

    import music21

    stat = Path(path).stat()
    key = hashlib.sha256(
        f"{path}|{stat.st_mtime_ns}|{stat.st_size}|{music21.__version__}|{collection}".encode()
    )
    cached = cache / f"{key.hexdigest()[:24]}.json" if cache else None
    if cached and cached.exists():
        try:
            entry = json.loads(cached.read_text())
            if entry["complete"] or len(entry["rows"]) >= most:
                return [
                    (base64.b64decode(r["midi"]), r["known"])
                    if "midi" in r
                    else Skipped(r["source"], r["reason"])
                    for r in entry["rows"][:most]
                ]
        except (ValueError, KeyError, TypeError):
            pass  # a damaged cache entry: convert again
    out, complete = _convert(path, collection, most)
    if cached:
        rows = [
            {"source": x.source, "reason": x.reason}
            if isinstance(x, Skipped)
            else {"midi": base64.b64encode(x[0]).decode(), "known": x[1]}
            for x in out
        ]
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"complete": complete, "rows": rows}))
        tmp.replace(cached)
    return out


def _convert(path: str, collection: str, most: int) -> tuple[Converted, bool]:
    """(up to ``most`` scores of the file as MIDI, whether that is all of them)"""
    from music21 import corpus, midi

    from switchboard.workers.analyst.scores import FOLDER_COMPOSERS

    try:
        parsed = corpus.parse(path)
        scores = list(getattr(parsed, "scores", None) or [parsed])  # ABC files hold many tunes
    except Exception as exc:  # music21 raises many types on odd files
        return [Skipped(path, f"music21 could not parse it: {type(exc).__name__}: {str(exc)[:200]}")], True
    out: Converted = []
    for score in scores[:most]:
        md = score.metadata
        known = {
            "title": (md.title if md else None) or Path(path).stem,
            "composer": (md.composer if md else None) or FOLDER_COMPOSERS.get(collection),
            "collection": collection,
        }
        try:
            out.append((midi.translate.streamToMidiFile(_unshared(score)).writestr(), known))
        except Exception as exc:
            out.append(
                Skipped(
                    f"{path}#{known['title']}",
                    f"no MIDI from music21: {type(exc).__name__}: {str(exc)[:200]}",
                )
            )
    return out, len(scores) <= most


def _unshared(score: Any) -> Any:
    """The score with no time/key signature, tempo or clef object in two measures
    at once (music21's ABC reader shares them; its MIDI writer then refuses)."""
    import copy

    seen: set[int] = set()
    for part in score.parts:
        for measure in part.getElementsByClass("Measure"):
            for el in list(
                measure.getElementsByClass(("TimeSignature", "KeySignature", "MetronomeMark", "Clef"))
            ):
                if id(el) in seen:
                    measure.replace(el, copy.deepcopy(el))
                seen.add(id(el))
    return score
