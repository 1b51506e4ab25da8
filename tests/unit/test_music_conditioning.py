"""Attribute tokens: read from a piece, set by a prompt, moved with the notes
when a training window is transposed, dropped at random; a piece moved to the
asked key; training windows keep their head."""

from __future__ import annotations

import io
from pathlib import Path

import pretty_midi
import pytest

from switchboard.workers.music import attributes as at
from switchboard.workers.music import conditioning as cd
from switchboard.workers.music import ingest
from switchboard.workers.music.model import windows


def _scale(tonic: int, minor: bool = False, seconds: float = 8.0, program: int = 0) -> bytes:
    """A scale and its tonic triads, repeated: a piece with an unmistakable key."""
    steps = [0, 2, 3, 5, 7, 8, 10] if minor else [0, 2, 4, 5, 7, 9, 11]
    pm = pretty_midi.PrettyMIDI(initial_tempo=100)
    inst = pretty_midi.Instrument(program=program)
    t = 0.0
    while t < seconds:
        for s in [*steps, 12, 7, 4 if not minor else 3, 0]:
            inst.notes.append(pretty_midi.Note(80, 60 + tonic + s, t, t + 0.25))
            t += 0.25
    pm.instruments.append(inst)
    buf = io.BytesIO()
    pm.write(buf)
    return buf.getvalue()


def test_layout_round_trips_and_keeps_slots_apart() -> None:
    layout = cd.Layout(1000)
    unspecified = layout.ids({})
    assert len(unspecified) == len(cd.SLOTS) and layout.values(unspecified) == {}
    values = {"tempo": 2, "key": 14, "time": 1, "length": 0}
    ids = layout.ids(values)
    assert layout.values(ids) == values
    every = [layout.offset(s) + v for s, n in cd.SLOTS.items() for v in range(n + 1)]
    assert len(set(every)) == len(every) == layout.size
    assert min(every) == 1000 and max(every) == 1000 + layout.size - 1


def test_a_prompt_sets_its_slots_and_leaves_the_rest_unspecified() -> None:
    values = cd.of_request(at.parse("a waltz in D minor at 90 bpm for violin"), seconds=20)
    assert cd.describe(values) == {
        "tempo": "andante",
        "key": "D minor",
        "time": "3/4",
        "family": "strings",
        "length": "bin 1",
    }
    assert cd.of_request(at.parse("something nice")) == {}


def test_a_piece_gives_its_own_values() -> None:
    values = cd.of_midi(_scale(7, program=40))  # G major, violin, 4 notes a second, 8 s
    assert cd.describe(values)["key"] == "G major" and cd.describe(values)["family"] == "strings"
    assert values["density"] == 2 and values["length"] == 0 and values["range"] == 1
    assert cd.describe(cd.of_midi(_scale(9, minor=True)))["key"] == "A minor"


def test_augment_moves_the_key_token_with_the_notes_and_drops_slots() -> None:
    pitches = {p: 100 + p for p in range(21, 109)}
    layout = cd.Layout(1000)
    aug = cd.Augment(layout, pitches, seed=3)
    prefix = layout.ids({"key": cd.key_index("C", "major"), "tempo": 3})
    body = [5, 100 + 60, 7, 100 + 64, 100 + 67]
    shifts, dropped = set(), 0
    for _ in range(300):
        new_prefix, new_body = aug(prefix, body)
        shift = new_body[1] - body[1]
        assert [b - a for a, b in zip(body, new_body, strict=True)] == [0, shift, 0, shift, shift]
        got = layout.values(new_prefix)
        if "key" in got:
            assert got["key"] == shift % 12  # C major moved by shift
        dropped += len(got) < 2
        shifts.add(shift)
    assert shifts == set(cd.SHIFTS)
    assert 0.3 < dropped / 300 < 0.8
    # notes at the top of the range are never moved out of it
    top = [100 + 108]
    assert all(aug(prefix, top)[1][0] - 100 <= 108 for _ in range(50))


