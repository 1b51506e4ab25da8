"""Recently handled event ids, so a redelivered or re-published event is handled once.

The broker drops repeated publishes inside its dedupe window (JetStream
``Nats-Msg-Id``); this cache catches repeats that reach a consumer anyway (a
crash after publishing but before the ack, a producer retry outside the window).
Partitioning by correlation id sends repeats to the same replica.
"""

from __future__ import annotations

from collections import OrderedDict


class SeenIds(OrderedDict[str, None]):
    """The ids of the events handled lately, oldest first: ``id in seen`` and
    ``seen.add(id)`` are the dict's own (no Python frame per message); ``trim``
    (once per batch) forgets all but the last ``capacity``. Ordered: a plain
    dict would scan past its deleted oldest entries on every trim."""

    def __init__(self, capacity: int) -> None:
        super().__init__()
        self.capacity = capacity

    add = OrderedDict.setdefault
    """Remember an id."""

    def discard(self, event_id: str) -> None:
        """Forget an id (its outputs were not all published: handle it again)."""
        self.pop(event_id, None)

    def trim(self) -> None:
        """Forget the oldest ids past ``capacity``."""
        pop = self.popitem
        for _ in range(len(self) - self.capacity):
            pop(last=False)
