"""Logging: one line per record with the structured fields (never user text);
``SWITCHBOARD_LOG_FORMAT=json`` for one JSON object per line. Progress goes
to progress events, not logs: the libraries' progress bars are off."""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class _Fields(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extra = {k: v for k, v in record.__dict__.items() if k not in _STANDARD}
        if extra:
            line += " " + " ".join(f"{k}={v}" for k, v in sorted(extra.items()))
        return line


class _Json(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        out |= {k: v for k, v in record.__dict__.items() if k not in _STANDARD}
        if record.exc_info and record.exc_info[0]:
            out["error"] = f"{record.exc_info[0].__name__}: {record.exc_info[1]}"[:1000]
            out["traceback"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def _not_a_routine_rebalance(record: logging.LogRecord) -> bool:
    """aiokafka warns on every heartbeat during a group's rebalance: routine
    whenever a replica joins or leaves, so kept at debug level."""
    if record.levelno == logging.WARNING and "because it is rebalancing" in record.getMessage():
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
    return True


def setup(level: str = "INFO") -> None:
    """Log to stderr, as text or (``SWITCHBOARD_LOG_FORMAT=json``) JSON lines."""
    for bars in ("TQDM_DISABLE", "HF_HUB_DISABLE_PROGRESS_BARS"):
        os.environ.setdefault(bars, "1")  # progress bars are not logs
    handler = logging.StreamHandler()
    if os.environ.get("SWITCHBOARD_LOG_FORMAT", "text").lower() == "json":
        handler.setFormatter(_Json())
    else:
        handler.setFormatter(_Fields("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("nats", "aiokafka", "faststream"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    handler.addFilter(_not_a_routine_rebalance)
