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

__all__ = ["ALLOWED_FIELDS", "JsonFormatter", "configure_logging"]

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


def configure_logging(level: int = logging.INFO, stream: Any = None) -> logging.Handler:
    """Send the ``reelserve`` and ``uvicorn`` loggers to one JSON handler (returned)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    logging.Formatter.converter = time.gmtime
    for name in ("reelserve", "uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = False
    logging.getLogger("uvicorn.access").disabled = True  # our access log carries the route, not the path
    return handler
