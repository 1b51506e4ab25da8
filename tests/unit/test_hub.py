"""The edge's session fan-out: a re-published event reaches a client once."""

from __future__ import annotations

from switchboard.edge.hub import SEEN_PER_SESSION, Sessions


def test_a_repeated_event_id_is_sent_to_the_session_once() -> None:
    hub = Sessions()
    queue = hub.open_session("s1")
    hub.route("s1", "voice.answer.delta", b"one", "id-1")
    hub.route("s1", "voice.answer.delta", b"one again", "id-1")  # a dead worker's output, re-published
    hub.route("s1", "voice.answer.delta", b"two", "id-2")
    assert [queue.get_nowait()[1] for _ in range(queue.qsize())] == [b"one", b"two"]
    assert hub.repeated == 1


def test_the_memory_of_ids_is_bounded_and_per_session() -> None:
    hub = Sessions()
    a, b = hub.open_session("a"), hub.open_session("b")
    hub.route("a", "jobs.status", b"x", "same")
    hub.route("b", "jobs.status", b"x", "same")  # another session's copy is its own
    assert a.qsize() == 1 and b.qsize() == 1
    for i in range(SEEN_PER_SESSION + 10):
        hub.route("a", "jobs.status", b".", f"id{i}")
    assert len(hub.seen["a"]) == SEEN_PER_SESSION
    hub.close_session("a")
    assert "a" not in hub.seen


def test_a_job_never_leaves_its_terminal_state() -> None:
    """A cancel that races the end of the work: whichever terminal state comes
    first stays, and the late statuses of steps that had not heard are ignored."""
    from switchboard.schemas import JobStatus

    def status(state: str) -> bytes:
        return JobStatus(correlation_id="j1", kind="analyst.ask", state=state).model_dump_json().encode()  # type: ignore[arg-type]

    for order, final in (
        (["queued", "running", "cancelled", "running", "failed", "succeeded"], "cancelled"),
        (["queued", "running", "succeeded", "cancelled"], "succeeded"),
        (["running", "queued", "running"], "running"),  # never back to queued
    ):
        hub = Sessions()
        seen = []
        for state in order:
            hub.job_status(status(state))
            seen.append(hub.jobs["j1"].state)
        assert seen[-1] == final, (order, seen)
        assert "queued" not in seen[seen.index("running") :], seen
