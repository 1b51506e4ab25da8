"""The bus on NATS JetStream: one stream per pipeline, a durable pull consumer
per (worker kind, subject, partition) owned through KV leases (runner.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import subprocess
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import api
from typing_extensions import override

from ..config import BusSettings
from ..servers import ensure_nats
from ..subjects import address, parse_address
from ..transport import Publish, Recorded, Slice, SubjectReport, Tap, Transport
from ..worker import Worker
from . import streams
from .client import connect_nats
from .jetstream import JetStreamPublisher
from .jetstream import provision as provision_streams
from .runner import NatsRunner

log = logging.getLogger(__name__)


class NatsTransport(Transport):
    """The bus on NATS JetStream: a stream per pipeline, partitioned subjects, leased pull consumers."""

    name = "nats"
    local_server = "nats-server, streams kept in the data folder"
    unreachable: ClassVar[tuple[type[BaseException], ...]] = (OSError, nats.errors.Error)

    @override
    def _closed(self) -> None:
        self._nc: Client | None = None

    @property
    @override
    def address(self) -> str:
        return self.settings.nats_url

    @staticmethod
    @override
    def ensure_server(settings: BusSettings, data_dir: str) -> subprocess.Popen[bytes] | None:
        return ensure_nats(settings.nats_url, data_dir)

    @property
    def nc(self) -> Client:
        """The NATS connection (RuntimeError before ``start``)."""
        if self._nc is None:
            raise RuntimeError("the transport is not started")
        return self._nc

    @override
    async def start(self) -> None:
        self._nc = await connect_nats(self.settings, self.client, forever=self.patient)
        if self.provision:
            await provision_streams(self._nc.jetstream(), self.settings)

    @override
    async def close(self) -> None:
        if self._nc is not None:
            with contextlib.suppress(nats.errors.Error):
                await self._nc.drain()
            self._nc = None

    @property
    @override
    def connected(self) -> bool:
        return bool(self._nc and self._nc.is_connected)

    @override
    def publisher(self, producer: str) -> Publish:
        return JetStreamPublisher(self.nc, self.settings, producer).publish

    @contextlib.asynccontextmanager
    @override
    async def tail(
        self, subjects: list[str] | None, tap: Tap, *, from_start: bool = False
    ) -> AsyncIterator[None]:
        ns = self.settings.namespace

        async def on(msg: Msg) -> None:
            tap(parse_address(ns, msg.subject)[0], dict(msg.headers or {}), msg.data)

        subs: list[Any] = []
        try:
            if from_start:  # stored history first, then what comes: ordered consumers
                js = self.nc.jetstream()
                for subject in subjects or []:
                    subs.append(
                        await js.subscribe(
                            address(ns, subject) + ".>",
                            cb=on,
                            ordered_consumer=True,
                            deliver_policy=api.DeliverPolicy.ALL,
                        )
                    )
            else:  # live only: plain subscriptions, nothing stored is read
                patterns = [f"{ns}.>"] if subjects is None else [address(ns, s) + ".>" for s in subjects]
                for pattern in patterns:
                    subs.append(await self.nc.subscribe(pattern, cb=on))
            yield
        finally:
            for sub in subs:
                with contextlib.suppress(nats.errors.Error):
                    await sub.unsubscribe()

    @override
    async def serve(self, worker: Worker, stop: asyncio.Event) -> None:
        runner = NatsRunner(self.nc, worker, self.settings)
        await runner.start()
        log.info("worker running", extra={"worker": worker.name, "replica": runner.replica})
        await stop.wait()
        await runner.stop()

    @override
    async def read(self, namespace: str, subject: str, sl: Slice | None = None) -> list[Recorded]:
        return await streams.read(self.nc.jetstream(), namespace, subject, sl)

    @override
    async def copy(self, target_namespace: str, sl: Slice) -> int:
        return await streams.copy(self.nc.jetstream(), self.settings, target_namespace, sl)

    @override
    async def drop(self, namespace: str) -> list[str]:
        return await streams.drop(self.nc.jetstream(), namespace)

    @override
    async def report(self, readers: dict[str, list[str]]) -> list[SubjectReport]:
        return await streams.report(self.nc.jetstream(), self.settings.namespace)
