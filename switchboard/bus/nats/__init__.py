"""NATS JetStream: streams, leased partition consumers, the transport."""

from .client import connect_nats
from .jetstream import JetStreamPublisher, provision
from .runner import NatsRunner

__all__ = ["JetStreamPublisher", "NatsRunner", "connect_nats", "provision"]
