"""A replica killed mid-stream: nothing lost, no frame twice at a WebSocket
client, and its sessions move within a bound well under the default ack_wait
(the dead owner's unacked messages are reclaimed, not waited out)."""

from __future__ import annotations

import pytest

from switchboard.bus import BusSettings
from tests import failover
from tests.conftest import fast_settings

DEFAULTS = {
    "ack_wait_s": 30.0,
    "lease_ttl_s": 6.0,
    "lease_refresh_s": 1.5,
    "batch": 64,
    "fetch_timeout_s": 1.0,
}


@pytest.mark.nats
async def test_nats_failover_keeps_every_answer_once(nats_settings: BusSettings) -> None:
    settings = nats_settings.model_copy(update=DEFAULTS)
    r = await failover.run(settings, sessions=8, rate=80, after_s=8)
    assert r.dead_sessions > 0, "the killed replica served no session"
    assert r.lost == 0 and r.stored_twice == 0
    assert r.client_repeats == 0
    assert r.takeover_s is not None and r.takeover_s < 25, r  # waiting out ack_wait takes > 30 s


@pytest.mark.kafka
async def test_kafka_failover_keeps_every_answer_once(kafka_bootstrap: str) -> None:
    settings = fast_settings(broker="kafka", kafka_bootstrap=kafka_bootstrap, **DEFAULTS)
    r = await failover.run(settings, sessions=8, rate=40, after_s=10)
    assert r.dead_sessions > 0, "the killed replica served no session"
    assert r.lost == 0
    assert r.client_repeats == 0  # at least once on the bus: the edge drops what it already sent
    assert r.takeover_s is not None and r.takeover_s < 45, r
