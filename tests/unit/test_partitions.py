from __future__ import annotations

from switchboard.bus.nats.leases import assign
from switchboard.bus.subjects import address, parse_address, partition_of, stream_for
from switchboard.edge.limits import TokenBucket


def test_partition_is_stable_and_spread() -> None:
    assert partition_of("session-1", 8) == partition_of("session-1", 8)
    used = {partition_of(f"s{i}", 8) for i in range(200)}
    assert used == set(range(8))


def test_addresses_round_trip() -> None:
    assert address("sb", "voice.audio.chunk", 3) == "sb.voice.audio.chunk.3"
    assert parse_address("sb", "sb.voice.audio.chunk.3") == ("voice.audio.chunk", 3)
    assert parse_address("sb", "sb.voice.audio.chunk") == ("voice.audio.chunk", None)
    assert stream_for("voice.audio.chunk").stream_name("rp-1") == "RP_1_VOICE"


def test_assignment_is_balanced_and_agreed() -> None:
    slots = [f"jobs-submitted.{p}" for p in range(8)]
    a = assign(slots, ["r2", "r1"])
    assert a == assign(slots, ["r1", "r2"])
    counts = {m: list(a.values()).count(m) for m in ("r1", "r2")}
    assert counts == {"r1": 4, "r2": 4}
    assert set(assign(slots, ["r1", "r2", "r3"]).values()) == {"r1", "r2", "r3"}
    assert assign(slots, []) == {}


def test_one_replica_owns_a_partition_of_every_subject() -> None:
    slots = [f"{s}.{p}" for s in ("voice-context", "voice-cancel") for p in range(8)]
    for members in (["r1", "r2"], ["r1", "r2", "r3"]):
        a = assign(slots, members)
        assert all(a[f"voice-context.{p}"] == a[f"voice-cancel.{p}"] for p in range(8))
        per_subject = [list(a[f"voice-cancel.{p}"] for p in range(8)).count(m) for m in members]
        assert max(per_subject) - min(per_subject) <= 1


def test_token_bucket() -> None:
    now = [0.0]
    bucket = TokenBucket(rate=2, burst=3, now=lambda: now[0])
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    now[0] = 1.0
    assert bucket.take() and bucket.take() and not bucket.take()
