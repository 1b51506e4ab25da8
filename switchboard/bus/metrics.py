"""Prometheus metrics every worker exports (latency per stage, in flight, errors)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS = Counter("switchboard_events_total", "Events handled, by outcome", ["worker", "subject", "outcome"])
HANDLE_SECONDS = Histogram(
    "switchboard_handle_seconds",
    "Handler time per event",
    ["worker", "subject"],
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120),
)
WAIT_SECONDS = Histogram(
    "switchboard_wait_seconds",
    "From an event's publication to its handling: the stage's queueing (clocks of two processes)",
    ["worker", "subject"],
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120, 600),
)
IN_FLIGHT = Gauge("switchboard_in_flight", "Events being handled", ["worker"])
PARTITIONS = Gauge("switchboard_partitions_owned", "Partitions this replica owns", ["worker"])
READY = Gauge("switchboard_ready", "1 once the worker has loaded and subscribed", ["worker"])
