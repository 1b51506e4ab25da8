"""Traces across processes: an OpenTelemetry span per handled event, the W3C
trace context carried in the envelope headers (``traceparent``), so one voice
turn or one analyst question is one trace through every worker that touched it.

Off unless configured (no cost then): ``SWITCHBOARD_OTLP_ENDPOINT`` (or the
standard ``OTEL_EXPORTER_OTLP_ENDPOINT``) sends spans over OTLP/gRPC; an
application or a test that installs its own tracer provider calls ``enable()``.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, MutableMapping

from opentelemetry import propagate, trace

log = logging.getLogger(__name__)


class Switch:
    """``Switch.on``: whether spans are made; read as is on the message path (a call is a frame more)."""

    on = False


def enabled() -> bool:
    """Are spans being made (and trace context carried)?"""
    return Switch.on


def enable(on: bool = True) -> None:
    """Make spans with the tracer provider already installed (or stop)."""
    Switch.on = on


def setup(service: str) -> bool:
    """Send spans over OTLP when an endpoint is configured; False (tracing off) otherwise."""
    endpoint = os.environ.get("SWITCHBOARD_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if not endpoint:
        return False
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    trace.set_tracer_provider(provider)
    enable()
    log.info("tracing on", extra={"endpoint": endpoint, "service": service})
    return True


def inject(headers: MutableMapping[str, str]) -> None:
    """Add the current span's trace context to outgoing headers."""
    if Switch.on:
        propagate.inject(headers)


@contextlib.contextmanager
def span(name: str, headers: MutableMapping[str, str] | None = None, **attributes: str) -> Iterator[None]:
    """A span for handling (or sending) one event, a child of the trace context in
    ``headers`` (the event's cause) when there is one."""
    if not Switch.on:
        yield
        return
    parent = propagate.extract(headers) if headers else None
    kind = trace.SpanKind.CONSUMER if headers is not None else trace.SpanKind.PRODUCER
    tracer = trace.get_tracer("switchboard")
    with tracer.start_as_current_span(name, context=parent, kind=kind, attributes=attributes):
        yield
