"""Sessions that outlive their API process: each session's record and latest checkpoint in the store.

Written when a session is created, after every chunk (the worker state after chunk k together with
chunk k's record, one transaction) and when it ends. ``restore_open`` runs when a (restarted) process
builds its session manager: every session that had not ended comes back offloaded (its state in host
memory, no worker), with its stream position — the fMP4 encoder continues at frame
``next_index · chunk_frames`` and segment ``next_index`` — so a listener that reconnects gets chunk
k + 1, generated from chunk k's state exactly as an uninterrupted session would have.

A running session comes back paused-by-disconnect (its next listener resumes it); a session paused by
its client stays paused. The running frames hash restarts at the checkpoint (``frames_sha256_from``);
each chunk's own hash is in its record.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import TYPE_CHECKING, Any

from reelserve.engine.sessions.driver import drive
from reelserve.engine.sessions.session import Session, SessionStatus
from reelserve.engine.sessions.spec import ChunkRecord, SessionSpec
from reelserve.store.sessions import SessionRow, list_session_chunks, open_sessions, save_session

if TYPE_CHECKING:
    from reelserve.engine.sessions.manager import SessionManager

__all__ = ["persist", "persist_later", "restore_open"]

log = logging.getLogger("reelserve.engine.sessions")

_COUNTERS = ("migrations", "offloads", "recoveries", "degraded_chunks", "resume_moves", "auto_paused")


def _row(s: Session) -> SessionRow:
    facts: dict[str, Any] = {k: getattr(s, k) for k in _COUNTERS}
    facts.update(error=s.error, admission=s.admission, codec=s.codec)
    state = None if s.status.terminal else s.state
    return SessionRow(s.id, s.project, s.status.value, s.spec.to_dict(), s.next_index, state, facts,
                      s.created_at, 0.0, s.ended_at)  # fmt: skip


async def _write(mgr: SessionManager, sid: str, row: SessionRow, chunk: Any, after: Any) -> None:
    if after is not None:
        await after  # writes of one session land in order
    assert mgr.store is not None
    try:
        await asyncio.to_thread(save_session, mgr.store, row, chunk)
    except Exception:  # the stream goes on; the next chunk's write carries the state again
        log.exception("session checkpoint failed", extra={"session": sid})


def persist_later(mgr: SessionManager, s: Session, record: ChunkRecord | None = None) -> None:
    """Write the session as it is now (and one chunk record) in the background, after its previous
    write: the next chunk does not wait for the store. A process killed before the write commits
    restarts from the previous checkpoint and makes this chunk again (same frames)."""
    if mgr.store is None:
        return
    chunk = None if record is None else (record.index, dataclasses.asdict(record))
    s.persisting = asyncio.get_running_loop().create_task(_write(mgr, s.id, _row(s), chunk, s.persisting))


async def persist(mgr: SessionManager, s: Session, record: ChunkRecord | None = None) -> None:
    """Write the session (and one chunk record) now, after any write still in flight."""
    persist_later(mgr, s, record)
    if s.persisting is not None:
        await s.persisting


def _session(mgr: SessionManager, row: SessionRow) -> Session:
    spec = SessionSpec(**row.spec)
    s = Session(row.id, row.project, spec, created_at=row.created_at, state=row.state,
                next_index=row.next_index if row.state is not None else 0)  # fmt: skip
    for k in _COUNTERS:
        if k in row.facts:
            setattr(s, k, row.facts[k])
    s.admission, s.error = row.facts.get("admission"), row.facts.get("error")
    s.records = [ChunkRecord(**r) for r in list_session_chunks(mgr.store, row.id)][: s.next_index]  # type: ignore[arg-type]
    s.frames_from = s.next_index
    if row.status == SessionStatus.CREATED.value:
        return s
    was_running = row.status == SessionStatus.RUNNING.value
    s.status, s.offloaded = SessionStatus.PAUSED, s.state is not None
    s.auto_paused = was_running or bool(row.facts.get("auto_paused"))
    return s


def restore_open(mgr: SessionManager) -> int:
    """Bring back the sessions of a previous process (call on the event loop, before serving them)."""
    if mgr.store is None:
        return 0
    rows = open_sessions(mgr.store)
    for row in rows:
        s = _session(mgr, row)
        mgr.adopt(s)
        if s.status is not SessionStatus.CREATED:
            s.task = asyncio.get_running_loop().create_task(drive(mgr, s), name=f"session-{s.id}")
    if rows:
        log.info("sessions restored from the store", extra={"count": len(rows)})
    return len(rows)
