"""Musical attributes named in a prompt, and how well a piece meets them.

``parse`` reads the values a prompt states outright: a tempo (``90 bpm``, or a
word music21 knows: largo, andante, allegro, slow, fast...), a key (``in D
major``, ``G minor``, ``F# minor``, ``Bb major``), a time signature (``3/4``, or
a dance that has one: waltz, march, jig...) and instruments (music21's names:
piano, violin, cello, flute, choir...). What it cannot use is said in words
(``900 bpm is not a tempo a piece can have``, ``H is not a key``), and the rest
still applies. ``enforce`` writes the exact ones into a generated score (the
tempo event, the key and time signatures, the programs); the notes stay the
model's. ``adherence`` measures a piece against what was asked, as text2midi
and MuseCoco do: tempo bin (TB, and TBT: the bin or a neighbour), key (CK, and
CKD: up to the relative or parallel key), time signature (TSM) and
instruments (IM)."""

from __future__ import annotations

import bisect
import functools
import io
import re
from dataclasses import dataclass, field
from typing import Any

MIN_BPM, MAX_BPM = 20.0, 300.0
# tempo bins at the classical markings' borders: largo | adagio | andante |
# moderato | allegro | presto | prestissimo
TEMPO_EDGES = (60.0, 76.0, 108.0, 120.0, 168.0, 200.0)
TEMPO_BINS = ("largo", "adagio", "andante", "moderato", "allegro", "presto", "prestissimo")
DANCES = {
    "waltz": "3/4",
    "minuet": "3/4",
    "mazurka": "3/4",
    "polonaise": "3/4",
    "sarabande": "3/4",
    "march": "2/4",
    "polka": "2/4",
    "jig": "6/8",
    "gigue": "6/8",
    "tarantella": "6/8",
    "siciliana": "6/8",
    "reel": "4/4",
    "hornpipe": "4/4",
    "gavotte": "4/4",
    "common time": "4/4",
    "cut time": "2/2",
    # the same dances in French, German, Spanish, Italian
    "valse": "3/4",
    "walzer": "3/4",
    "vals": "3/4",
    "valzer": "3/4",
    "menuet": "3/4",
    "menuett": "3/4",
    "minuetto": "3/4",
    "marche": "2/4",
    "marsch": "2/4",
    "marcha": "2/4",
    "marcia": "2/4",
    "giga": "6/8",
}
# a key named in solfège (French, Spanish, Italian, Portuguese): "ré mineur", "la mayor", "si bemolle maggiore"
_SOLFEGE = re.compile(
    r"\b(do|ut|r[ée]|mi|fa|sol|la|si)[ -]?(#|♯|b|♭|di[èe]se|sostenido|diesis|sustenido|b[ée]mol|bemolle)?[ -]?"
    r"(majeur|mineur|mayor|menor|maggiore|minore|maior)\b",
    re.I,
)
_SYLLABLES = {
    "do": "C",
    "ut": "C",
    "re": "D",
    "ré": "D",
    "mi": "E",
    "fa": "F",
    "sol": "G",
    "la": "A",
    "si": "B",
}
_BPM = re.compile(
    r"(\d{1,5}(?:\.\d+)?)\s*(?:bpm|beats? (?:per|a|each) minute)\b"  # 90 bpm, 90 beats per minute
    r"|\btempo\s*(?:of|at|:|=|is)?\s*(\d{1,5}(?:\.\d+)?)\b(?!\s*/)"  # tempo 90, tempo: 90
    r"|(?:♩|\bq)\s*=\s*(\d{1,5}(?:\.\d+)?)",  # ♩ = 90
    re.I,
)
_KEY = re.compile(
    r"\b([A-Za-z])(#|♯|b|♭|-sharp|-flat| sharp| flat)?[ -]?(major|minor|maj|min|dur|moll)\b", re.I
)
_METRE = re.compile(r"\b(\d{1,2})\s*/\s*(\d{1,2})\b")
_WORD = re.compile(r"[a-zà-ÿ]+(?: [a-zà-ÿ]+)?", re.I)


