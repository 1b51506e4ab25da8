"""Pipeline topology and tools over recorded streams: inspection, lag, replay."""
