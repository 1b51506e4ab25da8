"""Edge settings, from SWITCHBOARD_EDGE_* environment variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class EdgeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SWITCHBOARD_EDGE_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    token: str | None = None
    """When set, clients must present it (Authorization: Bearer, or ?token= on the WebSocket)."""
    max_frame_bytes: int = Field(default=256_000, gt=0)
    rate_per_s: float = Field(default=100.0, gt=0)
    """Sustained messages per second per client; bursts up to ``rate_burst``."""
    rate_burst: int = Field(default=200, gt=0)
    max_sessions: int = Field(default=1_000, gt=0)
    job_history_s: float = Field(default=24 * 3600, gt=0)
