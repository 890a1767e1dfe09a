"""The seam between the load generator and an endpoint's request shape.

Contract of an adapter (``ApiAdapter.run``): given one query, send it the way this API wants, stamp the
query's :class:`~reelserve.bench.timeline.QueryRecord` as it goes (``issued`` first, ``complete``
last), fill ``http_status``, ``job_id``, ``bytes_received`` and the server's stamps when it gets them,
and return the video (when the context asks to keep it). A failure raises :class:`QueryFailed`; the
load generator records it on the query — nothing is dropped.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from reelserve.bench.config import BenchConfig, Delivery
from reelserve.bench.dataset import Query
from reelserve.bench.timeline import ClockAnchor, QueryRecord

__all__ = [
    "AdapterContext",
    "ApiAdapter",
    "Payload",
    "QueryFailed",
    "error_message",
    "fetch_reference",
    "frame_shape",
    "parse_shape",
    "read_timing_headers",
    "request_body",
    "stream_body",
    "wire_trace",
]

TIMINGS_HEADER = "x-reelserve-timings"  #: JSON {stamp: unix seconds}; our server's sync/stream answers


class QueryFailed(Exception):
    """One query failed; carries the HTTP status when there was one."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class Payload:
    """A finished video as the client received it."""

    kind: str  #: "mp4", "raw" (uint8 frames, row-major T×H×W×3) or "reference" (the JSON answer)
    data: bytes
    shape: tuple[int, ...] | None = None  #: raw frames only


@dataclass(frozen=True, slots=True)
class AdapterContext:
    """What an adapter needs besides the query; one per phase."""

    config: BenchConfig
    anchor: ClockAnchor
    delivery: Delivery
    keep: bool = False  #: return the video (accuracy mode)
    headers: dict[str, str] = field(default_factory=dict)


class ApiAdapter(Protocol):
    name: str
    #: (method, path) of the route whose presence proves the server speaks this API
    probe: tuple[str, str]
    #: delivery modes this request shape can express
    deliveries: tuple[Delivery, ...]

    async def run(
        self, client: httpx.AsyncClient, query: Query, record: QueryRecord, ctx: AdapterContext
    ) -> Payload | None: ...


def request_body(query: Query, cfg: BenchConfig) -> dict[str, Any]:
    """The generation settings every API gets: OpenAI names plus our flat extensions."""
    seconds = max(1, round(cfg.num_frames / cfg.fps))
    return {
        "prompt": query.prompt.prompt,
        "model": cfg.model,
        "size": f"{cfg.width}x{cfg.height}",
        "seconds": str(seconds),
        "num_frames": cfg.num_frames,
        "fps": cfg.fps,
        "num_inference_steps": cfg.steps,
        "guidance_scale": cfg.guidance_scale,
        "seed": query.seed,
    }


def error_message(response: httpx.Response, body: bytes | None = None) -> str:
    """``{error: {code, message}}`` → "code: message"; otherwise the start of the body."""
    raw = body if body is not None else response.content
    try:
        err = json.loads(raw).get("error") or json.loads(raw).get("detail")
    except (ValueError, AttributeError):
        err = None
    if isinstance(err, dict):
        return f"HTTP {response.status_code} {err.get('code', '')}: {err.get('message', '')}".strip()
    if err:
        return f"HTTP {response.status_code}: {err}"
    return f"HTTP {response.status_code}: {raw[:200].decode('utf-8', 'replace')}"


def read_timing_headers(headers: httpx.Headers, record: QueryRecord, anchor: ClockAnchor) -> None:
    """Server stamps/durations from response headers: ours, and FastVideo-style duration headers."""
    if TIMINGS_HEADER in headers:
        with contextlib.suppress(ValueError):
            record.add_server_stamps(json.loads(headers[TIMINGS_HEADER]), anchor)
    if "x-inference-time-s" in headers:
        _put_duration(record, "server_inference", headers["x-inference-time-s"])
    if "x-stage-durations" in headers:
        for name, value in _parse_pairs(headers["x-stage-durations"]).items():
            _put_duration(record, f"stage:{name}", value)
    job_id = headers.get("x-reelserve-video-id") or headers.get("x-job-id") or headers.get("x-video-id")
    if job_id:
        record.job_id = job_id


def _parse_pairs(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
        return data if isinstance(data, dict) else {}
    except ValueError:
        pairs = (item.split("=", 1) for item in text.split(",") if "=" in item)
        return {k.strip(): v.strip() for k, v in pairs}


def _put_duration(record: QueryRecord, name: str, value: Any) -> None:
    with contextlib.suppress(TypeError, ValueError):
        record.server_durations[name] = float(value)


async def stream_body(response: httpx.Response, record: QueryRecord, keep: bool) -> bytes:
    """Read a streamed body: stamps first_byte and complete, counts bytes, keeps them when asked."""
    parts: list[bytes] = []
    async for chunk in response.aiter_bytes():
        if chunk and "first_byte" not in record.stamps:
            record.stamp("first_byte")
        if keep:
            parts.append(chunk)
    record.stamp("complete")
    record.bytes_received = response.num_bytes_downloaded  # wire bytes, before any content decoding
    if "first_byte" not in record.stamps:
        record.stamps["first_byte"] = record.stamps["complete"]
    return b"".join(parts)


_WIRE_START = frozenset({"connection.connect_tcp.started", "http11.send_request_headers.started"})


def wire_trace(record: QueryRecord) -> dict[str, Callable[[str, dict[str, Any]], Awaitable[None]]]:
    """httpx ``extensions`` for a query's first request: re-stamps ``issued`` when the request reaches
    the wire (its TCP connect or its first header byte), so the HTTP library's request building and
    pool bookkeeping are not counted as the endpoint's latency. They stay visible in ``issue_lag``."""
    seen = False

    async def trace(name: str, info: dict[str, Any]) -> None:
        nonlocal seen
        if not seen and name in _WIRE_START:
            seen = True
            record.stamp("issued")

    return {"trace": trace}


def parse_shape(text: str | None) -> tuple[int, ...] | None:
    """``"17,256,256,3"`` (or ``17x256x256x3``) → a tuple; None when absent or malformed."""
    if not text:
        return None
    try:
        return tuple(int(part) for part in text.replace("x", ",").split(","))
    except ValueError:
        return None


def frame_shape(headers: httpx.Headers) -> tuple[int, ...] | None:
    """The raw-frame shape header: reelserve's ``x-reelserve-frame-shape`` or a plain ``x-frame-shape``."""
    return parse_shape(headers.get("x-reelserve-frame-shape") or headers.get("x-frame-shape"))


async def fetch_reference(
    client: httpx.AsyncClient, payload: Payload | None, record: QueryRecord, ctx: AdapterContext
) -> Payload | None:
    """A ``reference`` answer (JSON ``{url, sha256, bytes|size}``): note the size; in accuracy mode fetch
    the MP4 behind it — after ``complete``, so outside the measured time."""
    try:
        ref = json.loads(payload.data) if payload is not None else {}
    except ValueError:
        raise QueryFailed("delivery=reference answered with something that is not JSON") from None
    size = ref.get("bytes", ref.get("size")) if isinstance(ref, dict) else None
    if isinstance(size, int):
        record.video_size = size
    if not ctx.keep or not isinstance(ref, dict) or not ref.get("url"):
        return None
    response = await client.get(ref["url"], headers=ctx.headers)
    return Payload("mp4", response.content) if response.status_code < 400 else None
