"""docker-compose.yml is valid compose and has a service per worker kind."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
import yaml

from tests.helpers import ROOT
from workers import REGISTRY

COMPOSE = ROOT / "docker-compose.yml"


def test_compose_declares_infrastructure_and_every_worker_kind() -> None:
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    for infra in ("nats", "kafka", "ollama", "chromadb", "postgres", "edge"):
        assert infra in services
    assert services["kafka"]["profiles"] == ["kafka"]
    for kind in REGISTRY:
        assert services[kind]["command"][:2] == ["worker", kind]
        assert "replicas" in services[kind]["deploy"]


def test_compose_validates_with_docker_compose() -> None:
    tool = shutil.which("docker-compose")
    if tool is None:
        if os.environ.get("CI"):
            pytest.fail("docker-compose is missing in CI: scripts/setup.sh test installs it")
        pytest.skip("docker-compose (Debian package) not installed")
    result = subprocess.run(
        [tool, "-f", str(COMPOSE), "config", "-q"], capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr
