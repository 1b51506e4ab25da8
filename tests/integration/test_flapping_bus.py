"""`switchboard up` while NATS is killed and started again: every process logs
a few lines per outage (not one per reconnect attempt, no tracebacks), and a
job submitted after each recovery succeeds. bench/bus/flapping.py runs the
same for five minutes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.flapping import KINDS, run

pytestmark = [pytest.mark.slow, pytest.mark.nats]
PROCESSES = len(KINDS.split(",")) + 1  # and the edge
LINES_PER_PROCESS = 8  # down, disconnected, lease refresh failed, works again (x2), and slack


@pytest.mark.timeout(900)
def test_a_flapping_bus_costs_a_few_lines_and_loses_no_job(tmp_path: Path) -> None:
    r = run(tmp_path, duration_s=40, up_s=10, down_s=8)
    assert r.outages >= 2
    assert r.jobs_after == ["succeeded"] * r.outages, r.jobs_after
    assert r.tracebacks == 0
    assert r.per_outage <= PROCESSES * LINES_PER_PROCESS, (r.per_outage, r.by_logger)
