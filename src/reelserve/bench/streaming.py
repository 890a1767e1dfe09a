"""The streaming scenario: real-time generation sessions delivered over a WebSocket.

Wire contract (reelserve's ``api/routes/sessions.py``): ``POST /v1/sessions`` with ``prompt, model,
size, fps, chunk_frames, max_chunks, seed, num_inference_steps, guidance_scale`` answers ``{"id": ...}``;
the client opens ``/v1/sessions/{id}/stream``. Server → client: text ``{"type": "init", ...}`` then one
binary message, the fMP4 initialisation segment (not a chunk); then per chunk a binary media segment
followed by text ``{"type": "chunk", "index", ...}`` (its ``frames``, when present, correct the count);
text ``{"type": "end", "error"}`` at the end; ``{"type": "error", "message"}`` on failure. The session
ends at "end", at close, or after ``max_chunks`` media chunks.

Per session: time to first chunk (from the create request), the gap between chunks, stalls of a player
that starts at the first chunk and plays ``fps`` frames per second (a stall = the buffer ran dry), and
the delivered frame rate.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import connect
from websockets.exceptions import WebSocketException

from reelserve.bench.adapters.base import error_message
from reelserve.bench.config import BenchConfig
from reelserve.bench.dataset import Query
from reelserve.bench.http1 import HttpClient, HttpError
from reelserve.bench.stats import summarize

__all__ = [
    "SessionRecord",
    "playback_stalls",
    "run_sessions",
    "session_body",
    "session_events",
    "streaming_summary",
]


@dataclass(slots=True)
class SessionRecord:
    query_id: str
    session_id: str | None = None
    issued_ns: int = 0
    chunk_ns: list[int] = field(default_factory=list)  #: arrival of each chunk (monotonic)
    chunk_frames: list[int] = field(default_factory=list)
    chunk_bytes: list[int] = field(default_factory=list)
    init_bytes: int = 0  #: the fMP4 initialisation segment
    ended: bool = False  #: the server said "end"
    ok: bool = False
    error: str | None = None
    http_status: int | None = None

    def metrics(self, fps: int) -> dict[str, Any]:
        if not self.chunk_ns:
            return {}
        times = [(t - self.issued_ns) / 1e9 for t in self.chunk_ns]
        gaps = [b - a for a, b in itertools.pairwise(times)]
        stalls = playback_stalls(times, self.chunk_frames, fps)
        span = times[-1] - times[0]
        return {
            "time_to_first_chunk_s": times[0],
            "chunk_gaps_s": gaps,
            "stalls": len(stalls),
            "stall_time_s": sum(stalls),
            "frames": sum(self.chunk_frames),
            "bytes": sum(self.chunk_bytes) + self.init_bytes,
            "delivered_fps": sum(self.chunk_frames) / times[-1] if times[-1] > 0 else 0.0,
            "steady_fps": (sum(self.chunk_frames[1:]) / span) if span > 0 else None,
        }


def playback_stalls(arrivals_s: list[float], frames: list[int], fps: int) -> list[float]:
    """Stall durations of a player that starts at the first chunk and plays ``fps`` frames/s."""
    stalls: list[float] = []
    buffered_until = arrivals_s[0] + frames[0] / fps  # wall time at which playback runs out
    for arrival, count in zip(arrivals_s[1:], frames[1:], strict=True):
        if arrival > buffered_until:
            stalls.append(arrival - buffered_until)
            buffered_until = arrival
        buffered_until += count / fps
    return [s for s in stalls if s > 1e-3]


async def run_sessions(
    client: HttpClient, queries: list[Query], cfg: BenchConfig, headers: dict[str, str]
) -> list[SessionRecord]:
    """``len(queries)`` sessions, ``cfg.concurrency`` at a time; every one ends as a record."""
    pending = iter(queries)
    records: list[SessionRecord] = []

    async def worker() -> None:
        for query in pending:
            record = SessionRecord(query.query_id)
            try:
                await asyncio.wait_for(_one_session(client, query, cfg, headers, record), cfg.timeout_s)
                record.ok = record.error is None and bool(record.chunk_ns)
                if not record.chunk_ns and record.error is None:
                    record.error = "the stream closed before any chunk"
            except TimeoutError:
                record.error = f"timed out after {cfg.timeout_s:g} s"
            except (HttpError, WebSocketException, OSError, ValueError) as exc:
                record.error = f"{type(exc).__name__}: {exc}"
            records.append(record)

    await asyncio.gather(*(worker() for _ in range(min(cfg.concurrency, len(queries)))))
    return sorted(records, key=lambda r: r.query_id)


def session_body(query: Query, cfg: BenchConfig) -> dict[str, Any]:
    return {
        "prompt": query.prompt.prompt,
        "model": cfg.model,
        "size": f"{cfg.width}x{cfg.height}",
        "fps": cfg.fps,
        "chunk_frames": cfg.chunk_frames,
        "max_chunks": cfg.stream_chunks,
        "seed": query.seed,
        "num_inference_steps": cfg.steps,
        "guidance_scale": cfg.guidance_scale,
    }


async def _one_session(
    client: HttpClient, query: Query, cfg: BenchConfig, headers: dict[str, str], record: SessionRecord
) -> None:
    record.issued_ns = time.monotonic_ns()  # provisional: replaced by the write's stamp
    response = await client.post("/v1/sessions", json=session_body(query, cfg), headers=headers)
    record.issued_ns = response.sent_ns
    record.http_status = response.status_code
    if response.status_code >= 400:
        record.error = error_message(response)
        return
    record.session_id = str(response.json()["id"])
    base = str(client.base_url).replace("http", "ws", 1).rstrip("/")
    ws_url = f"{base}/v1/sessions/{record.session_id}/stream"
    async with connect(ws_url, additional_headers=headers, max_size=None) as ws:
        awaiting_init = False
        async for message in ws:
            if isinstance(message, bytes):
                if awaiting_init:  # the fMP4 initialisation segment: bytes, but no frames
                    awaiting_init = False
                    record.init_bytes += len(message)
                    continue
                record.chunk_ns.append(time.monotonic_ns())
                record.chunk_frames.append(cfg.chunk_frames)
                record.chunk_bytes.append(len(message))
                if len(record.chunk_ns) >= cfg.stream_chunks:
                    break
                continue
            awaiting_init = _control(json.loads(message), record, awaiting_init)
            if record.error is not None or record.ended:
                break


def _control(msg: dict[str, Any], record: SessionRecord, awaiting_init: bool) -> bool:
    """Apply one text message; returns whether the next binary message is the init segment."""
    kind = msg.get("type")
    if kind == "init":
        return True
    if kind == "chunk" and record.chunk_frames and isinstance(msg.get("frames"), int):
        record.chunk_frames[-1] = msg["frames"]
    elif kind == "error":
        record.error = f"server error: {msg.get('message') or msg.get('code', '')}"
    elif kind == "end":
        record.ended = True
        if msg.get("error"):
            record.error = f"session ended with error: {msg['error']}"
    return awaiting_init


def streaming_summary(records: list[SessionRecord], fps: int, duration_s: float) -> dict[str, Any]:
    """Session counts, first-chunk latency, chunk gaps, stalls and delivered fps over all sessions."""
    ok = [r for r in records if r.ok]
    metrics = [r.metrics(fps) for r in ok]
    steady = [m["steady_fps"] for m in metrics if m.get("steady_fps") is not None]
    return {
        "sessions": len(records),
        "completed": len(ok),
        "failed": len(records) - len(ok),
        "duration_s": duration_s,
        "time_to_first_chunk_s": summarize([m["time_to_first_chunk_s"] for m in metrics]),
        "chunk_gap_s": summarize([g for m in metrics for g in m["chunk_gaps_s"]]),
        "stalls_per_session": summarize([float(m["stalls"]) for m in metrics]),
        "stall_time_s": summarize([m["stall_time_s"] for m in metrics]),
        "delivered_fps": summarize([m["delivered_fps"] for m in metrics]),
        "steady_fps": summarize(steady),
        "target_fps": fps,
        "realtime_sessions": sum(1 for f in steady if f >= fps),
        "errors": [
            {"query_id": r.query_id, "status": r.http_status, "error": r.error} for r in records if not r.ok
        ],
    }


def session_events(records: list[SessionRecord], origin_ns: int) -> list[dict[str, Any]]:
    """events.jsonl lines for sessions: issued, each chunk, then session_ok / session_error."""
    lines: list[dict[str, Any]] = []
    for r in records:
        base = {"query_id": r.query_id, "phase": "streaming", "session_id": r.session_id}
        lines.append({"t": (r.issued_ns - origin_ns) / 1e9, "event": "issued", **base})
        for index, (at_ns, size) in enumerate(zip(r.chunk_ns, r.chunk_bytes, strict=True)):
            lines.append(
                {"t": (at_ns - origin_ns) / 1e9, "event": "chunk", "index": index, "bytes": size, **base}
            )
        end = ((r.chunk_ns[-1] if r.chunk_ns else r.issued_ns) - origin_ns) / 1e9
        ending = {"event": "session_ok"} if r.ok else {"event": "session_error", "status": r.http_status}
        lines.append({"t": end, **ending, **base, **({} if r.ok else {"error": r.error})})
    return lines
