"""Settings for the bus, read from SWITCHBOARD_* environment variables."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

BATCHES_IN_HAND = 4
"""Batches a worker has in hand at most, on either broker: a NATS partition handles one
while the outputs of the others wait for the stream's acks; a Kafka poll takes this many."""


class BusSettings(BaseSettings):
    """The bus's settings (``SWITCHBOARD_*``): broker, addresses, namespace, partitions, delivery."""

    model_config = SettingsConfigDict(env_prefix="SWITCHBOARD_", extra="ignore")

    broker: Literal["nats", "kafka", "memory"] = "nats"
    nats_url: str = "nats://127.0.0.1:4222"
    kafka_bootstrap: str = "127.0.0.1:9092"
    namespace: str = Field(default="sb", pattern=r"^[a-z][a-z0-9-]{0,30}$")
    """Prefix of every subject and stream; replays run in their own namespace."""
    partitions: int = Field(default=8, ge=1, le=256)
    """Subject-token partitions per subject (Kafka: partitions per topic)."""

    batch: int = Field(default=64, ge=1, le=1_000)
    fetch_timeout_s: float = Field(default=1.0, gt=0)
    ack_wait_s: float = Field(default=30.0, gt=0)
    max_deliver: int = Field(default=5, ge=1)
    """Deliveries before a message that keeps killing workers is dead-lettered."""
    handler_retries: int = Field(default=2, ge=0)
    """In-process retries of a failing handler before the event is dead-lettered."""
    retry_backoff_s: float = Field(default=0.2, ge=0)
    dedupe_window_s: float = Field(default=120.0, gt=0)
    dedupe_cache: int = Field(default=10_000, ge=0)

    lease_ttl_s: float = Field(default=6.0, ge=1.0)
    lease_refresh_s: float = Field(default=1.5, gt=0)
    reclaim: bool = True
    """A new owner of a dead replica's partition has the messages it held redelivered
    at once (NATS); False: wait for their ack_wait, as the server alone would."""

    max_age_s: float = Field(default=7 * 24 * 3600, gt=0)
    max_bytes: int = Field(default=1 << 30, gt=0)
