"""Attributes a prompt names: understood, refused in words, written into the
score, and measured back (TB, TBT, CK, CKD, TSM, IM)."""

from __future__ import annotations

import pytest

from switchboard.workers.music import attributes as at


@pytest.mark.parametrize(
    ("prompt", "tempo", "key", "metre", "programs"),
    [
        ("a slow chorale in G minor", 56.0, ("G", "minor"), None, ()),
        ("A lively waltz in D major for violin and cello", 140.0, ("D", "major"), "3/4", (40, 42)),
        ("jig in 6/8 at 126 bpm, F# minor, flute", 126.0, ("F#", "minor"), "6/8", (73,)),
        ("Bb major march, allegro", 132.0, ("B-", "major"), "2/4", ()),
        ("an andante in a minor for piano", 72.0, ("A", "minor"), None, (0,)),
        ("a minor change of plans, nothing else", None, None, None, ()),
        ("a chorale in a minor key", None, None, None, ()),
        ("a chorale in A minor key", None, ("A", "minor"), None, ()),
        ("Eb-flat? no: E flat major, 3/4", None, ("E-", "major"), "3/4", ()),
        ("tempo: 100, in the key of C sharp minor", 100.0, ("C#", "minor"), None, ()),
        ("D-flat major, ♩ = 66, moderately fast? no", 66.0, ("D-", "major"), None, ()),
        ("a moderately fast tune at a tempo of 128 in 6/8", 128.0, None, "6/8", ()),
    ],
)
def test_stated_values_are_understood(
    prompt: str,
    tempo: float | None,
    key: tuple[str, str] | None,
    metre: str | None,
    programs: tuple[int, ...],
) -> None:
    a = at.parse(prompt)
    assert (a.tempo_bpm, a.key, a.time_signature, a.programs) == (tempo, key, metre, programs), a
    assert not a.problems


@pytest.mark.parametrize(
    ("prompt", "problem"),
    [
        ("a march at 900 bpm in C major", "900 bpm is not a tempo"),
        ("a chorale in H major", "H is not a key"),
        ("something in 7/3", "7/3 is not a time signature"),
    ],
)
def test_impossible_values_are_named_and_the_rest_still_applies(prompt: str, problem: str) -> None:
    a = at.parse(prompt)
    assert any(problem in p for p in a.problems), a.problems
    assert "not understood" in a.summary()
    if "march" in prompt:
        assert a.time_signature == "2/4" and a.key == ("C", "major") and a.tempo_bpm is None


@pytest.mark.parametrize(
    ("prompt", "tempo", "key", "metre"),
    [
        ("une valse lente en ré mineur", 52.0, ("D", "minor"), "3/4"),
        ("ein schneller Walzer in d-Moll", 144.0, ("D", "minor"), "3/4"),
        ("una marcha en si bemol mayor", None, ("B-", "major"), "2/4"),
        ("un valzer in fa diesis minore, veloce", 144.0, ("F#", "minor"), "3/4"),
        ("la mélodie en sol majeur", None, ("G", "major"), None),
    ],
)
def test_other_languages_name_keys_dances_and_tempi(
    prompt: str, tempo: float | None, key: tuple[str, str], metre: str | None
) -> None:
    a = at.parse(prompt)
    assert (a.tempo_bpm, a.key, a.time_signature) == (tempo, key, metre), a
    assert not a.problems


@pytest.mark.parametrize("prompt", ["", "une chanson douce", "一首安静的歌", "gibberish xq zzv"])
def test_nothing_understood_says_so(prompt: str) -> None:
    a = at.parse(prompt)
    assert not a.understood and a.summary().startswith("no tempo, key, time signature or instrument")


def test_enforced_attributes_are_measured_back() -> None:
    import symusic

    score = symusic.Score(480)
    track = symusic.Track(program=0)
    # a G minor scale, twice: enough notes for a key estimate
    for i, pitch in enumerate([67, 69, 70, 72, 74, 75, 78, 79, 74, 70, 67, 62, 67, 70, 74, 79] * 2):
        track.notes.append(symusic.Note(i * 240, 240, pitch, 80))
    score.tracks.append(track)
    asked = at.parse("a slow piece for violin in G minor, 3/4")
    got = at.measured(bytes(at.enforce(score, asked).dumps_midi()))
    assert got["tempo_bpm"] == pytest.approx(56.0) and got["time_signature"] == "3/4"
    assert got["programs"] == [40] and got["key"] == ("G", "minor")
    assert at.adherence(asked, got) == {
        "TB": True,
        "TBT": True,
        "CK": True,
        "CKD": True,
        "TSM": True,
        "IM": True,
    }
    relative = at.adherence(at.parse("in B flat major at 100 bpm"), got)
    assert relative["CK"] is False and relative["CKD"] is True  # Bb major is G minor's relative
    assert relative["TB"] is False and relative["TBT"] is False  # 100 bpm (andante) vs 56 (largo)


def test_a_piece_cut_to_length_keeps_its_tempo_and_signatures() -> None:
    import io

    import pretty_midi
    import symusic

    from switchboard.workers.music.sample import _cut

    score = symusic.Score(480)
    track = symusic.Track(program=0)
    for i in range(40):
        track.notes.append(symusic.Note(i * 480, 480, 60 + i % 12, 80))
    score.tracks.append(track)
    score = at.enforce(score, at.parse("a slow chorale in G minor, 3/4, for violin"))
    pm = pretty_midi.PrettyMIDI(io.BytesIO(bytes(_cut(score, 8.0).dumps_midi())))
    assert pm.get_end_time() == pytest.approx(8.0, abs=0.01)
    # the model's own tempo changes and controls later in the piece go too
    score.tempos.append(symusic.Tempo(30 * 480, qpm=100.0))
    score.tracks[0].controls.append(symusic.ControlChange(30 * 480, 64, 127))
    later = pretty_midi.PrettyMIDI(io.BytesIO(bytes(_cut(score, 8.0).dumps_midi())))
    assert later.get_end_time() == pytest.approx(8.0, abs=0.01)
    assert pm.get_tempo_changes()[1][0] == pytest.approx(56.0, abs=0.01)
    assert pm.time_signature_changes[0].numerator == 3 and pm.instruments[0].program == 40


def test_the_fast_key_estimate_agrees_with_music21s_own_analysis() -> None:
    from music21 import converter

    from switchboard.workers.music import ingest

    pieces = [x for p in ingest.corpus_paths("bach")[:8] for x in ingest.convert_work(p, "bach", 1)]
    midis = [x[0] for x in pieces if isinstance(x, tuple)]
    agree = 0
    for midi in midis:
        k = converter.parseData(midi, format="midi").analyze("key")
        agree += at.key_of(midi) in {(k.tonic.name, k.mode), (k.tonic.getEnharmonic().name, k.mode)}
    assert len(midis) == 8 and agree >= 7, agree


@pytest.mark.parametrize(
    ("prompt", "tempo_bin", "programs"),
    [
        ("a tranquil nocturne", "adagio", ()),
        ("a frantic chase scene", "presto", ()),
        ("an energetic tune for string quartet", "allegro", (48,)),
        ("a fanfare for brass band", None, (61,)),
        ("a sad song about rain", None, ()),
    ],
)
def test_words_music21_does_not_know_are_matched_by_meaning(
    prompt: str, tempo_bin: str | None, programs: tuple[int, ...]
) -> None:
    a = at.parse(prompt)
    assert a.as_scalars().get("tempo_bin") == tempo_bin and a.programs == programs, a
    assert all("read as" in u for u in a.understood)
