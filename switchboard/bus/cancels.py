"""Which sessions (or jobs) were cancelled, and when: the cancel log a worker
keeps from the ``voice.cancel`` / ``jobs.cancel`` events it reads."""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime


class CancelLog:
    """The last cancel time of each of the ``size`` most recently cancelled ids."""

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._at: OrderedDict[str, datetime] = OrderedDict()

    def record(self, correlation_id: str, at: datetime) -> None:
        """``correlation_id`` was cancelled at ``at``; the oldest ids are forgotten past ``size``."""
        self._at.pop(correlation_id, None)
        self._at[correlation_id] = at
        while len(self._at) > self.size:
            self._at.popitem(last=False)

    def cancelled_since(self, correlation_id: str, t: datetime) -> bool:
        """Was ``correlation_id`` cancelled after ``t``?"""
        at = self._at.get(correlation_id)
        return at is not None and at > t

    def __contains__(self, correlation_id: object) -> bool:
        return correlation_id in self._at
