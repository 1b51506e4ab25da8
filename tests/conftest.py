from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import nats
import pytest

from switchboard.bus import BusSettings
from switchboard.bus.kafka import provision_kafka
from switchboard.bus.servers import ensure_nats, free_port, start_tansu
from switchboard.bus.subjects import STREAMS
from switchboard.schemas import EVENT_TYPES


@pytest.fixture(scope="session")
def nats_url() -> Iterator[str]:
    url = os.environ.get("SWITCHBOARD_NATS_URL", "nats://127.0.0.1:4222")
    proc = ensure_nats(url)
    yield url
    if proc:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    port = free_port()
    proc = start_tansu(port)
    yield f"127.0.0.1:{port}"
    proc.terminate()
    proc.wait(10)


@pytest.fixture
async def kafka_settings(kafka_bootstrap: str) -> BusSettings:
    """A fresh namespace on the session's Tansu, its topics made."""
    settings = fast_settings(broker="kafka", kafka_bootstrap=kafka_bootstrap, partitions=3)
    await provision_kafka(settings, list(EVENT_TYPES))
    return settings


@pytest.fixture(scope="session")
def duck(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built-in datasets in a DuckDB file, once per run (read only by the tests)."""
    from switchboard.workers.analyst import datasets

    path = tmp_path_factory.mktemp("data") / "analyst.duckdb"
    datasets.load_duckdb(path)
    return path


@pytest.fixture(scope="session")
def model_server_url() -> Iterator[str]:
    """One real model server (the 0.5B) for the session; LLM workers find it by env."""
    from tests.model_server import TEST_MODEL, model_server

    with model_server(TEST_MODEL, slots=4) as (url, _):
        saved = {k: os.environ.get(k) for k in ("SWITCHBOARD_LLM_SERVER_URL", "SWITCHBOARD_LLM_ENGINE")}
        os.environ.update(SWITCHBOARD_LLM_SERVER_URL=url, SWITCHBOARD_LLM_ENGINE="server")
        try:
            yield url
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


def fresh_namespace() -> str:
    return "t" + uuid.uuid4().hex[:10]


def fast_settings(**kw: object) -> BusSettings:
    base: dict[str, object] = dict(
        namespace=fresh_namespace(),
        partitions=4,
        batch=16,
        fetch_timeout_s=0.2,
        ack_wait_s=2.0,
        lease_ttl_s=2.0,
        lease_refresh_s=0.3,
        retry_backoff_s=0.01,
        max_age_s=600,
    )
    base.update(kw)
    return BusSettings(**base)  # type: ignore[arg-type]


@pytest.fixture
async def nats_settings(nats_url: str) -> AsyncIterator[BusSettings]:
    settings = fast_settings(broker="nats", nats_url=nats_url)
    yield settings
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    for spec in STREAMS:
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await js.delete_stream(spec.stream_name(settings.namespace))
    with contextlib.suppress(nats.js.errors.NotFoundError):
        await js.delete_key_value(f"{settings.namespace}_leases")
    await nc.close()
