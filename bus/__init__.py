"""The bus: broker wiring, subjects, envelope headers, delivery, dead letters.

Public surface::

    from bus import BusSettings, Worker, Context, PermanentError, run_worker
"""

from .config import BusSettings
from .processor import Incoming, Processor, Verdict
from .runtime import build_broker, run_worker
from .subjects import STREAMS, address, partition_of, subject_of
from .worker import Context, PermanentError, UndeclaredOutput, Worker

__all__ = [
    "STREAMS",
    "BusSettings",
    "Context",
    "Incoming",
    "PermanentError",
    "Processor",
    "UndeclaredOutput",
    "Verdict",
    "Worker",
    "address",
    "build_broker",
    "partition_of",
    "run_worker",
    "subject_of",
]
