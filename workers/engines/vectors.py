"""Vector store: ChromaDB, embedded (a persistent folder) by default, or a
Chroma server when ``SWITCHBOARD_CHROMA_URL`` is set. Embeddings are always
ours (``workers.engines.embed``): Chroma's own default model would be fetched
from a hub, so no collection is opened without vectors we computed."""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from pydantic_settings import BaseSettings, SettingsConfigDict


class VectorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SWITCHBOARD_CHROMA_", extra="ignore")

    url: str | None = None
    """e.g. http://chromadb:8000; unset: an embedded store under ``path``."""
    path: Path = Path(".switchboard/chroma")


@dataclass(frozen=True)
class Hit:
    id: str
    text: str
    metadata: dict[str, Any]
    distance: float


@functools.cache
def client(url: str | None = None, path: str | None = None) -> Any:
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    import chromadb
    from chromadb.config import Settings

    settings = VectorSettings()
    url = url or settings.url
    chroma_settings = Settings(anonymized_telemetry=False)
    if url:
        parsed = urlparse(url)
        return chromadb.HttpClient(
            host=parsed.hostname or "127.0.0.1",
            port=parsed.port or 8000,
            ssl=parsed.scheme == "https",
            settings=chroma_settings,
        )
    folder = Path(path or settings.path)
    folder.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(folder), settings=chroma_settings)


class Collection:
    """One Chroma collection with cosine distance and our own vectors."""

    def __init__(self, name: str, chroma: Any = None) -> None:
        self._chroma = chroma or client()
        self.name = name
        self._col = self._chroma.get_or_create_collection(
            name, embedding_function=None, metadata={"hnsw:space": "cosine"}
        )

    def count(self) -> int:
        return int(self._col.count())

    def upsert(
        self,
        ids: Sequence[str],
        vectors: Sequence[Sequence[float]],
        texts: Sequence[str],
        metadatas: Sequence[dict[str, Any]],
    ) -> None:
        for start in range(0, len(ids), 1000):  # Chroma caps a batch's size
            end = start + 1000
            self._col.upsert(
                ids=list(ids[start:end]),
                embeddings=[list(v) for v in vectors[start:end]],
                documents=list(texts[start:end]),
                metadatas=[m or {"_": 0} for m in metadatas[start:end]],
            )

    def query(self, vector: Sequence[float], k: int = 5, where: dict[str, Any] | None = None) -> list[Hit]:
        if self.count() == 0:
            return []
        res = self._col.query(query_embeddings=[list(vector)], n_results=min(k, self.count()), where=where)
        return [
            Hit(i, d or "", dict(m or {}), float(dist))
            for i, d, m, dist in zip(
                res["ids"][0], res["documents"][0], res["metadatas"][0], res["distances"][0], strict=True
            )
        ]

    def drop(self) -> None:
        self._chroma.delete_collection(self.name)


@functools.cache
def collection(name: str) -> Collection:
    """One handle per collection name on the configured store, opened once per
    process (not once per query)."""
    return Collection(name)
