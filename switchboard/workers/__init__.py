"""Worker kinds, by name. ``switchboard worker NAME`` runs one replica of one.

A name not listed here may be given as ``package.module:attribute``.
"""

from __future__ import annotations

import importlib

from switchboard.bus import Worker

REGISTRY: dict[str, str] = {
    "jobs": "switchboard.workers.jobs:worker",
    "sql": "switchboard.workers.analyst.sql:worker",
    "sandbox": "switchboard.workers.analyst.python:worker",
    "codegen": "switchboard.workers.analyst.codegen:worker",
    "vad": "switchboard.workers.voice.vad:worker",
    "stt": "switchboard.workers.voice.stt:worker",
    "retrieve": "switchboard.workers.voice.retrieve:worker",
    "llm": "switchboard.workers.voice.llm:worker",
    "tts": "switchboard.workers.voice.tts:worker",
    "music-ingest": "switchboard.workers.music.steps.ingest:worker",
    "music-embed": "switchboard.workers.music.steps.embed:worker",
    "music-tokenize": "switchboard.workers.music.steps.tokenize:worker",
    "music-train": "switchboard.workers.music.steps.train:worker",
    "music-generate": "switchboard.workers.music.steps.generate:worker",
    "music-evaluate": "switchboard.workers.music.steps.evaluate:worker",
}


def pipeline_of(name: str) -> str:
    """The pipeline a registered kind belongs to: its package under workers/."""
    parts = REGISTRY[name].partition(":")[0].split(".")
    return parts[2] if len(parts) > 2 else name


def load(name: str) -> Worker:
    spec = REGISTRY.get(name, name)
    if ":" not in spec:
        known = ", ".join(sorted(REGISTRY))
        raise KeyError(f"unknown worker {name!r}; known: {known} (or give module:attribute)")
    module, _, attr = spec.partition(":")
    worker = getattr(importlib.import_module(module), attr)
    if not isinstance(worker, Worker):
        raise TypeError(f"{spec} is a {type(worker).__name__}, not a Worker")
    return worker
