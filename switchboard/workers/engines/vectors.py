"""Vector store: ChromaDB, embedded (a persistent folder) by default, or a
Chroma server when ``SWITCHBOARD_CHROMA_URL`` is set. Embeddings are always
ours (``workers.engines.embed``): Chroma's own default model would be fetched
from a hub, so no collection is opened without vectors we computed."""

from __future__ import annotations

import abc
import functools
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from pydantic_settings import BaseSettings, SettingsConfigDict


class VectorSettings(BaseSettings):
    """Where the vector store is (``SWITCHBOARD_CHROMA_*``)."""

    model_config = SettingsConfigDict(env_prefix="SWITCHBOARD_CHROMA_", extra="ignore")

    url: str | None = None
    """e.g. http://chromadb:8000; unset: an embedded store under ``path``."""
    path: Path = Path(".switchboard/chroma")


@dataclass(frozen=True)
class Hit:
    """One stored text near a query; ``distance`` is cosine distance (0: same direction)."""

    id: str
    text: str
    metadata: dict[str, Any]
    distance: float


@functools.cache
def client(url: str | None = None, path: str | None = None) -> Any:
    """The Chroma client (one per process): a server at ``url``, or embedded at ``path``."""
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


class Collection(abc.ABC):
    """A named set of texts with our vectors, searched by cosine distance. The
    template checks the inputs; engines implement the ``_impl`` methods,
    ``count`` and ``drop``."""

    name: str

    @abc.abstractmethod
    def count(self) -> int:
        """How many texts are stored."""

    def upsert(
        self,
        ids: Sequence[str],
        vectors: Sequence[Sequence[float]],
        texts: Sequence[str],
        metadatas: Sequence[dict[str, Any]],
    ) -> None:
        """Store (or replace, by id) texts with their vectors and metadata."""
        if not len(ids) == len(vectors) == len(texts) == len(metadatas):
            raise ValueError("ids, vectors, texts and metadatas must be as many")
        if ids:
            self._upsert_impl(list(ids), [list(v) for v in vectors], list(texts), list(metadatas))

    def query(self, vector: Sequence[float], k: int = 5, where: dict[str, Any] | None = None) -> list[Hit]:
        """The ``k`` stored texts nearest ``vector`` (nearest first), among those matching ``where``."""
        if k <= 0 or self.count() == 0:
            return []
        return self._query_impl(vector, min(k, self.count()), where)

    @abc.abstractmethod
    def drop(self) -> None:
        """Delete the collection and everything in it."""

    @abc.abstractmethod
    def _upsert_impl(
        self, ids: list[str], vectors: list[list[float]], texts: list[str], metadatas: list[dict[str, Any]]
    ) -> None: ...

    @abc.abstractmethod
    def _query_impl(self, vector: Sequence[float], k: int, where: dict[str, Any] | None) -> list[Hit]: ...


class ChromaCollection(Collection):
    """One Chroma collection with cosine distance and our own vectors."""

    def __init__(self, name: str, chroma: Any = None) -> None:
        self._chroma = chroma or client()
        self.name = name
        self._col = self._chroma.get_or_create_collection(
            name, embedding_function=None, metadata={"hnsw:space": "cosine"}
        )

    def count(self) -> int:
        """How many texts are stored."""
        return int(self._col.count())

    def _upsert_impl(
        self, ids: list[str], vectors: list[list[float]], texts: list[str], metadatas: list[dict[str, Any]]
    ) -> None:
        for start in range(0, len(ids), 1000):  # Chroma caps a batch's size
            end = start + 1000
            self._col.upsert(
                ids=ids[start:end],
                embeddings=vectors[start:end],
                documents=texts[start:end],
                metadatas=[m or {"_": 0} for m in metadatas[start:end]],
            )

    def _query_impl(self, vector: Sequence[float], k: int, where: dict[str, Any] | None) -> list[Hit]:
        res = self._col.query(query_embeddings=[list(vector)], n_results=k, where=where)
        return [
            Hit(i, d or "", dict(m or {}), float(dist))
            for i, d, m, dist in zip(
                res["ids"][0], res["documents"][0], res["metadatas"][0], res["distances"][0], strict=True
            )
        ]

    def drop(self) -> None:
        """Delete the collection in Chroma."""
        self._chroma.delete_collection(self.name)


@functools.cache
def collection(name: str) -> Collection:
    """One handle per collection name on the configured store, opened once per
    process (not once per query)."""
    return ChromaCollection(name)
