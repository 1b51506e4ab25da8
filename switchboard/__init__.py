"""Switchboard: AI pipelines as stateless workers on a message bus."""

__version__ = "0.1.0"
