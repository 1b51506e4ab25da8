"""Recently handled event ids, so a redelivered or re-published event is handled once.

The broker drops repeated publishes inside its dedupe window (JetStream
``Nats-Msg-Id``); this cache catches repeats that reach a consumer anyway (a
crash after publishing but before the ack, a producer retry outside the window).
Partitioning by correlation id sends repeats to the same replica.
"""

from __future__ import annotations


class SeenIds:
    """The ids of the events handled lately, so a redelivered event is handled
    once: at least the last ``capacity``, at most twice that, in two
    generations of sets (cheaper per message than an ordered dict)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._new: set[str] = set()
        self._old: set[str] = set()

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._new or event_id in self._old

    def add(self, event_id: str) -> None:
        """Remember an id; the older generation is forgotten when the newer one is full."""
        if self.capacity <= 0:
            return
        self._new.add(event_id)
        if len(self._new) >= self.capacity:
            self._old, self._new = self._new, set()

    def discard(self, event_id: str) -> None:
        """Forget an id (its outputs were not all published: handle it again)."""
        self._new.discard(event_id)
        self._old.discard(event_id)

    def __len__(self) -> int:
        return len(self._new) + len(self._old - self._new)
