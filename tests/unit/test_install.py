"""The installed project imports from anywhere, not only from the checkout."""

from __future__ import annotations

import subprocess
import sys


def test_the_package_imports_outside_the_checkout(tmp_path: object) -> None:
    # one top-level package: chromadb's bare `schemas/` folder cannot shadow ours
    code = (
        "from switchboard import bus, schemas, workers; "
        "print(schemas.EVENT_TYPES is not None, bus.Worker.__name__, len(workers.REGISTRY) > 0)"
    )
    out = subprocess.run(
        [sys.executable, "-I", "-c", code], cwd=str(tmp_path), capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "Worker", "True"]
