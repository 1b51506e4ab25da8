"""docker-compose.yml is valid compose and has a service per worker kind."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
import yaml

from switchboard.workers import REGISTRY
from tests.helpers import ROOT

COMPOSE = ROOT / "docker-compose.yml"


def test_compose_declares_infrastructure_and_every_worker_kind() -> None:
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    for infra in ("nats", "kafka", "ollama", "chromadb", "postgres", "edge"):
        assert infra in services
    assert services["kafka"]["profiles"] == ["kafka"]
    assert services["kafka"]["environment"]["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    for kind in REGISTRY:
        assert services[kind]["command"][:2] == ["worker", kind]
        assert "replicas" in services[kind]["deploy"]


def test_compose_runs_one_model_server_for_every_llm_user() -> None:
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    assert services["model"]["command"][:2] == ["model", "serve"]
    assert services["ollama"]["profiles"] == ["ollama"]  # only on request
    for kind in ("llm", "codegen"):
        env = services[kind]["environment"]
        assert env["SWITCHBOARD_LLM_SERVER_URL"] == "http://model:8090"
        assert env["SWITCHBOARD_LLM_ENGINE"].endswith(":-server}")
        assert "model" in services[kind]["depends_on"]
    assert "llm" in (ROOT / "Dockerfile").read_text().split(".[", 1)[1].split("]")[0].split(",")


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


def test_compose_is_closed_by_default() -> None:
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    published = {name: s["ports"] for name, s in services.items() if s.get("ports")}
    assert published == {"edge": ["127.0.0.1:8000:8000"]}  # NATS, PostgreSQL, Ollama... stay inside
    assert "--user" in services["nats"]["command"] and "--pass" in services["nats"]["command"]
    assert "nats://switchboard:" in services["edge"]["environment"]["SWITCHBOARD_NATS_URL"]
    assert "switchboard_reader:" in services["sql"]["environment"]["SWITCHBOARD_ANALYST_POSTGRES_URL"]
    assert "switchboard_app:" in services["edge"]["environment"]["SWITCHBOARD_VOICE_DB_URL"]
    assert "SWITCHBOARD_EDGE_OPEN" not in str(services)
    dockerfile = (ROOT / "Dockerfile").read_text().splitlines()
    users = [line.split()[1] for line in dockerfile if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
