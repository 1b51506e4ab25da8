"""Prometheus metrics every worker exports (latency per stage, in flight, errors)."""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Callable, Iterator, Sequence

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

_bound: Callable[[float], str] = floatToGoString  # a bucket's "le" as prometheus_client writes it


class Histogram(Collector):
    """A histogram family for the message path: plain counts, no lock per
    observation (prometheus_client's takes three), exported when scraped.
    Observed from one event loop; a scrape from another thread may see one
    observation half counted, never lose one."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str],
        buckets: Sequence[float],
        registry: CollectorRegistry = REGISTRY,
    ) -> None:
        self.name, self.documentation, self.labelnames = name, documentation, list(labelnames)
        self.bounds = [*map(float, buckets), math.inf]
        self._children: dict[tuple[str, ...], HistogramChild] = {}
        registry.register(self)

    def labels(self, *values: str) -> HistogramChild:
        """The histogram of one label set (made on first use)."""
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = HistogramChild(self.bounds)
        return child

    def collect(self) -> Iterator[HistogramMetricFamily]:
        """The family as prometheus_client exports it (cumulative buckets)."""
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for values, child in list(self._children.items()):
            counts = itertools.accumulate(list(child.counts))
            buckets = [(_bound(b), float(n)) for b, n in zip(self.bounds, counts, strict=True)]
            family.add_metric(list(values), buckets, child.sum)
        yield family


class HistogramChild:
    """One label set's buckets (``observe`` as prometheus_client's)."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: list[float]) -> None:
        self.bounds = bounds
        self.counts = [0] * len(bounds)
        self.sum = 0.0

    def observe(self, amount: float) -> None:
        """Count ``amount`` in the first bucket whose bound is at least it."""
        self.counts[bisect.bisect_left(self.bounds, amount)] += 1
        self.sum += amount

    def observe_all(self, amounts: list[float]) -> None:
        """``observe`` each of ``amounts`` (a batch's, once per batch): sorted, then
        counted a bucket at a time (most fall in the first)."""
        if len(amounts) == 1:  # a batch of one (a quiet stream)
            self.observe(amounts[0])
            return
        ordered = sorted(amounts)
        counts, below = self.counts, 0
        for i, bound in enumerate(self.bounds):
            upto = bisect.bisect_right(ordered, bound)
            counts[i] += upto - below
            below = upto
            if upto == len(ordered):
                break
        self.sum += sum(ordered)


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
