"""A streaming session as the API process holds it: status, placement, checkpoint, stream and listeners.

The model worker holds the live state (conditioning, the latent frame the next chunk continues
from); this object holds the parent's copy of it after the last chunk (``state``: exported bytes) —
the checkpoint used to offload to host memory, migrate, and recover from a lost worker.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from reelserve.engine.sessions.spec import ChunkRecord, SessionSpec

__all__ = ["BACKLOG_CHUNKS", "Session", "SessionStatus"]

#: Media segments kept for listeners who connect late (each segment starts with a keyframe).
BACKLOG_CHUNKS = 512

Message = bytes | dict[str, Any]


class SessionStatus(StrEnum):
    CREATED = "created"  #: waiting for its first listener
    RUNNING = "running"  #: generating chunks
    PAUSED = "paused"  #: idle by request; its state may be offloaded to host memory
    FINISHED = "finished"  #: reached max_chunks
    CLOSED = "closed"  #: closed by the client
    FAILED = "failed"  #: a permanent error; ``error`` says which

    @property
    def terminal(self) -> bool:
        return self in (SessionStatus.FINISHED, SessionStatus.CLOSED, SessionStatus.FAILED)


@dataclass(eq=False)
class Session:
    id: str
    project: str
    spec: SessionSpec
    created_at: float = field(default_factory=time.time)
    status: SessionStatus = SessionStatus.CREATED
    worker: str | None = None  #: model worker holding the live state; None = unplaced or offloaded
    state: bytes | None = None  #: checkpoint after the last chunk (host memory)
    offloaded: bool = False  #: the live state was dropped from the worker; ``state`` is all there is
    next_index: int = 0
    pending_prompt: str | None = None  #: applied before the next chunk
    pending_move: str | None = None  #: migrate to this worker at the next chunk boundary
    resumed: bool = False  #: went idle → active; its next placement applies ``sched.resume_move``
    wanted_steps: int = 0  #: adaptive quality's own choice for its last chunk, before worker alignment
    degraded_chunks: int = 0  #: chunks adaptive quality ran below the requested steps
    admission: dict[str, Any] | None = None  #: the quality decision at creation (``QualityChoice``)
    resume_moves: int = 0  #: migrations made by ``resume_move`` (counted in ``migrations`` too)
    idle_since: float | None = None
    opened: float | None = None  #: monotonic time it began generating (its TTFF clock); None = not yet
    error: dict[str, str] | None = None
    init_segment: bytes = b""
    codec: str = ""  #: MSE type, e.g. 'video/mp4; codecs="avc1.42c00a"'
    records: list[ChunkRecord] = field(default_factory=list)
    backlog: list[tuple[bytes, dict[str, Any]]] = field(default_factory=list)
    migrations: int = 0
    offloads: int = 0
    recoveries: int = 0
    frames_hash: Any = None  #: hashlib sha256 over every emitted frame (set by the driver) ...
    frames_from: int = 0  #: ... from this chunk on (> 0 after a restart restored it from the store)
    player: dict[str, Any] | None = None  #: the last playback report of a player (client telemetry)
    auto_paused: bool = False  #: paused because its last listener left; the next listener resumes it
    ended_at: float | None = None  #: when it reached a terminal status (time.time())

    def __post_init__(self) -> None:
        self.lock = asyncio.Lock()  # worker operations on this session, one at a time
        self.runnable = asyncio.Event()  # set while it should generate
        self.listeners: set[asyncio.Queue[Message | None]] = set()
        self.task: asyncio.Task[None] | None = None
        self.persisting: asyncio.Task[None] | None = None  # the store write in flight (persist.py)

    @property
    def active(self) -> bool:
        return self.status is SessionStatus.RUNNING

    def subscribe(self) -> asyncio.Queue[Message | None]:
        """A queue of messages: the init info and segment, the backlog, then live chunks; None ends it."""
        q: asyncio.Queue[Message | None] = asyncio.Queue()
        q.put_nowait(self.init_message())
        q.put_nowait(self.init_segment)
        for seg, info in self.backlog:
            q.put_nowait(seg)
            q.put_nowait(info)
        if self.status.terminal:
            q.put_nowait(self.end_message())
            q.put_nowait(None)
        else:
            self.listeners.add(q)
        return q

    def unsubscribe(self, q: asyncio.Queue[Message | None]) -> None:
        self.listeners.discard(q)

    def publish(self, segment: bytes, record: ChunkRecord) -> None:
        info = record.to_json()
        self.records.append(record)
        self.backlog.append((segment, info))
        del self.backlog[:-BACKLOG_CHUNKS]
        for q in self.listeners:
            q.put_nowait(segment)
            q.put_nowait(info)

    def end(self, status: SessionStatus, error: dict[str, str] | None = None) -> None:
        self.status = status
        self.error = error
        self.ended_at = time.time()
        self.runnable.set()  # wake a driver waiting to resume
        for q in self.listeners:
            q.put_nowait(self.end_message())
            q.put_nowait(None)
        self.listeners.clear()

    def init_message(self) -> dict[str, Any]:
        s = self.spec
        return {
            "type": "init",
            "session_id": self.id,
            "mime": self.codec,
            "width": s.width,
            "height": s.height,
            "fps": s.fps,
            "chunk_frames": s.chunk_frames,
        }

    def end_message(self) -> dict[str, Any]:
        return {"type": "end", "status": self.status.value, "chunks": len(self.records), "error": self.error}

    def describe(self) -> dict[str, Any]:
        lat = sorted(r.latency_ms for r in self.records)
        return {
            "id": self.id,
            "object": "session",
            "status": self.status.value,
            "project": self.project,
            **{k: v for k, v in self.spec.to_dict().items() if k != "negative_prompt"},
            "created_at": self.created_at,
            "worker": self.worker,
            "offloaded": self.offloaded,
            "chunks": len(self.records),
            "deadline_misses": sum(r.missed for r in self.records),
            "latency_ms_p50": lat[len(lat) // 2] if lat else None,
            "latency_ms_max": lat[-1] if lat else None,
            "migrations": self.migrations,
            "resume_moves": self.resume_moves,
            "degraded_chunks": self.degraded_chunks,
            "admission": self.admission,
            "last_quality": self.records[-1].extra.get("quality") if self.records else None,
            "offloads": self.offloads,
            "recoveries": self.recoveries,
            "state_bytes": len(self.state or b""),
            "frames_sha256": None if self.frames_hash is None else self.frames_hash.hexdigest(),
            "frames_sha256_from": self.frames_from,
            "error": self.error,
            "mime": self.codec,
            "player": self.player,
        }
