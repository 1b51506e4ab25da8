"""Schema retrieval (seed 003): for a dataset with many tables, the prompt
carries only the tables whose descriptions are nearest the question (plus the
tables they reference), found in the vector store, rather than every table."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

from switchboard.workers.engines.embed import load_embedder
from switchboard.workers.engines.vectors import Collection, collection

from .chinook import Table

_REFERENCE = re.compile(r"-> (\w+)")


def describe(t: Table) -> str:
    cols = ", ".join(c for c, _, _ in t.columns)
    return f"table {t.name}: {t.doc}. columns: {cols}"


def _collection(dataset: str, tables: Sequence[Table]) -> Collection:
    digest = hashlib.sha256("\n".join(describe(t) for t in tables).encode()).hexdigest()[:12]
    name = re.sub(r"[^a-zA-Z0-9._-]", "-", f"schema-{dataset}-{digest}")
    col = collection(name)
    if col.count() != len(tables):
        texts = [describe(t) for t in tables]
        col.upsert(
            [t.name for t in tables], load_embedder().embed(texts), texts, [{"table": t.name} for t in tables]
        )
    return col


def relevant(dataset: str, tables: Sequence[Table], question: str, k: int = 5) -> list[Table]:
    """The k tables nearest the question, with the tables they point to, in schema order."""
    col = _collection(dataset, tables)
    hits = col.query(load_embedder().embed([question])[0], k=k)
    names = {h.id for h in hits}
    by_name = {t.name: t for t in tables}
    for name in list(names):
        names.update(ref for ref in _REFERENCE.findall(by_name[name].doc) if ref in by_name)
    return [t for t in tables if t.name in names]
