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


def test_compose_starts_each_service_once_what_it_needs_is_healthy() -> None:
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    for name, service in services.items():
        check = service.get("healthcheck", {})
        if name == "analyst-load":  # a one-shot loader: the SQL worker waits for it to finish
            assert check == {"disable": True}
            assert services["sql"]["depends_on"]["analyst-load"] == {
                "condition": "service_completed_successfully"
            }
            continue
        assert check.get("test"), f"{name} has no healthcheck"
        if name == "nats":  # the plain nats image is a scratch build: no wget, no shell
            assert check["test"][1] == "wget" and "alpine" in service["image"]
        for needed, how in (service.get("depends_on") or {}).items():
            assert how in (
                {"condition": "service_healthy"},
                {"condition": "service_completed_successfully"},
            ), f"{name} starts before {needed} is healthy"
    for kind in REGISTRY:  # workers: healthy once ready, metrics reachable on the network
        command = services[kind]["command"]
        assert command[command.index("--metrics-host") + 1] == "0.0.0.0"
        assert services[kind]["healthcheck"]["test"][-1] == "http://127.0.0.1:9100/metrics"


def test_compose_pins_its_images_and_the_image_installs_cpu_torch() -> None:
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    for name, service in services.items():
        image = service.get("image", "")
        assert ":" in image and not image.endswith(":latest"), f"{name}: pin the image tag ({image!r})"
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "whl/cpu" in dockerfile.split('".[kafka', 1)[0], "torch's CPU build comes before the project"


def test_the_workers_healthcheck_tells_ready_from_loading() -> None:
    from prometheus_client import CollectorRegistry, Gauge, start_http_server
    from typer.testing import CliRunner

    from switchboard.bus.servers import free_port
    from switchboard.cli import app

    registry = CollectorRegistry()
    ready = Gauge("switchboard_ready", "ready", ["worker"], registry=registry)
    ready.labels("stt").set(0)
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        loading = CliRunner().invoke(app, ["probe", "--ready", url])
        assert loading.exit_code != 0 and "not ready" in loading.output
        ready.labels("stt").set(1)
        assert CliRunner().invoke(app, ["probe", "--ready", url]).exit_code == 0
        gone = CliRunner().invoke(app, ["probe", f"http://127.0.0.1:{free_port()}/metrics"])
        assert gone.exit_code != 0
    finally:
        server.shutdown()
        thread.join(5)
