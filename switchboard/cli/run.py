"""Run the system: the whole of it (up), one worker kind, the edge, the model server."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from typing import Annotated

import typer

from .. import logs
from .apps import app, model_app
from .common import Namespace, fail, settings_for


@app.command()
def worker(
    name: Annotated[str, typer.Argument(help="Worker kind (see `switchboard workers`) or module:attribute")],
    replicas: Annotated[
        int, typer.Option(min=1, max=64, help="Processes to start; they share partitions")
    ] = 1,
    metrics_port: Annotated[int, typer.Option(help="Serve /metrics on this port (0: off)")] = 0,
    metrics_host: Annotated[
        str, typer.Option(help="Address /metrics listens on (0.0.0.0 in a container, for Prometheus)")
    ] = "127.0.0.1",
    namespace: Namespace = None,
) -> None:
    """Run a worker kind. Start more copies (here or on other machines) to scale it."""
    from switchboard.bus import tracing

    logs.setup()
    tracing.setup(f"switchboard-{name}")
    if replicas > 1:
        from ..supervise import Child, supervise

        argv = [sys.executable, "-m", "switchboard.cli", "worker", name]
        if namespace:
            argv += ["--namespace", namespace]
        children = [Child(f"{name}-{i}", argv) for i in range(replicas)]
        raise typer.Exit(supervise(children))
    from switchboard.bus.runtime import run_worker
    from switchboard.bus.transport import transport_class
    from switchboard.workers import load

    try:
        w = load(name)
    except (KeyError, ImportError, TypeError) as exc:
        fail(str(exc))
    if metrics_port:
        from prometheus_client import start_http_server

        try:
            start_http_server(metrics_port, addr=metrics_host)
        except OSError as exc:  # the port is taken (another `up`): work on without metrics
            logging.getLogger("switchboard.worker").warning(
                "no /metrics: %s:%d: %s", metrics_host, metrics_port, exc, extra={"worker": name}
            )

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_worker(w, settings_for(namespace), stop)

    settings = settings_for(namespace)
    try:
        asyncio.run(main())
    except transport_class(settings.broker).unreachable as exc:
        fail(f"cannot reach the broker at {transport_class(settings.broker)(settings).address}: {exc}")


@app.command()
def workers() -> None:
    """List the worker kinds."""
    from switchboard.workers import REGISTRY

    for name, target in sorted(REGISTRY.items()):
        typer.echo(f"{name:12} {target}")


@app.command()
def edge(
    host: Annotated[str | None, typer.Option(help="[env SWITCHBOARD_EDGE_HOST]")] = None,
    port: Annotated[int | None, typer.Option(help="[env SWITCHBOARD_EDGE_PORT]")] = None,
    namespace: Namespace = None,
) -> None:
    """Run the WebSocket edge, the HTTP job API and the web page."""
    import uvicorn

    from switchboard.bus import tracing
    from switchboard.edge.app import create_app, server_config
    from switchboard.edge.auth import ensure_token
    from switchboard.edge.settings import EdgeSettings

    logs.setup()
    tracing.setup("switchboard-edge")
    es = EdgeSettings()
    token = ensure_token(es)
    host, port = host or es.host, port if port is not None else es.port
    typer.echo(
        f"edge: http://{host}:{port}/?token={token}"
        if token
        else f"edge: http://{host}:{port}/ (open: no token)"
    )
    uvicorn.Server(server_config(create_app(settings_for(namespace), es), es, host, port)).run()


@model_app.command("serve")
def model_serve(
    model: Annotated[str | None, typer.Option(help="[env SWITCHBOARD_LLM_MODEL]")] = None,
    host: Annotated[
        str | None,
        typer.Option(help="Address to listen on (default: the host of the URL; 0.0.0.0 in a container)"),
    ] = None,
) -> None:
    """Run the model server alone: one copy of the model, parallel slots, on SWITCHBOARD_LLM_SERVER_URL."""
    from switchboard.workers.engines.llama_server import serve
    from switchboard.workers.engines.llm import SERVER_MODEL, LLMSettings

    logs.setup()
    settings = LLMSettings()
    if model:
        settings = settings.model_copy(update={"model": model})
    typer.echo(
        f"model server: {settings.model or SERVER_MODEL} on {settings.server_url}, "
        f"{settings.slots} slots of {settings.context_tokens} tokens, {settings.threads} threads"
    )
    try:
        serve(settings, host=host)
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        fail(f"model server: {exc}")


@model_app.command("status")
def model_status() -> None:
    """Whether the model server answers, and with which model."""
    from switchboard.workers.engines.llm import LLMSettings, server_state

    settings = LLMSettings()
    state = server_state(settings.server_url)
    typer.echo(f"{settings.server_url}: {state}")
    raise typer.Exit(0 if state == "ready" else 1)


def _model_server(kinds: list[str]) -> list[str] | None:
    """The command for a model server when these kinds need one and none answers here."""
    from switchboard.workers.engines.llama_server import is_local
    from switchboard.workers.engines.llm import LLMSettings, server_state

    settings = LLMSettings()
    if settings.engine != "server" or not {"llm", "codegen"} & set(kinds):
        return None
    state = server_state(settings.server_url, timeout=2.0)
    if state != "down":
        typer.echo(f"model server: {settings.server_url} ({state}, already running)")
        return None
    if not is_local(settings.server_url):
        typer.echo(f"model server: nothing answers on {settings.server_url}; the LLM workers wait for it")
        return None
    typer.echo(f"model server: {settings.server_url} (started here)")
    return [sys.executable, "-m", "switchboard.cli", "model", "serve"]


@app.command()
def up(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
    only: Annotated[
        list[str] | None, typer.Option(help="Run only these worker kinds (repeat, or comma-separated)")
    ] = None,
    data_dir: Annotated[
        str, typer.Option(help="Where an embedded NATS keeps its streams")
    ] = ".switchboard/nats",
    metrics_port: Annotated[
        int, typer.Option(help="Worker kinds' /metrics on this port and the next ones (0: off)")
    ] = 9101,
) -> None:
    """Embedded mode: start or attach to NATS, then run the edge and every worker here."""
    import os

    from switchboard.bus.transport import transport_class
    from switchboard.workers import REGISTRY

    from ..supervise import Child, supervise

    logs.setup()
    settings = settings_for()
    os.makedirs(data_dir, exist_ok=True)
    broker = transport_class(settings.broker)
    try:
        server = broker.ensure_server(settings, data_dir)
    except (RuntimeError, ImportError) as exc:
        fail(str(exc))
    where = f"{settings.broker}: {broker(settings).address}"
    typer.echo(f"{where} ({f'started here: {broker.local_server}' if server else 'already running'})")
    kinds = [k.strip() for k in ",".join(only).split(",") if k.strip()] if only else sorted(REGISTRY)
    unknown = sorted(set(kinds) - set(REGISTRY))
    if unknown:
        fail(f"unknown worker kinds {unknown}; known: {sorted(REGISTRY)}")
    me = [sys.executable, "-m", "switchboard.cli"]
    children = [Child("edge", [*me, "edge", "--host", host, "--port", str(port)])]
    model = _model_server(kinds)
    if model:  # supervised like a worker: restarted if it dies
        children.insert(0, Child("model", model))
    metrics = {k: metrics_port + i for i, k in enumerate(kinds)} if metrics_port else {}
    children += [
        Child(k, [*me, "worker", k, *(["--metrics-port", str(metrics[k])] if k in metrics else [])])
        for k in kinds
    ]
    typer.echo(f"workers: {', '.join(kinds)}")
    if metrics:
        ports = " ".join(f"{k}:{p}" for k, p in metrics.items())
        typer.echo(f"metrics: http://{host if host != '0.0.0.0' else '127.0.0.1'}:PORT/metrics for {ports}")
    from switchboard.edge.auth import ensure_token
    from switchboard.edge.settings import EdgeSettings

    token = ensure_token(EdgeSettings())
    if token is None:
        typer.echo(f"edge: http://{host}:{port}/  OPEN to anyone who can reach it (SWITCHBOARD_EDGE_OPEN)")
    else:
        typer.echo(f"edge: http://{host}:{port}/?token={token}")
        typer.echo("  (API: Authorization: Bearer <token>; the token is kept in .switchboard/edge-token)")
    try:
        supervise(children)
    finally:
        if server:
            server.terminate()
            server.wait(10)
