"""``events.jsonl``: one line per stamp of every query, in time order, then how each query ended.

Each line: ``{"t": seconds since the run started, "event": stamp name | "query_ok" | "query_error",
"query_id", "phase", ...}``. A failed query always has a ``query_error`` line with its HTTP status and
error, so nothing that went wrong is invisible in the log.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from reelserve.bench.timeline import QueryRecord

__all__ = ["event_lines", "write_events"]


def event_lines(records: list[QueryRecord], origin_ns: int) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = []
    for r in records:
        base = {"query_id": r.query_id, "phase": r.phase}
        for name, at_ns in r.stamps.items():
            lines.append({"t": (at_ns - origin_ns) / 1e9, "event": name, **base})
        end = (r.stamps.get("complete", origin_ns) - origin_ns) / 1e9
        if r.ok:
            lines.append(
                {"t": end, "event": "query_ok", **base, "bytes": r.bytes_received, "status": r.http_status}
            )
        else:
            lines.append(
                {"t": end, "event": "query_error", **base, "status": r.http_status, "error": r.error}
            )
    order = {"query_ok": 1, "query_error": 1}
    lines.sort(key=lambda line: (line["t"], order.get(line["event"], 0), line["query_id"]))
    return lines


def write_events(
    path: Path, records: list[QueryRecord], origin_ns: int, extra: list[dict[str, Any]] | None = None
) -> None:
    """Query events (and ``extra`` lines, e.g. streaming sessions'), merged in time order."""
    lines = sorted(event_lines(records, origin_ns) + (extra or []), key=lambda line: line["t"])
    with path.open("w", encoding="utf-8") as file:
        for line in lines:
            file.write(json.dumps(line) + "\n")
