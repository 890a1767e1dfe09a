"""Structured JSON logs that carry metadata only.

The formatter writes an allow-list of fields (ids, hashes, codes, statuses, timings, routes): a
prompt, a key or an exception message can never reach a log line, whatever a caller passes in
``extra``. Exceptions are logged by type and traceback frames, without their message.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import traceback
from typing import Any

__all__ = ["ALLOWED_FIELDS", "JsonFormatter", "StderrHandler", "configure_logging"]

ALLOWED_FIELDS = frozenset(
    {
        "job", "video_id", "batch_id", "key_id", "project", "org", "role", "code", "error_type",
        "status", "method", "route", "duration_ms", "attempt", "worker", "delivery_id", "event",
        "http_status", "count", "sha256", "bytes", "variants", "admitted", "url_host", "mode",
    }
)  # fmt: skip


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": round(record.created, 6),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": str(record.msg) if not record.args else "(formatted message withheld)",
        }
        for name in ALLOWED_FIELDS:
            value = record.__dict__.get(name)
            if value is not None and isinstance(value, str | int | float | bool):
                out[name] = value
        if record.exc_info and record.exc_info[0] is not None:
            out["error_type"] = record.exc_info[0].__name__
            out["traceback"] = "".join(traceback.format_tb(record.exc_info[2]))[-4000:]
        return json.dumps(out, ensure_ascii=True)


class StderrHandler(logging.Handler):
    """Writes each record to ``sys.stderr`` as it is when the record is emitted, not as it was when the
    handler was made: when stderr is swapped (a test runner's capture, a supervisor redirecting it) and
    the old stream closed, a server thread still logging at shutdown writes to the live one instead of
    raising "I/O operation on closed file"."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            stream = sys.stderr
            stream.write(self.format(record) + "\n")
            stream.flush()
        except Exception:  # logging must never take the caller down: the stdlib's own rule
            self.handleError(record)


def configure_logging(level: int = logging.INFO, stream: Any = None) -> logging.Handler:
    """Send the ``reelserve`` and ``uvicorn`` loggers to one JSON handler (returned): to ``stream``, or
    by default to whatever ``sys.stderr`` is at each record (``StderrHandler``)."""
    handler: logging.Handler = logging.StreamHandler(stream) if stream is not None else StderrHandler()
    handler.setFormatter(JsonFormatter())
    logging.Formatter.converter = time.gmtime
    for name in ("reelserve", "uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = False
    logging.getLogger("uvicorn.access").disabled = True  # our access log carries the route, not the path
    return handler