@dataclass
class Attributes:
    """What a prompt asks for; None (or empty) where it says nothing."""

    tempo_bpm: float | None = None
    key: tuple[str, str] | None = None
    """(tonic as music21 spells it: 'G', 'F#', 'B-'; 'major' | 'minor')"""
    time_signature: str | None = None
    programs: tuple[int, ...] = ()
    instruments: tuple[str, ...] = ()
    understood: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """What was understood and what was not, in words."""
        said = (
            "understood: " + "; ".join(self.understood)
            if self.understood
            else (
                "no tempo, key, time signature or instrument understood: the piece follows the prompt's style only"
            )
        )
        return said + ("; not understood: " + "; ".join(self.problems) if self.problems else "")

    def as_scalars(self) -> dict[str, Any]:
        """The understood values, flat (for a job's result and the generated event)."""
        out: dict[str, Any] = {}
        if self.tempo_bpm is not None:
            out["tempo_bpm"] = self.tempo_bpm
            out["tempo_bin"] = TEMPO_BINS[tempo_bin(self.tempo_bpm)]
        if self.key:
            out["key"] = f"{self.key[0].replace('-', 'b')} {self.key[1]}"
        if self.time_signature:
            out["time_signature"] = self.time_signature
        if self.instruments:
            out["instruments"] = ", ".join(self.instruments)
        return out


def tempo_bin(bpm: float) -> int:
    """The bin (index into TEMPO_BINS) of a tempo."""
    return bisect.bisect_right(TEMPO_EDGES, bpm)


@functools.cache
def _tempo_words() -> dict[str, float]:
    from music21 import tempo

    words = {k.lower(): float(v) for k, v in tempo.defaultTempoValues.items()}
    words |= {"very slow": 40.0, "very fast": 176.0, "quick": 144.0, "lively": 140.0, "calm": 66.0}
    words |= {"moderately slow": 80.0, "moderately fast": 126.0, "upbeat": 126.0, "relaxed": 70.0}
    # slow and fast in French, German, Spanish, Italian (music21 knows the Italian markings)
    words |= {
        "lent": 52.0,
        "lente": 52.0,
        "langsam": 52.0,
        "langsamer": 52.0,
        "langsame": 52.0,
        "lenta": 52.0,
    }
    words |= {
        "vif": 144.0,
        "rapide": 144.0,
        "schnell": 144.0,
        "schneller": 144.0,
        "schnelle": 144.0,
        "rápido": 144.0,
        "rapido": 144.0,
        "veloce": 144.0,
    }
    return words


def parse(prompt: str) -> Attributes:
    """The attributes a prompt states, with what was understood and what was not."""
    a = Attributes()
    text = " ".join(prompt.split())
    _tempo(text, a)
    _key(text, a)
    _metre(text, a)
    _instruments(text, a)
    _described(text, a)
    return a


def _tempo(text: str, a: Attributes) -> None:
    m = _BPM.search(text)
    if m:
        bpm = float(next(g for g in m.groups() if g))
        if MIN_BPM <= bpm <= MAX_BPM:
            a.tempo_bpm = bpm
            a.understood.append(f"tempo {bpm:g} bpm")
        else:
            a.problems.append(
                f"{m.group(0)} is not a tempo a piece can have ({MIN_BPM:g} to {MAX_BPM:g} bpm)"
            )
        return
    lower = text.lower()
    words = _tempo_words()
    found = [w for w in sorted(words, key=len, reverse=True) if re.search(rf"\b{re.escape(w)}\b", lower)]
    if found:
        a.tempo_bpm = words[found[0]]
        a.understood.append(f"tempo {found[0]} ({a.tempo_bpm:g} bpm)")


