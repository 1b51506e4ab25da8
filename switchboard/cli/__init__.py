"""The ``switchboard`` command: a thin layer over bus/, workers/, streams/ and edge/.

``run`` (up, worker, edge, model), ``ops`` (streams, asyncapi, replay),
``analyst``, ``voice`` and ``music`` each add their commands to ``app``.
"""

from . import run  # noqa: I001  (first: its commands lead the help)
from . import analyst, music, ops, voice
from .apps import app

__all__ = ["analyst", "app", "music", "ops", "run", "voice"]
