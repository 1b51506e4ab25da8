"""A flapping dependency costs a few log lines, not one per retry."""

from __future__ import annotations

import logging

import pytest

from switchboard.bus.flapping import Flapping


def test_a_thousand_failures_are_a_handful_of_lines(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("test.flapping")
    failing = Flapping(log, "lease refresh", transient=(ConnectionError,), every=100)
    with caplog.at_level(logging.WARNING, logger="test.flapping"):
        for _ in range(1000):
            failing.failed(ConnectionError("nats: connection closed"))
        failing.ok()
        failing.ok()  # working stays quiet
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 12  # the first, every 100th, the recovery
    assert lines[0].startswith("lease refresh failed (1 in a row") and "connection closed" in lines[0]
    assert lines[-1] == "lease refresh works again after 1000 failures"
    assert not any(r.exc_info for r in caplog.records)  # the broker's trouble, not a traceback
    assert failing.backoff_s == 0.5


def test_an_unexpected_error_keeps_its_traceback_once(caplog: pytest.LogCaptureFixture) -> None:
    failing = Flapping(logging.getLogger("test.flapping"), "tick", transient=(ConnectionError,))
    with caplog.at_level(logging.WARNING, logger="test.flapping"):
        waits = [failing.failed(KeyError("bug")) for _ in range(5)]
    assert len(caplog.records) == 1 and caplog.records[0].exc_info
    assert waits == [0.5, 1.0, 2.0, 4.0, 8.0]  # backs off


def test_json_logs_carry_the_fields(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from switchboard import logs

    monkeypatch.setenv("SWITCHBOARD_LOG_FORMAT", "json")
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        logs.setup()
        logging.getLogger("test.json").warning("dead letter", extra={"worker": "sql", "event_id": "e1"})
        line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
    assert line["message"] == "dead letter" and line["worker"] == "sql" and line["event_id"] == "e1"
    assert line["level"] == "WARNING" and line["time"].endswith("+00:00")
