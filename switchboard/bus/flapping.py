"""Transient failures logged once with a count, not once per retry.

A loop that retries something the network can break (a lease refresh, a
fetch) logs the first failure in one line, then every ``every``-th with the
count so far and the backoff, and once more when it works again. A
traceback comes only with the first failure of an unexpected kind (a bug,
not the broker)."""

from __future__ import annotations

import logging
from typing import Any


class Flapping:
    """The failures in a row of one retried operation."""

    def __init__(
        self,
        log: logging.Logger,
        what: str,
        *,
        transient: tuple[type[BaseException], ...] = (OSError,),
        every: int = 100,
        base_s: float = 0.5,
        cap_s: float = 30.0,
        **extra: Any,
    ) -> None:
        self.log = log
        self.what = what
        self.transient = transient
        self.every = every
        self.base_s = base_s
        self.cap_s = cap_s
        self.extra = extra
        self.failures = 0

    @property
    def backoff_s(self) -> float:
        """How long to wait before the next try: doubling from ``base_s`` up to ``cap_s``."""
        doublings = min(max(self.failures - 1, 0), 10)
        return min(self.cap_s, self.base_s * float(2**doublings))

    def failed(self, exc: BaseException) -> float:
        """Count a failure, log it when due; returns the backoff before the next try."""
        self.failures += 1
        if self.failures == 1 or self.failures % self.every == 0:
            self.log.warning(
                "%s failed (%d in a row; retrying in %.1f s): %s: %s",
                self.what,
                self.failures,
                self.backoff_s,
                type(exc).__name__,
                str(exc)[:300] or "no detail",
                extra={**self.extra, "failures": self.failures},
                exc_info=self.failures == 1 and not isinstance(exc, self.transient),
            )
        return self.backoff_s

    def ok(self) -> None:
        """The operation worked: say so once if it had been failing."""
        if self.failures:
            self.log.warning(
                "%s works again after %d failures",
                self.what,
                self.failures,
                extra={**self.extra, "failures": self.failures},
            )
            self.failures = 0
