"""Bag-of-words embeddings (tests only): each word hashed to a dimension, unit length;
texts that share words are near each other."""

from __future__ import annotations

import hashlib
import math
import re

from switchboard.workers.engines.embed import Embedder


class FakeEmbedder(Embedder):
    def __init__(self, dim: int = 64) -> None:
        self.name = "fake-embed"
        self.dim = dim

    def _embed_impl(self, texts: list[str]) -> list[list[float]]:
        out = []
        for text in texts:
            v = [0.0] * self.dim
            for word in re.findall(r"[a-z0-9]+", text.lower()):
                v[int(hashlib.blake2s(word.encode(), digest_size=4).hexdigest(), 16) % self.dim] += 1.0
            norm = math.sqrt(sum(x * x for x in v)) or 1.0
            out.append([x / norm for x in v])
        return out
