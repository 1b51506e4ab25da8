"""Recently handled event ids, so a redelivered or re-published event is handled once.

The broker drops repeated publishes inside its dedupe window (JetStream
``Nats-Msg-Id``); this cache catches repeats that reach a consumer anyway (a
crash after publishing but before the ack, a producer retry outside the window).
Partitioning by correlation id sends repeats to the same replica.
"""

from __future__ import annotations

from collections import OrderedDict


class SeenIds:
    """The ids of the last ``capacity`` events handled (a redelivered event is handled once)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._ids: OrderedDict[str, None] = OrderedDict()

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._ids

    def add(self, event_id: str) -> None:
        """Remember an id; the oldest are forgotten past ``capacity``."""
        if self.capacity <= 0:
            return
        self._ids[event_id] = None
        self._ids.move_to_end(event_id)
        while len(self._ids) > self.capacity:
            self._ids.popitem(last=False)

    def discard(self, event_id: str) -> None:
        """Forget an id (its outputs were not all published: handle it again)."""
        self._ids.pop(event_id, None)

    def __len__(self) -> int:
        return len(self._ids)
