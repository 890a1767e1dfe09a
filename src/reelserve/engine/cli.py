"""``reelserve sessions list | show``: streaming sessions as the store holds them (``store/sessions.py``).

Per session: status, chunks, deadline misses, latency p50/max, migrations, offloads, recoveries and
chunks adaptive quality degraded; ``show`` adds one row per chunk (latency, queue, model, encode,
worker, batch, steps, miss). Live counters are also on ``/metrics`` and ``GET /v1/sessions/{id}``.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from reelserve.cli_common import DataOpt, StoreOpt, cli_errors
from reelserve.core.errors import NotFound
from reelserve.store.sessions import SessionRow, get_session, list_session_chunks, list_sessions

__all__ = ["app", "chunk_summary", "session_summary"]

app = typer.Typer(no_args_is_help=True)
sessions_app = typer.Typer(no_args_is_help=True, help="Streaming sessions: chunks, misses, moves.")
app.add_typer(sessions_app, name="sessions")
out = Console()


def chunk_summary(rec: dict[str, Any]) -> dict[str, Any]:
    """One stored chunk record as the figures a person reads (ms)."""
    extra = rec.get("extra") or {}
    return {
        "index": rec["index"],
        "latency_ms": round((rec["encoded"] - rec["requested"]) * 1000.0, 1),
        "queue_ms": round((rec["started"] - rec["requested"]) * 1000.0, 1),
        "model_ms": round((rec["generated"] - rec["started"]) * 1000.0, 1),
        "encode_ms": round((rec["encoded"] - rec["generated"]) * 1000.0, 1),
        "missed": rec["encoded"] > rec["deadline"],
        "worker": rec["worker"],
        "batch": rec["batch_size"],
        "steps": extra.get("steps"),
        "degraded": bool((extra.get("quality") or {}).get("degraded")),
    }


def session_summary(row: SessionRow, chunks: list[dict[str, Any]]) -> dict[str, Any]:
    lat = sorted(c["latency_ms"] for c in chunks)
    f = row.facts
    return {
        "id": row.id,
        "project": row.project,
        "status": row.status,
        "size": f"{row.spec['width']}x{row.spec['height']}",
        "deadline_ms": row.spec["deadline_ms"],
        "quality": row.spec.get("quality", "best_effort"),
        "chunks": len(chunks),
        "deadline_misses": sum(c["missed"] for c in chunks),
        "latency_ms_p50": lat[len(lat) // 2] if lat else None,
        "latency_ms_max": lat[-1] if lat else None,
        **{k: f.get(k, 0) for k in ("migrations", "offloads", "recoveries", "degraded_chunks")},
        "error": f.get("error"),
        "created_at": row.created_at,
        "ended_at": row.ended_at,
    }


def _summaries(engine: Any, rows: list[SessionRow]) -> list[dict[str, Any]]:
    return [session_summary(r, [chunk_summary(c) for c in list_session_chunks(engine, r.id)]) for r in rows]


def _table(rows: list[dict[str, Any]], cols: tuple[str, ...]) -> Table:
    table = Table()
    for col in cols:
        table.add_column(col, no_wrap=col == "id")
    for r in rows:
        table.add_row(*("" if r.get(c) is None else str(r.get(c)) for c in cols))
    return table


@sessions_app.command("list")
@cli_errors
def sessions_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array.")] = False,
    project: Annotated[str | None, typer.Option(help="Only this project's sessions.")] = None,
    limit: Annotated[int, typer.Option()] = 50,
    data: DataOpt = None,
    store: StoreOpt = None,
) -> None:
    """Sessions, newest first."""
    from reelserve.local import open_data_dir

    with open_data_dir(data, store) as dd:
        rows = _summaries(dd.store.engine, list_sessions(dd.store.engine, project, limit))
    if as_json:
        sys.stdout.write(json.dumps(rows) + "\n")
        return
    cols = ("id", "status", "chunks", "deadline_misses", "latency_ms_p50", "migrations", "offloads")
    out.print(_table(rows, cols))


@sessions_app.command("show")
@cli_errors
def sessions_show(
    session_id: str,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    data: DataOpt = None,
    store: StoreOpt = None,
) -> None:
    """One session: its counters and one row per chunk."""
    from reelserve.local import open_data_dir

    with open_data_dir(data, store) as dd:
        row = get_session(dd.store.engine, session_id)
        if row is None:
            raise NotFound(f"no session {session_id}; see `reelserve sessions list`")
        chunks = [chunk_summary(c) for c in list_session_chunks(dd.store.engine, session_id)]
    summary = session_summary(row, chunks)
    if as_json:
        sys.stdout.write(json.dumps({**summary, "chunk_list": chunks}) + "\n")
        return
    out.print(" ".join(f"{k}={v}" for k, v in summary.items() if v is not None))
    cols = ("index", "latency_ms", "queue_ms", "model_ms", "encode_ms", "missed", "worker", "batch", "steps")
    out.print(_table(chunks, cols))
