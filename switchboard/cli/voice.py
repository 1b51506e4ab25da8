"""The voice assistant's knowledge base."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .apps import voice_app
from .common import fail


@voice_app.command("ingest")
def voice_ingest(
    path: Annotated[Path, typer.Argument(help="A folder (or file) of .txt, .md, .html, .pdf documents")],
) -> None:
    """Add documents to the knowledge base (passages with their source); *faq*.md files become Q&A rows."""
    from switchboard.workers.voice import kb

    if not path.exists():
        fail(f"{path} does not exist")
    report = kb.ingest(path)
    typer.echo(f"{report.files} files: {report.passages} passages, {report.faq} FAQ entries")
    for line in report.skipped:
        typer.echo(f"skipped {line}", err=True)


@voice_app.command("search")
def voice_search(question: Annotated[str, typer.Argument(help="What to look up")]) -> None:
    """Show what the retrieval worker would hand the model for a question."""
    from switchboard.workers.engines.embed import load_embedder
    from switchboard.workers.engines.vectors import collection
    from switchboard.workers.voice import kb
    from switchboard.workers.voice.retrieve import RetrieveWorker

    worker = RetrieveWorker(
        embedder=load_embedder(), passages=collection(RetrieveWorker().settings.kb_collection)
    )
    kb.ensure_starter(worker.settings, worker.embedder, worker.collection)
    for p in worker.passages(question):
        typer.echo(f"[{p.score:.2f} {p.source}] {p.text[:300]}")
