"""Attribute tokens read from the piece itself (self-supervised, as in
MuseCoco) that start every training sequence, before the semantic cluster
token: tempo bin, key (tonic and mode, estimated from the notes; in
training, from each window's own notes), time
signature, instrument family, note density, pitch range and length.

Every slot has an "unspecified" value; training drops slots at random (and
transposes whole windows, moving the key token with the notes), so a prompt
that names any subset of them conditions generation."""

from __future__ import annotations

import io
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from . import attributes as at

KEYS = tuple(f"{t} {m}" for m in ("major", "minor") for t in at.TONICS)
METRES = ("2/4", "3/4", "4/4", "6/8", "2/2", "3/8", "other")
# General MIDI families (program // 8), and drums
FAMILIES = (
    "piano",
    "chromatic percussion",
    "organ",
    "guitar",
    "bass",
    "strings",
    "ensemble",
    "brass",
    "reed",
    "pipe",
    "synth lead",
    "synth pad",
    "synth effects",
    "ethnic",
    "percussive",
    "sound effects",
    "drums",
)
DENSITY_EDGES = (2.0, 4.0, 8.0, 16.0)  # notes a second
RANGE_EDGES = (12, 24, 36)  # semitones from lowest to highest
LENGTH_EDGES = (15.0, 30.0, 60.0, 120.0)  # seconds
SLOTS: dict[str, int] = {
    "tempo": len(at.TEMPO_BINS),
    "key": len(KEYS),
    "time": len(METRES),
    "family": len(FAMILIES),
    "density": len(DENSITY_EDGES) + 1,
    "range": len(RANGE_EDGES) + 1,
    "length": len(LENGTH_EDGES) + 1,
}
DROP = 0.25  # the chance a slot is left unspecified in a training window
DROP_ALL = 0.05  # ... and that all are (the prompt names none)
SHIFTS = range(-5, 7)  # transpositions a training window may get


def _bin(edges: Sequence[float], x: float) -> int:
    return sum(x >= e for e in edges)


def key_index(tonic: str | int, mode: str) -> int:
    """The key slot's value of a tonic (a name, or a pitch class) and a mode."""
    pc = tonic if isinstance(tonic, int) else at.pitch_class(tonic)
    return (12 if mode == "minor" else 0) + pc


def metre_index(signature: str | None) -> int:
    return METRES.index(signature) if signature in METRES else METRES.index("other")


def of_midi(midi: bytes) -> dict[str, int]:
    """A real piece's value (an index) for every slot."""
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(io.BytesIO(midi))
    got = at.measured(midi)
    notes = [n for i in pm.instruments for n in i.notes]
    seconds = max(1e-3, float(pm.get_end_time()))
    main = max(pm.instruments, key=lambda i: len(i.notes))
    pitches = [n.pitch for i in pm.instruments if not i.is_drum for n in i.notes] or [60]
    out = {
        "tempo": at.tempo_bin(got["tempo_bpm"]),
        "time": metre_index(got["time_signature"]),
        "family": len(FAMILIES) - 1 if main.is_drum else int(main.program) // 8,
        "density": _bin(DENSITY_EDGES, len(notes) / seconds),
        "range": _bin(RANGE_EDGES, max(pitches) - min(pitches)),
        "length": _bin(LENGTH_EDGES, seconds),
    }
    if got["key"]:
        out["key"] = key_index(*got["key"])
    return out


def of_request(asked: at.Attributes, seconds: float | None = None) -> dict[str, int]:
    """The slots a prompt (and an asked length) set; the rest stay unspecified."""
    out: dict[str, int] = {}
    if asked.tempo_bpm is not None:
        out["tempo"] = at.tempo_bin(asked.tempo_bpm)
    if asked.key:
        out["key"] = key_index(*asked.key)
    if asked.time_signature:
        out["time"] = metre_index(asked.time_signature)
    if asked.programs:
        out["family"] = asked.programs[0] // 8
    if seconds:
        out["length"] = _bin(LENGTH_EDGES, seconds)
    return out


