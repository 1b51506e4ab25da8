"""From pieces to training data: attribute tokens read from each piece
(conditioning.py), semantic clusters of the text descriptions (MiniLM
embeddings + k-means, as in seed 004) and REMI event tokens (miditok), joined
as [attribute tokens] + [cluster token] + MIDI tokens + EOS, split
train/valid/test by piece id, written as a dataset version named by the data
and the tokenizer."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import conditioning
from .pool import imap
from .store import Store, write_json

SLOTS_VERSION = 2  # bump when conditioning.of_midi changes: pieces are read again


def embed(texts: Sequence[str]) -> np.ndarray:
    from switchboard.workers.engines.embed import load_embedder

    return np.asarray(load_embedder().embed(list(texts)), dtype=np.float32)


def cluster(vectors: np.ndarray, k: int, seed: int = 0) -> tuple[list[int], np.ndarray]:
    """Cluster label per vector and the unit-length centroids."""
    from sklearn.cluster import KMeans

    if len(vectors) == 0:
        raise ValueError("no pieces to cluster: ingest some first")
    k = max(1, min(k, len(vectors)))
    km = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(vectors)
    centroids = km.cluster_centers_ / np.linalg.norm(km.cluster_centers_, axis=1, keepdims=True)
    return [int(x) for x in km.labels_], centroids.astype(np.float32)


def nearest_cluster(text: str, centroids: np.ndarray) -> int:
    return int(np.argmax(centroids @ embed([text])[0]))


def cluster_store(store: Store, k: int) -> dict[str, Any]:
    """Embed pieces that have no vector yet, then k-means over all of them; the
    label goes into each piece's record, the centroids into clusters.npz."""
    ids = store.piece_ids()
    records = [store.piece(i) for i in ids]
    missing = [n for n, r in enumerate(records) if not r.get("vector")]
    if missing:
        for n, v in zip(missing, embed([records[n]["description"] for n in missing]), strict=True):
            records[n]["vector"] = v.tolist()
    vectors = np.asarray([r["vector"] for r in records], dtype=np.float32)
    labels, centroids = cluster(vectors, k)
    for pid, rec, label in zip(ids, records, labels, strict=True):
        store.update_piece(pid, vector=rec["vector"], cluster=label)
    np.savez(store.root / "clusters.npz", centroids=centroids)
    sizes = np.bincount(labels, minlength=len(centroids)).tolist()
    summary = {"pieces": len(ids), "clusters": len(centroids), "sizes": sizes, "embedded": len(missing)}
    write_json(store.root / "clusters.json", summary)
    return summary


def tokenizer() -> Any:
    """REMI with every instrument in one stream (a program token before notes)."""
    from miditok import REMI, TokenizerConfig

    config = TokenizerConfig(
        num_velocities=16,
        use_tempos=True,
        use_time_signatures=True,
        use_programs=True,
        one_token_stream_for_programs=True,
        special_tokens=["PAD", "BOS", "EOS"],
    )
    return REMI(config)


def load_tokenizer(path: Path) -> Any:
    from miditok import REMI

    return REMI(params=path)


def tokenize(tok: Any, midi_path: Path) -> list[int]:
    seq = tok(midi_path)
    seq = seq[0] if isinstance(seq, list) else seq
    return [int(i) for i in seq.ids]


def split_of(piece_id: str) -> str:
    """Stable split by piece id: 80 % train, 10 % valid, 10 % test."""
    bucket = int(hashlib.sha256(piece_id.encode()).hexdigest()[:8], 16) % 10
    return "test" if bucket == 0 else "valid" if bucket == 1 else "train"


Progress = Callable[[int, int], None]


def piece_slots(
    store: Store, records: dict[str, dict[str, Any]], progress: Progress | None = None
) -> dict[str, dict[str, int]]:
    """Each piece's attribute values (``records``: piece id -> its record), read
    once (on every core) and kept in its record."""
    stale = [pid for pid, r in records.items() if r.get("slots_version") != SLOTS_VERSION]
    paths = [str(store.midi_path(pid)) for pid in stale]
    for n, (pid, values) in enumerate(zip(stale, imap(_slots_of, paths), strict=True)):
        store.update_piece(pid, slots=values, slots_version=SLOTS_VERSION)
        records[pid]["slots"] = values
        if progress:
            progress(n + 1, len(stale))
    return {pid: r["slots"] for pid, r in records.items()}


