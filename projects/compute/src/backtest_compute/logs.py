"""Structured logs: one JSON object per line, so log pipelines need no parsing rules.

Job state changes are logged with ``event(...)``; the fields (job id, worker,
attempt, timings, outcome) travel in the record's ``fields`` attribute and are
merged into the JSON line by ``JsonFormatter``.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
import uuid
from typing import Any

import msgspec


def _default(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    return repr(value)


_encoder = msgspec.json.Encoder(enc_hook=_default)


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON line: time, level, logger, event, then the event's fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update(fields)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        try:
            return _encoder.encode(line).decode()
        except (TypeError, msgspec.EncodeError):
            return _encoder.encode({k: repr(v) for k, v in line.items()}).decode()


def event(logger: logging.Logger, message: str, level: int = logging.INFO, /, **fields: Any) -> None:
    """Log one structured event (e.g. ``event(log, "job.succeeded", job_id=..., run_ms=...)``)."""
    logger.log(level, message, extra={"fields": fields})


def configure_logging(level: str = "INFO") -> None:
    """Send JSON lines to stderr; called once by the CLI."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # psycopg's pool logs every failed reconnection attempt at warning level with a
    # traceback; our own retry logs say the same thing once, in JSON.
    logging.getLogger("psycopg.pool").setLevel(logging.ERROR)
