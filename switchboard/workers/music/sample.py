"""Text prompt -> attribute tokens and the nearest semantic cluster -> sampled
tokens -> MIDI.

The tempo, key, time signature, instruments and length the prompt states
become the attribute tokens the model was trained to follow
(conditioning.py); the unstated ones stay unspecified. Those that can be are
then written into the piece exactly (``attributes.enforce``); notes whose key
(estimated from them) has the asked mode but another tonic are transposed to
the asked one. With several candidates, the one whose notes meet the asked
attributes best is kept.

Sampling goes on past the model's context in windows (the head, then the last
half context of what was made) until EOS, the token budget, or the
asked length in seconds (then the piece is cut at exactly that length; one
shorter than 90 % of it is sampled again, then a clear error). The MIDI is
read back with pretty_midi: what leaves
here is a valid, playable file with notes, or an error."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import attributes as at
from . import conditioning
from .features import nearest_cluster
from .model import load
from .store import Store

TRIES = 3
TOKENS_PER_SECOND = 160  # a budget, with a length asked for: dense music takes ~20-40 a second
MAX_TOKENS = 8_192


@dataclass
class Piece:
    model_version: str
    cluster: int
    tokens: list[int]
    midi: bytes
    duration_s: float
    notes: int
    asked: at.Attributes
    met: dict[str, bool]
    model_met: dict[str, bool]
    """how the model's own notes met the asked attributes, before the key was moved"""
    transposed: int = 0
    """semitones the notes were moved to reach the asked key"""


class NoMusic(RuntimeError):
    """The model sampled nothing that decodes to notes."""


def generate(
    store: Store,
    prompt: str,
    *,
    model_version: str | None = None,
    max_tokens: int = 1_024,
    seconds: float | None = None,
    temperature: float = 1.0,
    top_p: float = 0.95,
    seed: int | None = None,
    candidates: int = 1,
    conditioned: bool = True,
    progress: Callable[[float], None] | None = None,
    stop: Callable[[], bool] = lambda: False,
) -> Piece:
    import torch

    m = load(store, model_version)
    version, model, tok, base = m.version, m.model, m.tokenizer, m.base
    label = nearest_cluster(prompt, m.centroids) if prompt.strip() else 0
    asked = at.parse(prompt)
    head = [base + label]
    if m.layout is not None:  # unconditioned: every slot unspecified (an evaluation's baseline)
        slots = conditioning.of_request(asked, seconds) if conditioned else {}
        head = [*m.layout.ids(slots), *head]
    if seed is not None:
        torch.manual_seed(seed)
    found: list[Piece] = []
    tries, short = 0, 0.0
    while len(found) < candidates and tries < TRIES * candidates and not stop():
        tries += 1
        done = len(found) / candidates

        def part(x: float, done: float = done) -> None:
            if progress:
                progress(done + x / candidates)

        budget = max(max_tokens, min(MAX_TOKENS, int((seconds or 0) * TOKENS_PER_SECOND)))
        ids = _sample(model, head, base, budget, seconds, (temperature, top_p), tok, asked, part, stop)
        midi, duration, notes = decode(tok, ids, asked, until=seconds)
        if seconds and duration < 0.9 * seconds and not stop():
            short = max(short, duration)
            continue  # a piece shorter than asked: sample again
        if notes:
            found.append(
                _judged(Piece(version, label, ids, midi, duration, notes, asked, {}, {}), candidates)
            )
    if not found and short and not stop():
        raise NoMusic(
            f"the model made at most {short:.1f} s of the {seconds:g} s asked in {tries} samples "
            f"from {version}: train it longer, or ask for less"
        )
    if not found:
        raise NoMusic(f"no notes in {tries} samples from {version}; train the model longer")
    return max(found, key=_fit(seconds))


def _judged(p: Piece, candidates: int) -> Piece:
    """The piece measured against what was asked, moved to the asked key when
    only its tonic is wrong."""
    if not (candidates > 1 or p.asked.understood):
        return p
    got = at.measured(p.midi)
    p.met = p.model_met = at.adherence(p.asked, got)
    shift = at.key_shift(p.asked, got)
    if shift:
        p.midi, p.transposed = at.transpose(p.midi, shift), shift
        p.met = at.adherence(p.asked, at.measured(p.midi))
    return p


