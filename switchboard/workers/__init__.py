"""Worker kinds, by name. ``switchboard worker NAME`` runs one replica of one.

Each name points at a factory (``build``) that makes the worker with its
dependencies: engines, stores and settings, loaded when a replica starts, or
handed in (tests, or an application that embeds a worker). A name not listed
here may be given as ``package.module:attribute``: a factory or a ``Worker``.
"""

from __future__ import annotations

import importlib

from switchboard.bus import Worker

REGISTRY: dict[str, str] = {
    "jobs": "switchboard.workers.jobs:build",
    "sql": "switchboard.workers.analyst.sql:build",
    "sandbox": "switchboard.workers.analyst.python:build",
    "codegen": "switchboard.workers.analyst.codegen:build",
    "vad": "switchboard.workers.voice.vad:build",
    "stt": "switchboard.workers.voice.stt:build",
    "retrieve": "switchboard.workers.voice.retrieve:build",
    "llm": "switchboard.workers.voice.llm:build",
    "tts": "switchboard.workers.voice.tts:build",
    "music-ingest": "switchboard.workers.music.steps.ingest:build",
    "music-embed": "switchboard.workers.music.steps.embed:build",
    "music-tokenize": "switchboard.workers.music.steps.tokenize:build",
    "music-train": "switchboard.workers.music.steps.train:build",
    "music-generate": "switchboard.workers.music.steps.generate:build",
    "music-evaluate": "switchboard.workers.music.steps.evaluate:build",
}


def pipeline_of(name: str) -> str:
    """The pipeline a registered kind belongs to: its package under workers/."""
    parts = REGISTRY[name].partition(":")[0].split(".")
    return parts[2] if len(parts) > 2 else name


def load(name: str) -> Worker:
    """A new worker of the kind ``name`` (a registered name or ``module:attribute``)."""
    spec = REGISTRY.get(name, name)
    if ":" not in spec:
        known = ", ".join(sorted(REGISTRY))
        raise KeyError(f"unknown worker {name!r}; known: {known} (or give module:attribute)")
    module, _, attr = spec.partition(":")
    worker = getattr(importlib.import_module(module), attr)
    if callable(worker) and not isinstance(worker, Worker):
        worker = worker()
    if not isinstance(worker, Worker):
        raise TypeError(f"{spec} is a {type(worker).__name__}, not a Worker")
    return worker
