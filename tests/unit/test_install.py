"""The installed project imports from anywhere, not only from the checkout."""

from __future__ import annotations

import subprocess
import sys


def test_our_top_level_packages_win_outside_the_checkout(tmp_path: object) -> None:
    # chromadb installs a bare `schemas/` folder; ours must still be the one imported
    code = "import schemas, bus, workers; print(schemas.EVENT_TYPES is not None, bus.Worker.__name__)"
    out = subprocess.run(
        [sys.executable, "-I", "-c", code], cwd=str(tmp_path), capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "Worker"]
