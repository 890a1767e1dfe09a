"""Per-query timelines: monotonic stamps, the server's stamps mapped onto them, and the intervals.

A query's life, in order (any stamp may be missing; intervals are reported only between present ones):

    scheduled   when the load pattern wanted it issued (client)
    issued      the request was handed to the HTTP client (client)
    queued      the server admitted the job (server)
    started     a worker started the model (server)
    generated   the model finished: frames exist (server)
    encoded     the MP4 is ready (server)
    finished    the job is finalized: stored, downloadable (server; reelserve sends it)
    ready       the client learned the job is done: last poll / response headers (client)
    first_byte  the first byte of the video reached the client (client)
    complete    the last byte reached the client (client) — the MLPerf "complete"

Client stamps are ``time.monotonic_ns()``. Server stamps arrive as unix seconds; a :class:`ClockAnchor`
taken at the start of the run maps them onto the monotonic clock. Intervals between two server stamps
do not depend on that mapping, so they stay exact even when the server's clock is skewed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

__all__ = ["INTERVALS", "STAMPS", "ClockAnchor", "QueryRecord"]

STAMPS: tuple[str, ...] = (
    "scheduled",
    "issued",
    "queued",
    "started",
    "generated",
    "encoded",
    "finished",
    "ready",
    "first_byte",
    "complete",
)
SERVER_STAMPS: frozenset[str] = frozenset(
    {"queued", "started", "generated", "encoded", "finished", "delivered"}
)

#: Named intervals (name → (from stamp, to stamp)). "model" is Option A, "e2e" is Option B.
INTERVALS: dict[str, tuple[str, str]] = {
    "issue_lag": ("scheduled", "issued"),  # harness: how late the query left vs its arrival time
    "admission": ("issued", "queued"),  # request travel + validation + admission
    "queue": ("queued", "started"),  # waiting for a worker
    "model": ("started", "generated"),  # Option A: model time only
    "encode": ("generated", "encoded"),  # MP4 encode
    "finalize": ("encoded", "finished"),  # storing the MP4 and its manifest; the job turns "completed"
    "notify": ("encoded", "ready"),  # done signal reaching the client (poll lag)
    "ttfb": ("ready", "first_byte"),  # content request to first byte
    "transfer": ("first_byte", "complete"),  # the video's bytes in flight
    "server": ("queued", "encoded"),  # everything the server did
    "to_encoded": ("issued", "encoded"),  # "done" = encoded video available for download
    "deliver": ("encoded", "complete"),  # MP4 ready → last byte at the client (done signal included)
    "fetch": ("ready", "complete"),  # the client knew it was done → last byte: the delivery mode's own cost
    "e2e": ("issued", "complete"),  # Option B: including encode and transmission
    "e2e_from_scheduled": ("scheduled", "complete"),  # includes client-side queueing (offline)
}


@dataclass(frozen=True, slots=True)
class ClockAnchor:
    """A (unix ns, monotonic ns) pair read together; maps server unix seconds to client monotonic ns."""

    wall_ns: int
    mono_ns: int

    @classmethod
    def now(cls) -> ClockAnchor:
        return cls(wall_ns=time.time_ns(), mono_ns=time.monotonic_ns())

    def to_mono(self, unix_s: float) -> int:
        return self.mono_ns + round(unix_s * 1e9) - self.wall_ns


@dataclass(slots=True)
class QueryRecord:
    """One query: what was asked, every stamp, and how it ended. Mutable while the query runs."""

    query_id: str
    prompt_id: str
    seed: int
    phase: str = "performance"  #: "warmup", "performance", "accuracy", "delivery:<mode>"
    delivery: str = "blob"
    stamps: dict[str, int] = field(default_factory=dict)  #: stamp → monotonic ns
    server_unix: dict[str, float] = field(default_factory=dict)  #: server stamps as sent
    server_durations: dict[str, float] = field(default_factory=dict)  #: seconds, from timing headers
    ok: bool = False
    http_status: int | None = None
    error: str | None = None
    job_id: str | None = None
    bytes_received: int = 0  #: body bytes of the video transfer (or JSON for reference/path)
    video_size: int | None = None  #: bytes of the MP4 as the server reports it
    video_path: str | None = None  #: where the MP4 was saved (accuracy mode)
    polls: int = 0
    #: client-side work outside the measured latency, seconds: "save", "client_encode", "score"
    extra: dict[str, float] = field(default_factory=dict)

    def stamp(self, name: str, at_ns: int | None = None) -> None:
        self.stamps[name] = time.monotonic_ns() if at_ns is None else at_ns

    def add_server_stamps(self, timings: dict[str, Any], anchor: ClockAnchor) -> None:
        """Take the server's unix-second stamps (job ``timings``) and place them on our clock."""
        for name, value in timings.items():
            if name in SERVER_STAMPS and isinstance(value, int | float) and value > 0:
                self.server_unix[name] = float(value)
                if name != "delivered":
                    self.stamps[name] = anchor.to_mono(float(value))

    def fail(self, error: str, http_status: int | None = None) -> None:
        self.ok = False
        self.error = error
        self.http_status = http_status if http_status is not None else self.http_status
        self.stamp("complete")

    def intervals(self) -> dict[str, float]:
        """Every named interval whose two stamps are present, in seconds."""
        out: dict[str, float] = {}
        for name, (start, end) in INTERVALS.items():
            if start in self.stamps and end in self.stamps:
                out[name] = (self.stamps[end] - self.stamps[start]) / 1e9
        server = self.server_unix
        if "delivered" in server:
            if "encoded" in server:
                out["server_delivery"] = server["delivered"] - server["encoded"]
            if "queued" in server:  # the server's whole view, to cross-check the client's e2e
                out["server_queued_to_delivered"] = server["delivered"] - server["queued"]
        for name, seconds in self.server_durations.items():
            out.setdefault(name, seconds)
        return out

    def to_dict(self, origin_ns: int) -> dict[str, Any]:
        """JSON-able, stamps as seconds since ``origin_ns`` (the run start)."""
        return {
            "query_id": self.query_id,
            "prompt_id": self.prompt_id,
            "seed": self.seed,
            "phase": self.phase,
            "delivery": self.delivery,
            "ok": self.ok,
            "http_status": self.http_status,
            "error": self.error,
            "job_id": self.job_id,
            "bytes_received": self.bytes_received,
            "video_size": self.video_size,
            "video_path": self.video_path,
            "polls": self.polls,
            "extra": self.extra,
            "t": {k: (v - origin_ns) / 1e9 for k, v in sorted(self.stamps.items(), key=lambda kv: kv[1])},
            "server_unix": self.server_unix,
            "intervals": self.intervals(),
        }
