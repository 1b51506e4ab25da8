"""An in-memory vector collection (tests only): exact cosine search over a dict."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from switchboard.workers.engines.vectors import Collection, Hit


class MemoryCollection(Collection):
    def __init__(self, name: str = "fake") -> None:
        self.name = name
        self.rows: dict[str, tuple[list[float], str, dict[str, Any]]] = {}

    def count(self) -> int:
        return len(self.rows)

    def _upsert_impl(
        self, ids: list[str], vectors: list[list[float]], texts: list[str], metadatas: list[dict[str, Any]]
    ) -> None:
        for i, v, t, m in zip(ids, vectors, texts, metadatas, strict=True):
            self.rows[i] = (v, t, m)

    def _query_impl(self, vector: Sequence[float], k: int, where: dict[str, Any] | None) -> list[Hit]:
        hits = [
            Hit(i, t, dict(m), 1.0 - sum(a * b for a, b in zip(vector, v, strict=True)))
            for i, (v, t, m) in self.rows.items()
            if not where or all(m.get(key) == want for key, want in where.items())
        ]
        return sorted(hits, key=lambda h: h.distance)[:k]

    def drop(self) -> None:
        self.rows.clear()