def test_a_piece_in_the_asked_mode_is_moved_to_the_asked_tonic() -> None:
    midi = _scale(0)  # C major
    asked = at.parse("in D major")
    got = at.measured(midi)
    assert got["key"] == ("C", "major") and at.key_shift(asked, got) == 2
    moved = at.transpose(midi, 2)
    assert at.measured(moved)["key"] == ("D", "major")
    assert at.adherence(asked, at.measured(moved))["CK"] is True
    assert at.key_shift(at.parse("in A minor"), got) == 0  # another mode: left as it is
    assert at.key_shift(at.parse("in F# major"), got) == 6
    assert at.key_shift(at.parse("in G major"), got) == -5


def test_training_windows_keep_the_whole_head() -> None:
    rows = [{"head": 3, "ids": [901, 902, 800, *range(1, 40)]}, {"ids": [800, *range(1, 10)]}]
    got = windows(rows, context=16)
    assert all(len(h) + len(b) <= 16 for h, b in got)
    assert {tuple(h) for h, _ in got} == {(901, 902, 800), (800,)}
    assert [x for h, b in got if len(h) == 3 for x in b] == list(range(1, 40))


def test_converted_corpus_files_are_read_back_from_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = ingest.corpus_paths("bach")[0]
    first = ingest.convert_work(path, "bach", 5, tmp_path)
    assert first and all(isinstance(x, tuple) for x in first)

    def boom(*a: object) -> None:
        raise AssertionError("converted again")

    monkeypatch.setattr(ingest, "_convert", boom)
    assert ingest.convert_work(path, "bach", 5, tmp_path) == first
    (entry,) = tmp_path.glob("*.json")
    entry.write_text("{not json")  # damaged: converted again, not trusted
    with pytest.raises(AssertionError, match="converted again"):
        ingest.convert_work(path, "bach", 5, tmp_path)


def test_the_pool_keeps_order_and_runs_in_other_processes() -> None:
    import os

    from switchboard.workers.music.pool import imap

    got = list(imap(_pid_and_square, range(12), workers=2))
    assert [x for x, _ in got] == [i * i for i in range(12)]
    assert os.getpid() not in {p for _, p in got}
    assert list(imap(_pid_and_square, [3], workers=1)) == [(9, os.getpid())]


def _pid_and_square(x: int) -> tuple[int, int]:
    import os

    return x * x, os.getpid()


@pytest.mark.parametrize("collection", ["essenFolksong", "oneills1850"])
def test_folk_tunes_in_abc_convert_to_midi(collection: str) -> None:
    # music21's ABC reader shares signature objects between measures; its MIDI writer refused a third of them
    got = ingest.convert_work(ingest.corpus_paths(collection)[0], collection, 40)
    assert len(got) == 40 and not [x for x in got if isinstance(x, ingest.Skipped)]


def test_several_collections_in_one_ingest_and_an_unknown_one_named() -> None:
    got = [x for x in ingest.pieces("bach, essenFolksong", None, 3) if not isinstance(x, ingest.Skipped)]
    assert [p.collection for _, p in got] == ["bach"] * 3 + ["essenFolksong"] * 3
    with pytest.raises(ValueError, match="'nosuch'"):
        list(ingest.pieces("bach,nosuch", None, 3))


def test_a_window_is_labelled_with_the_key_of_its_own_notes(tmp_path: Path) -> None:
    from switchboard.workers.music import features

    tok = features.tokenizer()
    key = cd.WindowKey(cd.pitch_ids(tok), cd.duration_beats(tok))
    assert cd.duration_beats(tok)[int(tok["Duration_1.2.8"])] == 1.25
    for tonic, minor, name in ((0, False, "C major"), (7, False, "G major"), (2, True, "D minor")):
        (tmp_path / "p.mid").write_bytes(_scale(tonic, minor))
        ids = features.tokenize(tok, tmp_path / "p.mid")
        assert cd.describe({"key": key(ids)})["key"] == name
    layout = cd.Layout(1000)
    piece = layout.ids({"key": cd.key_index("C", "major"), "tempo": 2})
    (tmp_path / "p.mid").write_bytes(_scale(2, True))
    body = features.tokenize(tok, tmp_path / "p.mid")
    ((head, same),) = cd.relabel([([*piece, 900], body)], layout, key)
    assert same == body and head[-1] == 900
    assert cd.describe(layout.values(head[:-1])) == {"key": "D minor", "tempo": "andante"}
