"""Knowledge base ingestion: a folder of documents (txt, md, html; pdf when
pypdf is installed) cut into passages with their source, embedded, stored in
the vector store. Markdown files named ``*faq*.md`` are read as questions
(``## heading``) with answers (the text under them) into the FAQ table, and
their questions are embedded so a near question finds its answer."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from switchboard.workers.engines.embed import Embedder, load_embedder
from switchboard.workers.engines.vectors import Collection, collection

from . import store

STARTER = Path(__file__).with_name("starter")
TEXT_SUFFIXES = {".txt", ".md", ".rst", ".html", ".htm", ".pdf"}


@dataclass(frozen=True)
class Report:
    files: int
    passages: int
    faq: int
    skipped: list[str]


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in ("p", "br", "li", "h1", "h2", "h3", "h4", "div", "tr"):
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def read_text(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".html", ".htm"):
        parser = _Text()
        parser.feed(path.read_text(encoding="utf-8", errors="replace"))
        return "".join(parser.parts)
    if suffix == ".pdf":
        try:
            from pypdf import PdfReader
        except ImportError:
            raise ValueError("PDF needs pypdf (pip install pypdf)") from None
        return "\n\n".join(page.extract_text() or "" for page in PdfReader(str(path)).pages)
    return path.read_text(encoding="utf-8", errors="replace")


def chunks(text: str, size: int = 700, overlap: int = 100) -> list[str]:
    """Passages of about ``size`` characters along paragraph lines."""
    paras = [re.sub(r"[ \t]+", " ", p).strip() for p in re.split(r"\n\s*\n", text)]
    out: list[str] = []
    current = ""
    for p in filter(None, paras):
        while len(p) > size:  # a huge paragraph: cut it
            out.append(p[:size])
            p = p[size - overlap :]
        if current and len(current) + len(p) + 1 > size:
            out.append(current)
            current = current[-overlap:] + "\n" + p if overlap else p
        else:
            current = f"{current}\n{p}" if current else p
    if current:
        out.append(current)
    return out


def faq_items(text: str) -> list[tuple[str, str]]:
    items = []
    for block in re.split(r"^#{2,3} ", text, flags=re.M)[1:]:
        question, _, answer = block.partition("\n")
        answer = " ".join(answer.split())
        if question.strip() and answer:
            items.append((question.strip(), answer))
    return items


def ingest(
    folder: Path,
    settings: store.VoiceSettings | None = None,
    embed: Embedder | None = None,
    col: Collection | None = None,
) -> Report:
    """Add a file or a folder's files to the knowledge base (FAQ files by question)."""
    settings = settings or store.VoiceSettings()
    col = col or collection(settings.kb_collection)
    embed = embed or load_embedder()
    files = [folder] if folder.is_file() else sorted(p for p in folder.rglob("*") if p.is_file())
    passages = faq = 0
    skipped: list[str] = []
    for path in files:
        if path.suffix.lower() not in TEXT_SUFFIXES:
            skipped.append(f"{path.name}: not a text, markdown, html or pdf file")
            continue
        try:
            text = read_text(path)
        except (ValueError, OSError) as exc:
            skipped.append(f"{path.name}: {exc}")
            continue
        source = path.name
        if "faq" in path.stem.lower() and path.suffix.lower() == ".md":
            items = faq_items(text)
            ids = store.add_faq(settings.db_url, [(q, a, source) for q, a in items])
            col.upsert(
                [f"faq-{i}" for i in ids],
                embed.embed([q for q, _ in items]),
                [q for q, _ in items],
                [{"kind": "faq", "faq_id": i, "source": source} for i in ids],
            )
            faq += len(items)
            continue
        parts = chunks(text)
        if not parts:
            skipped.append(f"{path.name}: no text")
            continue
        key = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:10]
        col.upsert(
            [f"doc-{key}-{i}" for i in range(len(parts))],
            embed.embed(parts),
            parts,
            [{"kind": "doc", "source": source, "chunk": i} for i in range(len(parts))],
        )
        passages += len(parts)
    return Report(len(files), passages, faq, skipped)


def ensure_starter(
    settings: store.VoiceSettings | None = None, embed: Embedder | None = None, col: Collection | None = None
) -> Report | None:
    """Load the starter knowledge base (the project's FAQ and docs) into an empty store."""
    settings = settings or store.VoiceSettings()
    col = col or collection(settings.kb_collection)
    if col.count() > 0:
        return None
    return ingest(STARTER, settings, embed, col)
