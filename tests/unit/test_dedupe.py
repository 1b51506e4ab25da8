"""The per-replica cache of handled event ids."""

from __future__ import annotations

from switchboard.bus.dedupe import SeenIds


def test_remembers_at_least_the_last_capacity_ids() -> None:
    seen = SeenIds(100)
    for i in range(1_000):
        seen.add(str(i))
        if i % 7 == 0:  # a batch's end
            seen.trim()
            assert len(seen) <= 100
        assert all(str(j) in seen for j in range(max(0, i - 99), i + 1))
    assert "0" not in seen


def test_a_discarded_id_is_handled_again_and_zero_capacity_remembers_nothing() -> None:
    seen = SeenIds(10)
    seen.add("a")
    seen.discard("a")
    seen.discard("never seen")
    assert "a" not in seen
    off = SeenIds(0)
    off.add("a")
    off.trim()
    assert "a" not in off and len(off) == 0
