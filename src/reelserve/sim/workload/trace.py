"""Workloads read from CSV or JSONL traces.

Session traces have one row per session with ``id``, ``arrival_s`` and ``segments`` — active chunks and
idle seconds as ``"chunks:idle_s;chunks:idle_s"`` (JSONL may give a list of ``[chunks, idle_s]``) — and
optionally ``resolution``, ``compute_units``, ``frames``, ``state_mb``. Job traces have ``id``,
``arrival_s`` and optionally ``deadline_s``, ``priority``, ``width``, ``height``, ``frames``, ``steps``,
``fps``, ``model``, ``group``. The kind is told by the presence of a ``segments`` column.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from reelserve.core.errors import InvalidInput
from reelserve.core.records import Priority
from reelserve.sim.entities.session import Segment, SessionSpec
from reelserve.sim.workload.jobs import JobSpec

__all__ = ["read_rows", "read_trace"]


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a ``.csv`` or ``.jsonl`` file as dicts."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise InvalidInput(f"cannot read trace {p}: {exc}", param="trace") from exc
    if p.suffix == ".csv":
        return [dict(r) for r in csv.DictReader(text.splitlines())]
    if p.suffix in (".jsonl", ".ndjson"):
        try:
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        except ValueError as exc:
            raise InvalidInput(f"trace {p} is not valid JSONL: {exc}", param="trace") from exc
    raise InvalidInput(f"trace {p}: use a .csv or .jsonl file", param="trace")


def _segments(raw: Any) -> tuple[Segment, ...]:
    if isinstance(raw, str):
        pairs = [part.split(":") for part in raw.split(";") if part.strip()]
    else:
        pairs = list(raw)
    return tuple(Segment(int(p[0]), float(p[1]) if len(p) > 1 else 0.0) for p in pairs)


def _session(row: Mapping[str, Any]) -> SessionSpec:
    return SessionSpec(
        id=str(row["id"]),
        arrival=float(row["arrival_s"]),
        segments=_segments(row["segments"]),
        compute_units=float(row.get("compute_units") or 1.0),
        resolution=str(row.get("resolution") or "480p"),
        frames=int(row.get("frames") or 32),
        state_mb=float(row.get("state_mb") or 256.0),
    )


def _job(row: Mapping[str, Any]) -> JobSpec:
    deadline = row.get("deadline_s")
    return JobSpec(
        id=str(row["id"]),
        arrival=float(row["arrival_s"]),
        deadline=float(deadline) if deadline not in (None, "") else None,
        priority=Priority(str(row.get("priority") or "batch")),
        width=int(row.get("width") or 1280),
        height=int(row.get("height") or 720),
        frames=int(row.get("frames") or 81),
        steps=int(row.get("steps") or 20),
        fps=int(row.get("fps") or 16),
        model=str(row.get("model") or "wan"),
        group=str(row.get("group") or ""),
    )


def read_trace(path: str | Path) -> tuple[tuple[SessionSpec, ...], tuple[JobSpec, ...]]:
    """Sessions or jobs (the other tuple empty) from a trace file, sorted by arrival."""
    rows = read_rows(path)
    if not rows:
        raise InvalidInput(f"trace {path} is empty", param="trace")
    try:
        if "segments" in rows[0]:
            sessions = tuple(sorted((_session(r) for r in rows), key=lambda s: (s.arrival, s.id)))
            if any(s.arrival < 0 or s.chunks <= 0 for s in sessions):
                raise InvalidInput(f"trace {path}: arrivals must be >= 0 and sessions need chunks > 0")
            return sessions, ()
        jobs = tuple(sorted((_job(r) for r in rows), key=lambda j: (j.arrival, j.id)))
        if any(j.arrival < 0 for j in jobs):
            raise InvalidInput(f"trace {path}: arrivals must be >= 0")
        return (), jobs
    except (KeyError, ValueError, TypeError, IndexError) as exc:
        if isinstance(exc, InvalidInput):
            raise
        raise InvalidInput(f"trace {path}: bad row ({exc!r}); see reelserve.sim.workload.trace") from exc