def _key(text: str, a: Attributes) -> None:
    from music21 import key

    m = _SOLFEGE.search(text)
    if m:
        letter = _SYLLABLES[m.group(1).lower()]
        accidental = (m.group(2) or "").lower()
        sign = "#" if accidental in ("#", "♯", "dièse", "diese", "sostenido", "diesis", "sustenido") else ""
        sign = "-" if accidental in ("b", "♭", "bémol", "bemol", "bemolle") else sign
        minor = m.group(3).lower() in ("mineur", "menor", "minore")
        k = key.Key(letter + sign, "minor" if minor else "major")
        a.key = (k.tonic.name, k.mode)
        a.understood.append(f"key {k.tonic.name.replace('-', 'b')} {k.mode} ({m.group(0).strip()})")
        return
    for m in _KEY.finditer(text):
        letter, accidental, mode = m.group(1), (m.group(2) or "").strip(" -").lower(), m.group(3).lower()
        if letter == "a" and not accidental:
            before, after = text[: m.start()].rstrip().lower(), text[m.end() :].lstrip().lower()
            if not before.endswith(("in", "of")) or after.startswith(("key", "tonality", "mode")):
                continue  # "a minor change", "in a minor key": the article; "in a minor", "A minor": the key
        mode = "minor" if mode in ("minor", "min", "moll") else "major"
        sign = {"#": "#", "♯": "#", "sharp": "#", "b": "-", "♭": "-", "flat": "-"}.get(accidental, "")
        if letter.upper() not in "ABCDEFG":
            a.problems.append(f"{m.group(0).strip()}: {letter.upper()} is not a key (A to G)")
            continue
        k = key.Key(letter.upper() + sign, mode)
        a.key = (k.tonic.name, k.mode)
        a.understood.append(f"key {k.tonic.name.replace('-', 'b')} {k.mode}")
        return


def _metre(text: str, a: Attributes) -> None:
    m = _METRE.search(text)
    if m:
        num, den = int(m.group(1)), int(m.group(2))
        if 1 <= num <= 16 and den in (1, 2, 4, 8, 16):
            a.time_signature = f"{num}/{den}"
            a.understood.append(f"time {a.time_signature}")
        else:
            a.problems.append(f"{m.group(0)} is not a time signature")
        return
    lower = text.lower()
    for dance, metre in DANCES.items():
        if re.search(rf"\b{dance}e?s?\b", lower):
            a.time_signature = metre
            a.understood.append(f"time {metre} ({dance})")
            return


def _instruments(text: str, a: Attributes) -> None:
    from music21 import instrument

    names, programs = [], []
    for word in re.findall(r"[a-z]+", text.lower()):
        if len(word) < 4 or word in _NOT_INSTRUMENTS:
            continue
        try:
            found = instrument.fromString(word)
        except Exception:  # music21 raises InstrumentException for a word it does not know
            continue
        program = found.midiProgram
        if program is None or program in programs:
            continue
        names.append(str(found.instrumentName or word).lower())
        programs.append(int(program))
    if programs:
        a.programs, a.instruments = tuple(programs), tuple(names)
        a.understood.append("instruments " + ", ".join(names))


# what the words above miss, matched by meaning (MiniLM): a tempo by its mood, an
# ensemble by its name; one word or two of the prompt against these
DESCRIBED_TEMPI = {
    44.0: ("very slow", "solemn", "funereal", "dirge", "mournful"),
    66.0: ("slow", "tranquil", "peaceful", "gentle", "sleepy", "lullaby", "serene", "dreamy"),
    92.0: ("leisurely", "flowing", "strolling", "easygoing", "unhurried"),
    112.0: ("steady", "medium tempo", "moderate pace"),
    140.0: ("energetic", "cheerful", "bouncy", "brisk", "spirited", "upbeat"),
    184.0: ("frantic", "breakneck", "racing", "hurried", "furious"),
}
DESCRIBED_ENSEMBLES = {
    (48,): ("string quartet", "string orchestra", "string section"),
    (61,): ("brass band", "brass section", "fanfare"),
    (73, 71, 70): ("woodwind", "woodwinds", "wind quintet"),
    (52,): ("choir", "chorus", "singers", "voices", "vocal"),
    (81,): ("synthesizer", "synth", "electronic"),
    (0,): ("keyboard",),
}
SIMILAR = 0.72  # cosine of a prompt's words and a description's above which they mean it


