"""From pieces to training data: semantic clusters of the text descriptions
(MiniLM embeddings + k-means, as in seed 004) and REMI event tokens (miditok),
joined as [cluster token] + MIDI tokens, split train/valid/test by piece id
with a version that names the data and the tokenizer."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


def cluster(descriptions: Sequence[str], k: int, seed: int = 0) -> tuple[list[int], np.ndarray]:
    """Cluster label per description and the unit-length centroids."""
    from sklearn.cluster import KMeans

    from workers.engines.embed import load_embedder

    if not descriptions:
        raise ValueError("no pieces to cluster")
    vectors = np.asarray(load_embedder().embed(list(descriptions)), dtype=np.float32)
    k = max(1, min(k, len(descriptions)))
    km = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(vectors)
    centroids = km.cluster_centers_ / np.linalg.norm(km.cluster_centers_, axis=1, keepdims=True)
    return [int(x) for x in km.labels_], centroids


def nearest_cluster(text: str, centroids: np.ndarray) -> int:
    from workers.engines.embed import load_embedder

    v = np.asarray(load_embedder().embed([text])[0], dtype=np.float32)
    return int(np.argmax(centroids @ v))


def tokenizer() -> Any:
    """REMI with every instrument in one stream (a program token before notes)."""
    from miditok import REMI, TokenizerConfig

    config = TokenizerConfig(
        num_velocities=16,
        use_tempos=True,
        use_time_signatures=True,
        use_programs=True,
        one_token_stream_for_programs=True,
    )
    return REMI(config)


def tokenize(tok: Any, midi_path: Path) -> list[int]:
    seq = tok(midi_path)
    seq = seq[0] if isinstance(seq, list) else seq
    return [int(i) for i in seq.ids]


def split_of(piece_id: str) -> str:
    """Stable split by piece id: 80 % train, 10 % valid, 10 % test."""
    bucket = int(hashlib.sha256(piece_id.encode()).hexdigest()[:8], 16) % 10
    return "test" if bucket == 0 else "valid" if bucket == 1 else "train"


def build_dataset(folder: Path, k: int = 8, progress: Any = None) -> dict[str, Any]:
    """Read pieces.jsonl in ``folder``; write clusters.npz, tokenizer.json and
    dataset.jsonl (one sequence per piece, with its split); returns a summary."""
    pieces = [json.loads(line) for line in (folder / "pieces.jsonl").read_text().splitlines() if line.strip()]
    pieces = list({p["piece_id"]: p for p in pieces}.values())  # re-ingested pieces count once
    labels, centroids = cluster([p["description"] for p in pieces], k)
    tok = tokenizer()
    tok.save(folder / "tokenizer.json")
    base = int(tok.vocab_size)  # cluster token ids come after the MIDI vocabulary
    np.savez(folder / "clusters.npz", centroids=centroids, base=base)
    counts = {"train": 0, "valid": 0, "test": 0}
    skipped: list[str] = []
    with (folder / "dataset.jsonl").open("w", encoding="utf-8") as out:
        for i, (p, label) in enumerate(zip(pieces, labels, strict=True)):
            path = folder / f"{p['piece_id']}.mid"
            try:
                ids = tokenize(tok, path)
            except Exception as exc:  # miditok on an odd file: skip it, say why
                skipped.append(f"{p['piece_id']}: {type(exc).__name__}: {str(exc)[:200]}")
                continue
            split = split_of(p["piece_id"])
            counts[split] += 1
            out.write(
                json.dumps(
                    {"piece_id": p["piece_id"], "split": split, "cluster": label, "ids": [base + label, *ids]}
                )
                + "\n"
            )
            if progress:
                progress(i + 1, len(pieces))
    digest = hashlib.sha256((folder / "tokenizer.json").read_bytes())
    digest.update(",".join(sorted(p["piece_id"] for p in pieces)).encode() + f"k={k}".encode())
    version = digest.hexdigest()[:12]
    summary = {
        "version": version,
        "pieces": len(pieces),
        "clusters": int(centroids.shape[0]),
        "vocab": base + int(centroids.shape[0]),
        "splits": counts,
        "skipped": skipped,
    }
    (folder / "dataset.json").write_text(json.dumps(summary, indent=2))
    return summary
