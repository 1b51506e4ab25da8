"""The score corpus the ``music21`` wheel ships, as one table of metadata per
work (read from music21's own metadata bundle: nothing is parsed or fetched).

About 15,000 works: each ABC tune counts (Essen folk songs, O'Neill's and
Ryan's collections), plus Palestrina, Bach chorales, Monteverdi, Trecento...
"""

from __future__ import annotations

import functools
from typing import Any

from .chinook import Table

TABLE = Table(
    "score",
    "music21",
    (
        ("score_id", "INTEGER", ""),
        ("collection", "VARCHAR", ""),
        ("path", "VARCHAR", ""),
        ("number", "INTEGER", ""),
        ("title", "VARCHAR", ""),
        ("composer", "VARCHAR", ""),
        ("file_format", "VARCHAR", ""),
        ("key_sharps", "INTEGER", ""),
        ("time_signature", "VARCHAR", ""),
        ("tempo_bpm", "DOUBLE PRECISION", ""),
        ("parts", "INTEGER", ""),
        ("notes", "INTEGER", ""),
        ("quarter_length", "DOUBLE PRECISION", ""),
        ("lowest_pitch", "VARCHAR", ""),
        ("highest_pitch", "VARCHAR", ""),
        ("lowest_midi", "INTEGER", ""),
        ("highest_midi", "INTEGER", ""),
        ("range_semitones", "INTEGER", ""),
    ),
    "music21 score corpus, one row per work: collection is the corpus folder "
    "(bach, palestrina, essenFolksong, oneills1850, ryansMammoth...), composer may be null "
    "for folk tunes, key_sharps = sharps (+) or flats (-) of the first key signature, "
    "quarter_length = length in quarter notes, pitches as names like C4 and MIDI numbers",
)

# Folders whose works carry no composer in their metadata.
FOLDER_COMPOSERS = {
    "bach": "J.S. Bach",
    "palestrina": "Giovanni Pierluigi da Palestrina",
    "monteverdi": "Claudio Monteverdi",
    "josquin": "Josquin des Prez",
    "beethoven": "Ludwig van Beethoven",
    "mozart": "Wolfgang Amadeus Mozart",
    "haydn": "Joseph Haydn",
    "schumann_robert": "Robert Schumann",
    "schumann_clara": "Clara Schumann",
    "handel": "George Frideric Handel",
    "chopin": "Frédéric Chopin",
    "corelli": "Arcangelo Corelli",
    "cpebach": "C.P.E. Bach",
    "joplin": "Scott Joplin",
    "schoenberg": "Arnold Schoenberg",
    "ciconia": "Johannes Ciconia",
}


@functools.lru_cache(maxsize=512)
def _pitch(name: str | None) -> tuple[str | None, int | None]:
    if not name:
        return None, None
    from music21 import pitch

    try:
        p = pitch.Pitch(name)
    except Exception:  # an odd name in a bundle entry: keep the row, drop the pitch
        return name[:16], None
    return p.nameWithOctave, int(p.midi)


def _tempo(marks: list[Any]) -> float | None:
    for mark in marks or []:
        number = getattr(mark, "number", None)
        if number is None and isinstance(mark, str) and "=" in mark:
            digits = "".join(ch for ch in mark.split("=", 1)[1] if ch.isdigit() or ch == ".")
            number = float(digits) if digits else None
        if number:
            return float(number)
    return None


@functools.cache
def rows() -> list[tuple[Any, ...]]:
    from music21 import corpus

    bundle = corpus.corpora.CoreCorpus().metadataBundle
    bundle.read()
    out: list[tuple[Any, ...]] = []
    for entry in bundle[:]:  # one copy: iterating indexes it, copying the entries each time
        md = entry.metadata
        if md is None:
            continue
        path = str(entry.sourcePath)
        folder = path.split("/", 1)[0]
        low, low_midi = _pitch(str(md.pitchLowest) if md.pitchLowest else None)
        high, high_midi = _pitch(str(md.pitchHighest) if md.pitchHighest else None)
        keys = md.keySignatures or []
        times = md.timeSignatures or []
        out.append(
            (
                len(out) + 1,
                folder,
                path,
                int(entry.number) if entry.number is not None else None,
                md.bestTitle or None,
                md.composer or FOLDER_COMPOSERS.get(folder),
                md.fileFormat or path.rsplit(".", 1)[-1],
                int(keys[0]) if keys else None,
                str(times[0]) if times else None,
                _tempo(md.tempos),
                int(md.numberOfParts) if md.numberOfParts is not None else None,
                int(md.noteCount) if md.noteCount is not None else None,
                float(md.scoreQuarterLength) if md.scoreQuarterLength is not None else None,
                low,
                high,
                low_midi,
                high_midi,
                high_midi - low_midi if low_midi is not None and high_midi is not None else None,
            )
        )
    return out