def _described(text: str, a: Attributes) -> None:
    want_tempo = a.tempo_bpm is None and not any("bpm" in p for p in a.problems)
    if not (want_tempo or not a.programs) or not text.strip():
        return
    words = [w for w in re.findall(r"[a-z]+", text.lower()) if len(w) >= 4 and w not in _NOT_INSTRUMENTS]
    grams = sorted({*words, *(f"{x} {y}" for x, y in zip(words, words[1:], strict=False))})
    if not grams:
        return
    tempo = [(bpm, w) for bpm, ws in DESCRIBED_TEMPI.items() for w in ws] if want_tempo else []
    ensembles = [(p, w) for p, ws in DESCRIBED_ENSEMBLES.items() for w in ws] if not a.programs else []
    best = _closest(grams, [w for _, w in tempo] + [w for _, w in ensembles])
    if tempo:
        hits = [
            (score, gram, tempo[i][0])
            for i, (score, gram) in enumerate(best[: len(tempo)])
            if score >= SIMILAR
        ]
        if hits:
            _, gram, bpm = max(hits)
            a.tempo_bpm = bpm
            a.understood.append(f"tempo {gram!r} read as {TEMPO_BINS[tempo_bin(bpm)]} ({bpm:g} bpm)")
    if ensembles:
        rest = best[len(tempo) :]
        found = [(score, gram, ensembles[i][0]) for i, (score, gram) in enumerate(rest) if score >= SIMILAR]
        if found:
            _, gram, programs = max(found)
            a.programs = programs
            a.instruments = tuple(pretty_name(p) for p in programs)
            a.understood.append(f"instruments {gram!r} read as " + ", ".join(a.instruments))


def pretty_name(program: int) -> str:
    import pretty_midi

    return str(pretty_midi.program_to_instrument_name(program)).lower()


def _closest(grams: list[str], labels: list[str]) -> list[tuple[float, str]]:
    """For each label: the best cosine with any of the grams, and that gram."""
    sims = _unit(tuple(labels)) @ _unit(tuple(grams)).T
    return [(float(row.max()), grams[int(row.argmax())]) for row in sims]


@functools.lru_cache(maxsize=64)  # the descriptions' vectors are made once
def _unit(texts: tuple[str, ...]) -> Any:
    import numpy as np

    from switchboard.workers.engines.embed import load_embedder

    vectors = np.asarray(load_embedder().embed(list(texts)), dtype=np.float32)
    return vectors / (np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-9)


# words music21 takes for instruments that in a prompt are not (a "bass line" is)
_NOT_INSTRUMENTS = frozenset({"piece", "song", "tune", "music", "minor", "major", "slow", "fast", "with"})


def enforce(score: Any, a: Attributes) -> Any:
    """Write the exact attributes into a symusic score (ticks stay; the tempo event
    sets how fast they play): tempo, key and time signature at the start, the
    tracks' programs in turn."""
    import symusic

    if a.tempo_bpm is not None:
        score.tempos = [symusic.Tempo(0, qpm=float(a.tempo_bpm))]
    if a.time_signature:
        num, den = map(int, a.time_signature.split("/"))
        score.time_signatures = [symusic.TimeSignature(0, num, den)]
    if a.key:
        from music21 import key

        k = key.Key(*a.key)
        score.key_signatures = [symusic.KeySignature(0, int(k.sharps), 1 if k.mode == "minor" else 0)]
    if a.programs:
        for i, track in enumerate(t for t in score.tracks if not t.is_drum):
            track.program = a.programs[i % len(a.programs)]
    return score


def key_shift(asked: Attributes, got: dict[str, Any]) -> int:
    """Semitones (-5 to 6) that move a piece's key onto the asked one when the
    mode is right and the tonic is not; 0 otherwise."""
    if not asked.key or not got.get("key") or got["key"][1] != asked.key[1]:
        return 0
    d = (pitch_class(asked.key[0]) - pitch_class(got["key"][0])) % 12
    return d - 12 if d > 6 else d


def transpose(midi: bytes, semitones: int) -> bytes:
    """The piece moved by ``semitones`` (drums stay; an octave the other way when
    a note would leave the MIDI range); its key signature is already the asked one."""
    import symusic

    score: Any = symusic.Score.from_midi(midi)
    pitches = [n.pitch for t in score.tracks if not t.is_drum for n in t.notes] or [60]
    if not 0 <= max(pitches) + semitones <= 127 or not 0 <= min(pitches) + semitones <= 127:
        semitones += -12 if semitones > 0 else 12
    for track in score.tracks:
        if not track.is_drum:
            track.shift_pitch(semitones, inplace=True)
    return bytes(score.dumps_midi())