def _fit(seconds: float | None) -> Callable[[Piece], tuple[float, float]]:
    """How well a candidate meets what was asked: attributes met, then length."""

    def score(p: Piece) -> tuple[float, float]:
        met = sum(p.met.values()) / len(p.met) if p.met else 0.0
        length = -abs(p.duration_s - seconds) if seconds else 0.0
        return met, length

    return score


def _sample(
    model: Any,
    head: list[int],
    base: int,
    max_tokens: int,
    seconds: float | None,
    sampling: tuple[float, float],
    tok: Any,
    asked: at.Attributes,
    progress: Callable[[float], None] | None,
    stop: Callable[[], bool],
) -> list[int]:
    import torch

    context = int(model.config.n_positions)
    eos = int(model.config.eos_token_id)
    # only MIDI tokens come out (no cluster or attribute tokens); with a length asked for, no early end either
    banned = list(range(base, int(model.config.vocab_size))) + ([eos] if seconds else [])
    chunk = max(16, context // 2)
    out: list[int] = []
    with torch.inference_mode():
        while len(out) < max_tokens and not stop():
            window = [*head, *out[-(context - chunk - len(head)) :]] if out else head
            new = model.generate(
                torch.tensor([window]),
                attention_mask=torch.ones(1, len(window), dtype=torch.long),
                do_sample=True,
                temperature=sampling[0],
                top_p=sampling[1],
                top_k=0,
                max_new_tokens=min(chunk, max_tokens - len(out)),
                suppress_tokens=banned,
                eos_token_id=eos,
                pad_token_id=eos,
            )[0, len(window) :].tolist()
            ended = eos in new
            out += new[: new.index(eos)] if ended else new
            made = len(out) / max_tokens
            if seconds:  # at the asked tempo: that is how long it will play
                long = decode(tok, out, asked)[1]
                made = max(made, long / seconds)
            if progress:
                progress(min(1.0, made))
            if ended or not new or made >= 1.0:
                break
    return out


def decode(
    tok: Any, ids: list[int], asked: at.Attributes | None = None, until: float | None = None
) -> tuple[bytes, float, int]:
    """(MIDI bytes, seconds, notes) of sampled tokens, with the asked attributes
    written in and, with ``until``, cut at that many seconds; notes 0 when nothing decodes."""
    import pretty_midi

    if not ids:
        return b"", 0.0, 0
    try:
        score = tok.decode(ids)  # one stream for all programs: one dimension
        if asked is not None:
            score = at.enforce(score, asked)
        if until and score.to("second").end() > until:
            score = _cut(score, until)
        data = bytes(score.dumps_midi())
        pm = pretty_midi.PrettyMIDI(io.BytesIO(data))
    except Exception:  # a sample that miditok or pretty_midi cannot make sense of
        return b"", 0.0, 0
    notes = sum(len(i.notes) for i in pm.instruments)
    return data, float(pm.get_end_time()), notes


def _cut(score: Any, seconds: float) -> Any:
    """The score up to ``seconds``: notes that start later dropped, the last ones
    shortened to end there; tempo, key and time signatures kept (symusic's
    Score.clip would drop them)."""
    timed = score.to("second")
    for i, track in enumerate(timed.tracks):
        cut = track.clip(0, seconds)  # notes, controls, pedals, pitch bends
        for note in cut.notes:
            note.duration = min(note.duration, seconds - note.time)
        timed.tracks[i] = cut
    # events of the score itself after the cut would make it longer (pretty_midi counts them)
    timed.tempos = [t for t in timed.tempos if t.time < seconds]
    timed.time_signatures = [t for t in timed.time_signatures if t.time < seconds]
    timed.key_signatures = [k for k in timed.key_signatures if k.time < seconds]
    timed.markers = [m for m in timed.markers if m.time < seconds]
    return timed.to("tick")


def piano_roll(midi: bytes, title: str = "") -> bytes:
    """PNG of the notes: time across, pitch up, one colour per instrument."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(io.BytesIO(midi))
    fig, ax = plt.subplots(figsize=(8, 3), dpi=80)
    for n, inst in enumerate(pm.instruments):
        bars = [(note.start, note.end - note.start) for note in inst.notes]
        for note, (x, w) in zip(inst.notes, bars, strict=True):
            ax.broken_barh([(x, w)], (note.pitch - 0.4, 0.8), color=f"C{n % 10}")
    ax.set_xlabel("seconds")
    ax.set_ylabel("pitch")
    if title:
        ax.set_title(title[:80], fontsize=9)
    ax.grid(alpha=0.25)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()
