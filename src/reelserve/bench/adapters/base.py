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
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from reelserve.bench.config import BenchConfig, Delivery
from reelserve.bench.dataset import Query
from reelserve.bench.http1 import HttpClient, Response
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
    "post_for_video",
    "read_timing_headers",
    "request_body",
    "require_raw",
    "take_body",
    "take_issue",
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
        self, client: HttpClient, query: Query, record: QueryRecord, ctx: AdapterContext
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


def error_message(response: Response) -> str:
    """``{error: {code, message}}`` → "code: message"; otherwise the start of the body."""
    raw = response.content
    try:
        err = json.loads(raw).get("error") or json.loads(raw).get("detail")
    except (ValueError, AttributeError):
        err = None
    if isinstance(err, dict):
        return f"HTTP {response.status_code} {err.get('code', '')}: {err.get('message', '')}".strip()
    if err:
        return f"HTTP {response.status_code}: {err}"
    return f"HTTP {response.status_code}: {raw[:200].decode('utf-8', 'replace')}"


def read_timing_headers(headers: Mapping[str, str], record: QueryRecord, anchor: ClockAnchor) -> None:
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


def take_issue(record: QueryRecord, response: Response) -> None:
    """The query's first request: ``issued`` = just before its write on the socket, so building the
    request and waiting for a pooled connection are not billed to the endpoint (they show in
    ``issue_lag``); its status becomes the query's."""
    record.stamps["issued"] = response.sent_ns
    record.http_status = response.status_code


def take_body(record: QueryRecord, response: Response) -> bytes:
    """The video's answer: ``first_byte`` = first read with body bytes, ``complete`` = the read that
    carried the last one; counts the body bytes (as sent: no content coding is asked for)."""
    record.stamps["first_byte"] = response.body_ns
    record.stamps["complete"] = response.complete_ns
    record.bytes_received = response.body_bytes
    record.http_status = response.status_code
    return response.content


async def post_for_video(
    client: HttpClient,
    route: str,
    body: dict[str, Any],
    record: QueryRecord,
    ctx: AdapterContext,
    params: dict[str, str] | None = None,
    keep_body: bool = True,
) -> Response:
    """One request whose answer is the video (sync, mlcommons): stamps ``issued``, ``ready`` (the
    response headers), ``first_byte`` and ``complete``, reads the timing headers; QueryFailed on an
    error status."""
    record.stamp("issued")  # provisional: a transport failure still leaves a timeline
    response = await client.post(route, json=body, params=params, headers=ctx.headers, keep_body=keep_body)
    take_issue(record, response)
    record.stamps["ready"] = response.head_ns
    if response.status_code >= 400:
        raise QueryFailed(error_message(response), response.status_code)
    read_timing_headers(response.headers, record, ctx.anchor)
    take_body(record, response)
    return response


def require_raw(response: Response, ctx: AdapterContext) -> None:
    """A ``raw`` delivery must come back as frames: a server that ignores the parameter and sends its
    MP4 would otherwise be measured (and compared) as if it had sent raw frames."""
    kind = response.headers.get("content-type", "")
    if ctx.delivery == Delivery.RAW and frame_shape(response.headers) is None and kind.startswith("video/"):
        raise QueryFailed(
            f"delivery=raw answered with {kind}: no raw frames on this route (try --api openai)",
            response.status_code,
        )


def parse_shape(text: str | None) -> tuple[int, ...] | None:
    """``"17,256,256,3"`` (or ``17x256x256x3``) → a tuple; None when absent or malformed."""
    if not text:
        return None
    try:
        return tuple(int(part) for part in text.replace("x", ",").split(","))
    except ValueError:
        return None


def frame_shape(headers: Mapping[str, str]) -> tuple[int, ...] | None:
    """The raw-frame shape header: reelserve's ``x-reelserve-frame-shape`` or a plain ``x-frame-shape``."""
    return parse_shape(headers.get("x-reelserve-frame-shape") or headers.get("x-frame-shape"))


async def fetch_reference(
    client: HttpClient, payload: Payload | None, record: QueryRecord, ctx: AdapterContext
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
