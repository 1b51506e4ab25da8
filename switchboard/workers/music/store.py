"""Where the music pipeline keeps what outlives one event: pieces, clusters,
dataset versions, models, generated pieces and reports. One folder
(``SWITCHBOARD_MUSIC_DIR``), shared by every music worker (a volume in compose).

    pieces/<id>.mid, pieces/<id>.json     metadata, description, embedding, cluster
    clusters.npz, clusters.json           the current semantic clusters
    datasets/<version>/                   tokenizer.json, clusters.npz, dataset.jsonl, dataset.json
    models/<version>/                     checkpoints, final/, loss.png, train.json
    generated/<id>.mid, <id>.png
    reports/<model version>/              report.json, report.md, plots
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class MusicSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SWITCHBOARD_MUSIC_")

    dir: Path = Path(".switchboard/music")
    ingest_roots: list[Path] = []
    """Folders under which ``music ingest --folder`` may read (JSON list); ``<dir>/incoming`` always."""
    train_max_minutes: float = Field(default=120.0, gt=0)
    train_max_steps: int = Field(default=200_000, ge=1)
    train_max_layers: int = Field(default=12, ge=1)
    train_max_width: int = Field(default=768, ge=16)
    train_max_context: int = Field(default=1_024, ge=32)
    train_max_batch: int = Field(default=64, ge=1)

    def ingest_folder(self, folder: str) -> Path:
        """The folder, resolved, when it lies under an allowed root; else ValueError."""
        path = Path(folder).resolve()
        roots = [r.resolve() for r in (*self.ingest_roots, self.dir / "incoming")]
        if not any(path == r or path.is_relative_to(r) for r in roots):
            allowed = ", ".join(str(r) for r in roots)
            raise ValueError(
                f"folder {folder} is outside the folders ingest may read ({allowed}); "
                "add it to SWITCHBOARD_MUSIC_INGEST_ROOTS"
            )
        return path

    def train_limits(self, req: Any) -> str | None:
        """Why a training request passes this machine's budget, or None."""
        over = [
            f"{name} {value} > {cap}"
            for name, value, cap in (
                ("minutes", req.max_minutes, self.train_max_minutes),
                ("steps", req.max_steps, self.train_max_steps),
                ("layers", req.n_layer, self.train_max_layers),
                ("width", req.n_embd, self.train_max_width),
                ("context", req.context, self.train_max_context),
                ("batch", req.batch_size, self.train_max_batch),
            )
            if value > cap
        ]
        if not over:
            return None
        return "training budget over the limits (" + ", ".join(over) + "; SWITCHBOARD_MUSIC_TRAIN_MAX_*)"


class Store:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.pieces = root / "pieces"
        self.datasets = root / "datasets"
        self.models = root / "models"
        self.generated = root / "generated"
        self.reports = root / "reports"

    @classmethod
    def from_settings(cls, settings: MusicSettings | None = None) -> Store:
        return cls((settings or MusicSettings()).dir)

    # pieces
    def save_piece(self, piece_id: str, midi: bytes, record: dict[str, Any]) -> None:
        self.pieces.mkdir(parents=True, exist_ok=True)
        (self.pieces / f"{piece_id}.mid").write_bytes(midi)
        write_json(self.pieces / f"{piece_id}.json", record)

    def piece(self, piece_id: str) -> dict[str, Any]:
        return dict(read_json(self.pieces / f"{piece_id}.json"))

    def update_piece(self, piece_id: str, **fields: Any) -> None:
        write_json(self.pieces / f"{piece_id}.json", {**self.piece(piece_id), **fields})

    def piece_ids(self) -> list[str]:
        if not self.pieces.is_dir():
            return []
        return sorted(p.stem for p in self.pieces.glob("*.json"))

    def midi_path(self, piece_id: str) -> Path:
        return self.pieces / f"{piece_id}.mid"

    # versions
    def dataset_dir(self, version: str | None = None) -> Path:
        return self._version(self.datasets, version, "dataset", "dataset.json")

    def model_dir(self, version: str | None = None) -> Path:
        return self._version(self.models, version, "model", "final/config.json")

    def _version(self, base: Path, version: str | None, what: str, marker: str) -> Path:
        if version:
            path = base / version
            if not (path / marker).exists():
                raise LookupError(f"no {what} version {version!r} in {base}")
            return path
        done = [p for p in base.glob("*") if (p / marker).exists()] if base.is_dir() else []
        if not done:
            hint = {"dataset": "music tokenize", "model": "music train"}[what]
            raise LookupError(f"no {what} yet in {base}: run `switchboard {hint}` first")
        return max(done, key=lambda p: (p / marker).stat().st_mtime)


def write_json(path: Path, value: Any) -> None:
    """Whole file or nothing: readers never see half a record."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(value, indent=1))
    tmp.replace(path)


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())
