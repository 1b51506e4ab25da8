"""The message path's histograms export what prometheus_client's would."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client import Histogram as Reference

from switchboard.bus.metrics import HANDLE_SECONDS, Histogram


def _lines(text: bytes, name: str) -> list[str]:
    return [
        line for line in text.decode().splitlines() if line.startswith(name + "_") and "_created" not in line
    ]


def test_buckets_count_and_sum_match_prometheus_client() -> None:
    registry = CollectorRegistry()
    buckets = (0.001, 0.01, 0.1, 1, 10)
    ours = Histogram("sb_test_seconds", "test", ["worker"], buckets, registry=registry)
    ref_registry = CollectorRegistry()
    reference = Reference("sb_test_seconds", "test", ["worker"], buckets=buckets, registry=ref_registry)
    # bounds themselves, between them, past the last, zero and negative; one by one and a batch at once
    amounts = [0.0, -1.0, 0.001, 0.0011, 0.05, 1, 9.99, 10, 11, 1e9, 0.05]
    for amount in amounts:
        ours.labels("w").observe(amount)
        reference.labels("w").observe(amount)
    ours.labels("w").observe_all(amounts)
    for amount in amounts:
        reference.labels("w").observe(amount)
    ours.labels("v").observe_all([0.5])  # a batch of one
    reference.labels("v").observe(0.5)
    assert _lines(generate_latest(registry), "sb_test_seconds") == _lines(
        generate_latest(ref_registry), "sb_test_seconds"
    )


def test_the_handle_histogram_is_in_the_default_registry() -> None:
    HANDLE_SECONDS.labels("metrics-test", "jobs.submitted").observe(0.002)
    text = generate_latest().decode()
    assert (
        'switchboard_handle_seconds_bucket{le="0.005",subject="jobs.submitted",worker="metrics-test"} 1.0'
        in text
    )
