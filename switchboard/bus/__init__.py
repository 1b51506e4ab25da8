"""The bus: broker wiring, subjects, envelope headers, delivery, dead letters.

Public surface::

    from switchboard.bus import BusSettings, Worker, Context, handles, PermanentError, run_worker
"""

from .config import BusSettings
from .processor import Incoming, Processor, Verdict
from .runtime import run_worker
from .subjects import STREAMS, address, partition_of, subject_of
from .transport import Transport, transport
from .worker import Context, PermanentError, UndeclaredOutput, Worker, handles

__all__ = [
    "STREAMS",
    "BusSettings",
    "Context",
    "Incoming",
    "PermanentError",
    "Processor",
    "Transport",
    "UndeclaredOutput",
    "Verdict",
    "Worker",
    "address",
    "handles",
    "partition_of",
    "run_worker",
    "subject_of",
    "transport",
]