@dataclass(frozen=True)
class Layout:
    """Where the attribute tokens sit in the model's vocabulary: after the MIDI
    tokens and the cluster tokens, slot by slot, each slot's values then its
    "unspecified"."""

    start: int

    @property
    def size(self) -> int:
        return sum(n + 1 for n in SLOTS.values())

    def offset(self, slot: str) -> int:
        off = self.start
        for name, n in SLOTS.items():
            if name == slot:
                return off
            off += n + 1
        raise KeyError(slot)

    def ids(self, values: dict[str, int]) -> list[int]:
        """One token per slot, in SLOTS order; a missing slot is unspecified."""
        return [self.offset(s) + values.get(s, n) for s, n in SLOTS.items()]

    def values(self, ids: Sequence[int]) -> dict[str, int]:
        """The slots these prefix tokens specify."""
        out = {}
        for (slot, n), i in zip(SLOTS.items(), ids, strict=True):
            if i - self.offset(slot) < n:
                out[slot] = i - self.offset(slot)
        return out


class Augment:
    """Per training window: transpose the notes and the key token together by a
    random interval (when the notes stay in the tokenizer's range), then leave
    some slots unspecified."""

    def __init__(self, layout: Layout, pitch_ids: dict[int, int], seed: int = 0) -> None:
        self.layout = layout
        self.pitch_of = {i: p for p, i in pitch_ids.items()}
        self.id_of = pitch_ids
        self.rng = random.Random(seed)

    def __call__(self, prefix: list[int], body: list[int]) -> tuple[list[int], list[int]]:
        values = self.layout.values(prefix)
        pitches = [self.pitch_of[i] for i in body if i in self.pitch_of]
        shifts = [
            s
            for s in SHIFTS
            if not pitches or (min(pitches) + s in self.id_of and max(pitches) + s in self.id_of)
        ]
        shift = self.rng.choice(shifts) if shifts else 0
        if shift:
            body = [self.id_of[self.pitch_of[i] + shift] if i in self.pitch_of else i for i in body]
            if "key" in values:
                k = values["key"]
                values["key"] = (k // 12) * 12 + (k % 12 + shift) % 12
        if self.rng.random() < DROP_ALL:
            values = {}
        else:
            values = {s: v for s, v in values.items() if self.rng.random() >= DROP}
        return self.layout.ids(values), body


class WindowKey:
    """The key of a window's own notes, read from its tokens: each Pitch token's
    pitch class weighted by the beats of the Duration token after it. A long
    piece modulates; its window is labelled with the key it is in."""

    def __init__(self, pitch_ids: dict[int, int], beats: dict[int, float]) -> None:
        self.pitch_of = {i: p for p, i in pitch_ids.items()}
        self.beats = beats

    def __call__(self, body: Sequence[int]) -> int | None:
        hist = [0.0] * 12
        last: int | None = None
        for i in body:
            if i in self.pitch_of:
                last = self.pitch_of[i]
            elif last is not None and i in self.beats:
                hist[last % 12] += self.beats[i]
                last = None
        found = at.key_of_histogram(hist)
        return None if found is None else key_index(*found)


def relabel(
    windows: list[tuple[list[int], list[int]]], layout: Layout, key: WindowKey
) -> list[tuple[list[int], list[int]]]:
    """Windows whose key token is the key of their own notes (the piece's where they have too few)."""
    out = []
    for head, body in windows:
        values = layout.values(head[:-1])
        found = key(body)
        if found is not None:
            values["key"] = found
        out.append(([*layout.ids(values), head[-1]], body))
    return out


def pitch_ids(tok: Any) -> dict[int, int]:
    """MIDI pitch -> token id of the tokenizer's Pitch tokens."""
    return {int(name.split("_")[1]): int(i) for name, i in tok.vocab.items() if name.startswith("Pitch_")}


def duration_beats(tok: Any) -> dict[int, float]:
    """Token id -> beats of the tokenizer's Duration tokens (``Duration_1.2.8``: 1 + 2/8)."""
    out = {}
    for name, i in tok.vocab.items():
        if name.startswith("Duration_"):
            whole, part, res = (int(x) for x in name.split("_")[1].split("."))
            out[int(i)] = whole + part / res
    return out


def describe(values: dict[str, int]) -> dict[str, str]:
    """Slot values in words (for a summary or a test)."""
    words = {
        "tempo": at.TEMPO_BINS,
        "key": [k.replace("-", "b") for k in KEYS],
        "time": METRES,
        "family": FAMILIES,
    }
    return {s: str(words[s][v]) if s in words else f"bin {v}" for s, v in values.items()}
