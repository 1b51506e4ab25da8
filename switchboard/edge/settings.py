"""Edge settings, from SWITCHBOARD_EDGE_* environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class EdgeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SWITCHBOARD_EDGE_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    token: str | None = None
    """The edge's token; unset: one is made on first start and kept in ``token_file``.
    Clients present it as Authorization: Bearer, ?token= (page, WebSocket) or the cookie the page sets."""
    token_file: Path = Path(".switchboard/edge-token")
    tokens: dict[str, str] = {}
    """More tokens, each mapped to a client id (JSON: {"token": "alice"}); clients see only their own jobs."""
    open: bool = False
    """Serve anyone who can reach the edge, with no token. Only behind your own gate."""
    allowed_origins: list[str] = []
    """Web origins (besides the edge's own) whose pages may call the edge: CORS and the WebSocket Origin check."""
    max_body_bytes: int = Field(default=1_000_000, gt=0)
    max_sessions_per_client: int = Field(default=16, gt=0)
    idle_s: float = Field(default=600.0, gt=0)
    """A WebSocket that sends nothing for this long is closed."""
    max_frame_bytes: int = Field(default=256_000, gt=0)
    rate_per_s: float = Field(default=100.0, gt=0)
    """Sustained messages per second per client, across its connections; bursts up to ``rate_burst``."""
    rate_burst: int = Field(default=200, gt=0)
    redis_url: str | None = None
    """Keep the rate limits in this Redis, so every edge that uses it shares them."""
    request_timeout_s: float = Field(default=10.0, gt=0)
    """An HTTP request must arrive whole (headers and body) within this long, or its connection is closed."""
    max_sessions: int = Field(default=1_000, gt=0)
    max_connections: int = Field(default=2_000, gt=0)
    """Open HTTP and WebSocket connections the edge serves at once; more get 503."""
    job_history_s: float = Field(default=24 * 3600, gt=0)
