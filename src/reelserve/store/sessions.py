"""Streaming sessions in the metadata store (migration 4): the record and latest checkpoint of each
session, and one row per delivered chunk.

The engine writes a session's row when it is created, after every chunk (in one transaction with that
chunk's row: the worker state after chunk k, ``next_index = k + 1``, the spec with the prompt in force,
counters) and when it ends (the state is dropped then). A restarted API process reloads the open
sessions and continues each from its checkpoint: chunk k + 1 comes out as it would have. The state is a
few tens of KB at the sizes served here, so it lives in the row; a model with MB-sized session state
would put it in the blob store and keep the reference here.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from reelserve.store.engine import transaction
from reelserve.store.schema import Json, metadata

__all__ = [
    "SessionRow",
    "apply_v4",
    "engine_session_chunks",
    "engine_sessions",
    "get_session",
    "list_session_chunks",
    "list_sessions",
    "open_sessions",
    "save_session",
]

engine_sessions = sa.Table(
    "engine_sessions",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("project", sa.String(100), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("spec", Json, nullable=False),  #: SessionSpec.to_dict(), prompt in force
    sa.Column("next_index", sa.Integer, nullable=False),  #: the chunk the state continues into
    sa.Column("state", sa.LargeBinary, nullable=True),  #: exported worker state after chunk next_index-1
    sa.Column("state_sha256", sa.String(64), nullable=True),
    sa.Column("facts", Json, nullable=False),  #: counters, admission decision, error
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("updated_at", sa.Double, nullable=False),
    sa.Column("ended_at", sa.Double, nullable=True),
    sa.Index("ix_engine_sessions_project_created", "project", "created_at"),
    sa.Index("ix_engine_sessions_status", "status"),
)

engine_session_chunks = sa.Table(
    "engine_session_chunks",
    metadata,
    sa.Column("session_id", sa.String(40), primary_key=True),
    sa.Column("idx", sa.Integer, primary_key=True),
    sa.Column("record", Json, nullable=False),  #: ChunkRecord fields (times, worker, batch, quality)
)

#: statuses after which a session never generates again
TERMINAL = ("finished", "closed", "failed")


def apply_v4(conn: sa.Connection) -> None:
    engine_sessions.create(conn)
    engine_session_chunks.create(conn)


@dataclass(frozen=True, slots=True)
class SessionRow:
    id: str
    project: str
    status: str
    spec: dict[str, Any]
    next_index: int
    state: bytes | None  #: None before the first chunk and after the end
    facts: dict[str, Any]
    created_at: float
    updated_at: float
    ended_at: float | None = None


def save_session(engine: sa.Engine, row: SessionRow, chunk: tuple[int, dict[str, Any]] | None = None) -> None:
    """Insert or replace the session's row (and add one chunk's row) in one transaction."""
    sha = None if row.state is None else hashlib.sha256(row.state).hexdigest()
    values = {
        "project": row.project, "status": row.status, "spec": row.spec, "next_index": row.next_index,
        "state": row.state, "state_sha256": sha,
        "facts": row.facts, "created_at": row.created_at, "updated_at": time.time(), "ended_at": row.ended_at,
    }  # fmt: skip
    t = engine_sessions
    with transaction(engine, write=True) as conn:
        done = conn.execute(sa.update(t).where(t.c.id == row.id).values(**values)).rowcount
        if not done:
            conn.execute(sa.insert(t).values(id=row.id, **values))
        if chunk is not None:
            c = engine_session_chunks
            conn.execute(sa.delete(c).where(c.c.session_id == row.id, c.c.idx == chunk[0]))
            conn.execute(sa.insert(c).values(session_id=row.id, idx=chunk[0], record=chunk[1]))


def _row(r: Any) -> SessionRow:
    state = r.state
    if state is not None and hashlib.sha256(state).hexdigest() != r.state_sha256:
        state = None  # a torn or tampered checkpoint is not resumed from; the session restarts its chunk
    return SessionRow(r.id, r.project, r.status, dict(r.spec), int(r.next_index), state, dict(r.facts),
                      float(r.created_at), float(r.updated_at), r.ended_at)  # fmt: skip


def open_sessions(engine: sa.Engine) -> list[SessionRow]:
    """Sessions that have not ended, oldest first (a restarted engine resumes these)."""
    t = engine_sessions
    with transaction(engine, write=False) as conn:
        rows = conn.execute(sa.select(t).where(t.c.status.not_in(TERMINAL)).order_by(t.c.created_at)).all()
    return [_row(r) for r in rows]


def get_session(engine: sa.Engine, session_id: str) -> SessionRow | None:
    t = engine_sessions
    with transaction(engine, write=False) as conn:
        r = conn.execute(sa.select(t).where(t.c.id == session_id)).first()
    return None if r is None else _row(r)


def list_sessions(engine: sa.Engine, project: str | None = None, limit: int = 100) -> list[SessionRow]:
    """Newest first; without their state."""
    t = engine_sessions
    q = sa.select(t).order_by(t.c.created_at.desc()).limit(limit)
    if project is not None:
        q = q.where(t.c.project == project)
    with transaction(engine, write=False) as conn:
        rows = conn.execute(q).all()
    return [_row(r) for r in rows]


def list_session_chunks(engine: sa.Engine, session_id: str) -> list[dict[str, Any]]:
    c = engine_session_chunks
    with transaction(engine, write=False) as conn:
        rows = conn.execute(sa.select(c.c.record).where(c.c.session_id == session_id).order_by(c.c.idx)).all()
    return [dict(r.record) for r in rows]
