"""The cancel log the voice and music workers keep."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from switchboard.bus.cancels import CancelLog


def test_cancelled_since_compares_with_the_latest_cancel() -> None:
    log = CancelLog()
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    assert not log.cancelled_since("s", t0) and "s" not in log
    log.record("s", t0 + timedelta(seconds=1))
    assert log.cancelled_since("s", t0)  # an answer started before the cancel: cut
    assert not log.cancelled_since("s", t0 + timedelta(seconds=2))  # started after it: goes on
    assert "s" in log and "other" not in log


def test_only_the_most_recent_ids_are_kept() -> None:
    log = CancelLog(size=3)
    t = datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(5):
        log.record(f"s{i}", t)
    log.record("s2", t)  # cancelled again: the newest now
    log.record("s5", t)
    assert [f"s{i}" in log for i in range(6)] == [False, False, True, False, True, True]


def test_job_states_never_go_back_whatever_order_they_arrive_in() -> None:
    """A cancel racing the end of the work (and redelivered progress): in every
    order the statuses can reach the edge, the job moves only forward, and the
    first terminal state it shows is the one it keeps."""
    import itertools

    from switchboard.edge.hub import Sessions
    from switchboard.schemas import JobStatus

    said = ["queued", "running", "running", "succeeded", "cancelled", "failed"]
    order = {"queued": 0, "running": 1, "succeeded": 2, "failed": 2, "cancelled": 2}
    for arrival in set(itertools.permutations(said)):
        edge = Sessions()
        shown: list[str] = []
        for state in arrival:
            edge.job_status(
                JobStatus(correlation_id="j", kind="analyst.ask", state=state).model_dump_json().encode()
            )
            shown.append(edge.jobs["j"].state)
        assert all(order[a] <= order[b] for a, b in itertools.pairwise(shown)), (arrival, shown)
        first_end = next(s for s in arrival if order[s] == 2)
        assert shown[-1] == first_end, (arrival, shown)