def _slots_of(path: str) -> dict[str, int]:
    try:
        return conditioning.of_midi(Path(path).read_bytes())
    except Exception:  # a file pretty_midi or music21 cannot read: all slots unspecified
        return {}


def build_dataset(store: Store, progress: Progress | None = None) -> dict[str, Any]:
    """Tokenize every clustered piece into datasets/<version>/: tokenizer.json,
    clusters.npz (centroids, the id of cluster 0's token and of the first
    attribute token), dataset.jsonl (one sequence per piece with its split and
    head length) and dataset.json (the summary)."""
    if not (store.root / "clusters.npz").exists():
        raise LookupError("no clusters yet: run `switchboard music embed` first")
    centroids = np.load(store.root / "clusters.npz")["centroids"]
    records = {i: store.piece(i) for i in store.piece_ids()}
    labels = {i: r.get("cluster") for i, r in records.items()}
    ids = [i for i, label in labels.items() if label is not None]
    if not ids:
        raise LookupError("no clustered pieces: run `switchboard music embed` first")
    tok = tokenizer()
    base = int(tok.vocab_size)  # cluster token ids come after the MIDI vocabulary
    layout = conditioning.Layout(base + int(centroids.shape[0]))  # then the attribute tokens
    eos = int(tok["EOS_None"])
    clustered = {i: records[i] for i in ids}
    slots = piece_slots(store, clustered, (lambda d, t: progress(d, 2 * t)) if progress else None)
    store.datasets.mkdir(parents=True, exist_ok=True)
    work = store.datasets / f".building-{hashlib.sha256(str(ids).encode()).hexdigest()[:8]}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    tok.save(work / "tokenizer.json")
    np.savez(work / "clusters.npz", centroids=centroids, base=base, attributes=layout.start)
    counts = {"train": 0, "valid": 0, "test": 0}
    tokens = {"train": 0, "valid": 0, "test": 0}
    skipped: list[str] = []
    digest = hashlib.sha256((work / "tokenizer.json").read_bytes())
    digest.update(f"slots {SLOTS_VERSION} {sorted(conditioning.SLOTS.items())};".encode())
    with (work / "dataset.jsonl").open("w", encoding="utf-8") as out:
        for n, pid in enumerate(ids):
            label = int(labels[pid])  # type: ignore[arg-type]
            try:
                seq = tokenize(tok, store.midi_path(pid))
            except Exception as exc:  # miditok on an odd file: skip it, say why
                skipped.append(f"{pid}: {type(exc).__name__}: {str(exc)[:200]}")
                continue
            if not seq:
                skipped.append(f"{pid}: no tokens")
                continue
            split = split_of(pid)
            head = [*layout.ids(slots[pid]), base + label]
            counts[split] += 1
            tokens[split] += len(head) + len(seq) + 1
            digest.update(f"{pid}:{head};".encode())
            row = {
                "piece_id": pid,
                "split": split,
                "cluster": label,
                "head": len(head),
                "ids": [*head, *seq, eos],
            }
            out.write(json.dumps(row) + "\n")
            if progress:
                progress(len(ids) + n + 1, 2 * len(ids))
    version = digest.hexdigest()[:12]
    summary = {
        "version": version,
        "pieces": sum(counts.values()),
        "clusters": int(centroids.shape[0]),
        "vocab": layout.start + layout.size,
        "base": base,
        "attributes": layout.start,
        "pitch_ids": conditioning.pitch_ids(tok),
        "durations": conditioning.duration_beats(tok),
        "eos": eos,
        "splits": counts,
        "tokens": tokens,
        "skipped": skipped,
    }
    write_json(work / "dataset.json", summary)
    final = store.datasets / version
    shutil.rmtree(final, ignore_errors=True)
    work.replace(final)
    return summary


def sequences(dataset: Path, split: str | None) -> list[dict[str, Any]]:
    """Rows of a dataset version: one split, or all with None."""
    rows = (json.loads(x) for x in (dataset / "dataset.jsonl").read_text().splitlines() if x.strip())
    return [r for r in rows if split is None or r["split"] == split]
