"""Worker kinds, by name. ``switchboard worker NAME`` runs one replica of one.

A name not listed here may be given as ``package.module:attribute``.
"""

from __future__ import annotations

import importlib

from bus import Worker

REGISTRY: dict[str, str] = {
    "jobs": "workers.jobs:worker",
    "sql": "workers.analyst.sql:worker",
    "sandbox": "workers.analyst.python:worker",
    "codegen": "workers.analyst.codegen:worker",
    "vad": "workers.voice.vad:worker",
    "stt": "workers.voice.stt:worker",
    "retrieve": "workers.voice.retrieve:worker",
    "llm": "workers.voice.llm:worker",
    "tts": "workers.voice.tts:worker",
    "music-ingest": "workers.music.steps.ingest:worker",
    "music-embed": "workers.music.steps.embed:worker",
    "music-tokenize": "workers.music.steps.tokenize:worker",
    "music-train": "workers.music.steps.train:worker",
    "music-generate": "workers.music.steps.generate:worker",
    "music-evaluate": "workers.music.steps.evaluate:worker",
}


def pipeline_of(name: str) -> str:
    """The pipeline a registered kind belongs to: its package under workers/."""
    parts = REGISTRY[name].partition(":")[0].split(".")
    return parts[1] if len(parts) > 1 else name


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
