"""Which subjects chain into which: worker kinds with their inputs and outputs.

Used by ``switchboard streams`` to show the pipelines and by replay to know
which subjects are a pipeline's recorded inputs.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Hop:
    worker: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]


PIPELINES: dict[str, tuple[Hop, ...]] = {
    "voice": (
        Hop("vad", ("voice.audio.chunk",), ("voice.speech.segment",)),
        Hop("stt", ("voice.speech.segment",), ("voice.transcript",)),
        Hop("retrieve", ("voice.transcript",), ("voice.context",)),
        Hop("llm", ("voice.context", "voice.cancel"), ("voice.answer.delta", "voice.answer")),
        Hop("tts", ("voice.answer.delta", "voice.answer", "voice.cancel"), ("voice.speech.audio",)),
    ),
    "analyst": (
        Hop("codegen", ("analyst.question", "analyst.result"), ("analyst.code", "jobs.status")),
        Hop("sql", ("analyst.code",), ("analyst.result",)),
        Hop("sandbox", ("analyst.code",), ("analyst.result",)),
    ),
    "music": (
        Hop("music-ingest", ("music.ingest.request", "jobs.cancel"), ("music.midi.raw", "jobs.status")),
        Hop(
            "music-embed",
            ("music.midi.raw", "music.embed.request"),
            ("music.embeddings", "jobs.status"),
        ),
        Hop("music-tokenize", ("music.tokenize.request",), ("music.tokens", "jobs.status")),
        Hop("music-train", ("music.train.request", "jobs.cancel"), ("music.model", "jobs.status")),
        Hop("music-generate", ("music.generate.request",), ("music.generated", "jobs.status")),
        Hop("music-evaluate", ("music.evaluate.request", "jobs.cancel"), ("music.report", "jobs.status")),
    ),
    "jobs": (Hop("jobs", ("jobs.submitted", "jobs.cancel"), ("jobs.status",)),),
}

ENTRY_SUBJECTS: dict[str, tuple[str, ...]] = {
    "voice": ("voice.audio.chunk", "voice.transcript", "voice.cancel"),
    "analyst": ("analyst.question",),
    "music": (
        "music.ingest.request",
        "music.midi.raw",
        "music.embed.request",
        "music.tokenize.request",
        "music.train.request",
        "music.generate.request",
        "music.evaluate.request",
    ),
    "jobs": ("jobs.submitted", "jobs.cancel"),
}
"""Subjects clients publish on: the recorded inputs a replay re-publishes."""
