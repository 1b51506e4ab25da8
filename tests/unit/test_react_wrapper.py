"""The React wrapper of <voice-mic> (switchboard/edge/react) builds and passes its own
tests (node's test runner in jsdom, with the edge's real voice-mic.js)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REACT = Path(__file__).resolve().parents[2] / "switchboard" / "edge" / "react"


def test_the_react_wrapper_builds_and_passes_its_tests() -> None:
    if shutil.which("npm") is None or not (REACT / "node_modules").is_dir():
        if os.environ.get("CI"):
            pytest.fail("npm or edge/react/node_modules missing in CI: scripts/setup.sh test installs them")
        pytest.skip("npm ci in switchboard/edge/react first (make test does)")
    run = subprocess.run(["npm", "test"], cwd=REACT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "# fail 0" in run.stdout and "# pass 2" in run.stdout
