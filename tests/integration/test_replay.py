"""Replay a recorded slice into an isolated namespace and compare worker versions."""

from __future__ import annotations

import asyncio

import nats
import pytest
from typer.testing import CliRunner

from switchboard.bus import BusSettings
from switchboard.bus.nats.jetstream import JetStreamPublisher, provision
from switchboard.bus.nats.runner import NatsRunner
from switchboard.bus.nats.streams import copy as replay
from switchboard.bus.nats.streams import drop, read
from switchboard.bus.transport import Slice
from switchboard.cli import app
from switchboard.streams.replay import compare
from tests.helpers import collect, jobs, spawn_worker
from tests.relay import relay

pytestmark = pytest.mark.nats


async def test_replay_runs_another_version_in_isolation(nats_settings: BusSettings) -> None:
    nc = await nats.connect(nats_settings.nats_url)
    js = nc.jetstream()
    await provision(js, nats_settings)
    pub = JetStreamPublisher(nc, nats_settings, "test@1")
    live = NatsRunner(nc, relay, nats_settings)
    await live.start()
    target = nats_settings.namespace + "-rp"
    proc = None
    try:
        sent = jobs(sessions=3, per_session=4)
        for ev in sent:
            await pub.publish(ev)
        live_out = await collect(js, nats_settings.namespace, "jobs.status", len(sent))
        assert len(live_out) == 12

        with pytest.raises(ValueError):
            await replay(js, nats_settings, nats_settings.namespace, Slice(["jobs.submitted"]))
        count = await replay(
            js, nats_settings, target, Slice(["jobs.submitted"], correlation_ids={"s0", "s2"})
        )
        assert count == 8
        assert len(await read(js, target, "jobs.submitted", Slice(["jobs.submitted"], start_seq=3))) == 6

        replay_settings = nats_settings.model_copy(update={"namespace": target})
        proc = spawn_worker(replay_settings, RELAY_VERSION="2")
        replayed = await collect(js, target, "jobs.status", 8)
        assert len(replayed) == 8

        pairs = await compare(
            lambda ns, s: read(js, ns, s), nats_settings.namespace, target, "jobs.status", ["jobs.submitted"]
        )
        assert len(pairs) == 8
        assert all(p.differences == ["message"] for p in pairs)  # "n@1" vs "n@2"
        assert {p.recorded["message"].split("@")[0] for p in pairs if p.recorded} == {"0", "1", "2", "3"}
        assert all(p.latency_replayed_s is not None and p.latency_replayed_s >= 0 for p in pairs)
        # the command, as the README writes it: the inputs follow from the subject
        env = {"SWITCHBOARD_NATS_URL": nats_settings.nats_url}
        argv = ["replay", "compare", "--into", target, "--subject", "jobs.status"]
        out = await asyncio.to_thread(
            CliRunner().invoke, app, [*argv, "--namespace", nats_settings.namespace], env=env
        )
        assert out.exit_code == 0, out.output
        assert out.output.splitlines()[0] == "different: 8 outputs, 0 identical, 8 different"

        # the live namespace saw none of it
        assert len(await read(js, nats_settings.namespace, "jobs.status")) == 12
        assert len(await read(js, nats_settings.namespace, "jobs.submitted")) == 12
        # the same slice, replayed again, is deduped by event id
        await replay(js, nats_settings, target, Slice(["jobs.submitted"], correlation_ids={"s0", "s2"}))
        assert len(await read(js, target, "jobs.submitted")) == 8
    finally:
        if proc:
            proc.terminate()
            proc.wait(10)
        await live.stop()
        await drop(js, target)
        await nc.close()
