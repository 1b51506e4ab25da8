"""Who a request is: tokens map to client ids; the edge is closed unless opened.

With no token configured the edge makes one on first start and keeps it in
``SWITCHBOARD_EDGE_TOKEN_FILE`` (mode 0600), as Jupyter does; ``switchboard
up`` prints the page's address with it. ``SWITCHBOARD_EDGE_TOKENS`` maps more
tokens to client ids (``{"token": "alice"}``); jobs and sessions belong to the
client that made them. ``SWITCHBOARD_EDGE_OPEN=1`` opens the edge to anyone
who can reach it (every caller is client ``open``).
"""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path

from .settings import EdgeSettings

COOKIE = "sb_token"
OPEN_CLIENT = "open"
DEFAULT_CLIENT = "local"


def ensure_token(settings: EdgeSettings) -> str | None:
    """The edge's own token (made and stored on first use), or None when the edge is open."""
    if settings.open:
        return None
    if settings.token:
        return settings.token
    path = Path(settings.token_file)
    try:
        token = path.read_text().strip()
        if token:
            return token
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
    return token


class Identity:
    """Token -> client id, compared in constant time."""

    def __init__(self, settings: EdgeSettings) -> None:
        self.open = settings.open
        own = ensure_token(settings)
        self.tokens = dict(settings.tokens)
        if own:
            self.tokens[own] = DEFAULT_CLIENT

    def client(self, *candidates: str | None) -> str | None:
        """The client id of the first candidate token that is known, or None."""
        if self.open:
            return OPEN_CLIENT
        for given in candidates:
            if not given:
                continue
            for token, client in self.tokens.items():
                if hmac.compare_digest(given.encode(), token.encode()):
                    return client
        return None


def bearer(authorization: str | None) -> str | None:
    if authorization and authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return None