def key_of(midi: bytes) -> tuple[str, str] | None:
    """The key music21's default analysis (Krumhansl-Schmuckler with the
    Aarden-Essen weights) finds: the major or minor key whose profile correlates
    best with the notes' pitch classes weighted by their length in quarter notes;
    read from the MIDI ticks (symusic), not through a music21 stream, which is
    forty times slower. None without pitched notes."""
    import numpy as np
    import symusic

    score: Any = symusic.Score.from_midi(midi)
    hist = np.zeros(12)
    for track in score.tracks:
        if not track.is_drum:
            notes = track.notes.numpy()
            np.add.at(hist, notes["pitch"] % 12, notes["duration"] / score.ticks_per_quarter)
    found = key_of_histogram(hist)
    if found is None:
        return None
    from music21 import key

    k = key.Key(TONICS[found[0]], found[1])
    return k.tonic.name, k.mode


def key_of_histogram(hist: Any) -> tuple[int, str] | None:
    """(tonic pitch class, mode) whose Aarden-Essen profile correlates best with a
    12-bin pitch-class histogram; None when the histogram is flat."""
    import numpy as np
    from music21 import analysis

    hist = np.asarray(hist, dtype=float)
    if hist.std() == 0:  # no pitched notes, or all twelve alike
        return None
    best: tuple[float, int, str] | None = None
    weights = analysis.discrete.AardenEssen()
    for mode in ("major", "minor"):
        profile = np.asarray(weights.getWeights(mode), dtype=float)
        for tonic in range(12):
            r = float(np.corrcoef(np.roll(profile, tonic), hist)[0, 1])
            if best is None or r > best[0]:
                best = (r, tonic, mode)
    assert best is not None
    return best[1], best[2]


TONICS = ("C", "C#", "D", "E-", "E", "F", "F#", "G", "A-", "A", "B-", "B")


def measured(midi: bytes) -> dict[str, Any]:
    """What a piece has: its tempo (first tempo event), its key (estimated from the
    notes: ``key_of``), its first time signature, its programs."""
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(io.BytesIO(midi))
    _, tempi = pm.get_tempo_changes()
    out: dict[str, Any] = {
        "tempo_bpm": float(tempi[0]) if len(tempi) else 120.0,
        "time_signature": (
            f"{pm.time_signature_changes[0].numerator}/{pm.time_signature_changes[0].denominator}"
            if pm.time_signature_changes
            else "4/4"
        ),
        "programs": sorted({int(i.program) for i in pm.instruments if not i.is_drum and i.notes}),
        "key": None,
    }
    if sum(len(i.notes) for i in pm.instruments if not i.is_drum) >= 4:
        out["key"] = key_of(midi)
    return out


def adherence(asked: Attributes, got: dict[str, Any]) -> dict[str, bool]:
    """TB, TBT, CK, CKD, TSM (time signature) and IM (instruments) for each
    attribute that was asked."""
    out: dict[str, bool] = {}
    if asked.tempo_bpm is not None:
        want, have = tempo_bin(asked.tempo_bpm), tempo_bin(got["tempo_bpm"])
        out["TB"] = want == have
        out["TBT"] = abs(want - have) <= 1
    if asked.key:
        have_key = got.get("key")
        out["CK"] = have_key is not None and _same_key(asked.key, have_key)
        out["CKD"] = have_key is not None and (out["CK"] or _related(asked.key, have_key))
    if asked.time_signature:
        out["TSM"] = got["time_signature"] == asked.time_signature
    if asked.programs:
        out["IM"] = set(asked.programs) <= set(got["programs"])
    return out


def pitch_class(tonic: str) -> int:
    from music21 import pitch

    return int(pitch.Pitch(tonic).pitchClass)


def _same_key(a: tuple[str, str], b: tuple[str, str]) -> bool:
    return pitch_class(a[0]) == pitch_class(b[0]) and a[1] == b[1]


def _related(a: tuple[str, str], b: tuple[str, str]) -> bool:
    """The relative (same signature) or the parallel (same tonic) key."""
    from music21 import key

    k = key.Key(*a)
    relative, parallel = k.relative, k.parallel
    return any(_same_key((r.tonic.name, r.mode), b) for r in (relative, parallel))


MEASURES = ("TB", "TBT", "CK", "CKD", "TSM", "IM")


def rates(results: list[dict[str, bool]]) -> dict[str, Any]:
    """The share of pieces that meet each measure, over the pieces that asked for it
    (and how many did)."""
    out: dict[str, Any] = {}
    for m in MEASURES:
        asked = [r[m] for r in results if m in r]
        if asked:
            out[m] = round(sum(asked) / len(asked), 3)
            out[f"{m}_n"] = len(asked)
    return out
