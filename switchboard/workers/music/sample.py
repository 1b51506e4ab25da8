"""Text prompt -> nearest semantic cluster -> sampled tokens -> MIDI.

Sampling goes on past the model's context in windows (the cluster token, then
the last half context of what was made) until EOS, the token budget, or the
asked length in seconds. The MIDI is read back with pretty_midi: what leaves
here is a valid, playable file with notes, or an error."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .features import nearest_cluster
from .model import load
from .store import Store

TRIES = 3


@dataclass
class Piece:
    model_version: str
    cluster: int
    tokens: list[int]
    midi: bytes
    duration_s: float
    notes: int


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
    seed: int | None = None,
    progress: Callable[[float], None] | None = None,
    stop: Callable[[], bool] = lambda: False,
) -> Piece:
    import torch

    version, model, tok, centroids, base = load(store, model_version)
    label = nearest_cluster(prompt, centroids) if prompt.strip() else 0
    if seed is not None:
        torch.manual_seed(seed)
    for _ in range(TRIES):
        ids = _sample(model, base + label, base, max_tokens, seconds, temperature, tok, progress, stop)
        midi, duration, notes = decode(tok, ids)
        if notes:
            return Piece(version, label, ids, midi, duration, notes)
    raise NoMusic(f"no notes in {TRIES} samples from {version}; train the model longer")


def _sample(
    model: Any,
    head: int,
    base: int,
    max_tokens: int,
    seconds: float | None,
    temperature: float,
    tok: Any,
    progress: Callable[[float], None] | None,
    stop: Callable[[], bool],
) -> list[int]:
    import torch

    context = int(model.config.n_positions)
    eos = int(model.config.eos_token_id)
    # only MIDI tokens come out; with a length asked for, no early end either
    banned = list(range(base, int(model.config.vocab_size))) + ([eos] if seconds else [])
    chunk = max(16, context // 2)
    out: list[int] = []
    with torch.inference_mode():
        while len(out) < max_tokens and not stop():
            window = [head, *out[-(context - chunk - 1) :]] if out else [head]
            new = model.generate(
                torch.tensor([window]),
                attention_mask=torch.ones(1, len(window), dtype=torch.long),
                do_sample=True,
                temperature=temperature,
                top_k=0,
                max_new_tokens=min(chunk, max_tokens - len(out)),
                suppress_tokens=banned,
                eos_token_id=eos,
                pad_token_id=eos,
            )[0, len(window) :].tolist()
            ended = eos in new
            out += new[: new.index(eos)] if ended else new
            made = len(out) / max_tokens
            if seconds:
                long = decode(tok, out)[1]
                made = max(made, long / seconds)
            if progress:
                progress(min(1.0, made))
            if ended or not new or made >= 1.0:
                break
    return out


def decode(tok: Any, ids: list[int]) -> tuple[bytes, float, int]:
    """(MIDI bytes, seconds, notes) of sampled tokens; notes 0 when nothing decodes."""
    import pretty_midi

    if not ids:
        return b"", 0.0, 0
    try:
        score = tok.decode(ids)  # one stream for all programs: one dimension
        data = bytes(score.dumps_midi())
        pm = pretty_midi.PrettyMIDI(io.BytesIO(data))
    except Exception:  # a sample that miditok or pretty_midi cannot make sense of
        return b"", 0.0, 0
    notes = sum(len(i.notes) for i in pm.instruments)
    return data, float(pm.get_end_time()), notes


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
