"""``POST /v1/videos/sync``: one request, the answer is the video when it is done.

The body carries the generation settings and, as a reelserve extension, ``delivery``: ``blob`` or
``stream`` answer with MP4 bytes (``stream`` sends them while they are produced), ``raw`` with uint8
frames (shape in ``x-frame-shape``), ``reference`` with JSON ``{url, sha256, size}``. Response headers
arrive when the server starts answering (``ready``); timing headers give the server's stamps:
``x-reelserve-timings`` (JSON of unix seconds), ``x-inference-time-s`` and ``x-stage-durations``.
"""

from __future__ import annotations

import json

import httpx

from reelserve.bench.adapters.base import (
    AdapterContext,
    Payload,
    QueryFailed,
    error_message,
    parse_shape,
    read_timing_headers,
    request_body,
    stream_body,
    wire_trace,
)
from reelserve.bench.config import Delivery
from reelserve.bench.dataset import Query
from reelserve.bench.timeline import QueryRecord

__all__ = ["SyncAdapter"]


class SyncAdapter:
    name: str = "sync"
    probe: tuple[str, str] = ("POST", "/v1/videos/sync")
    deliveries: tuple[Delivery, ...] = (Delivery.BLOB, Delivery.REFERENCE, Delivery.RAW, Delivery.STREAM)

    async def run(
        self, client: httpx.AsyncClient, query: Query, record: QueryRecord, ctx: AdapterContext
    ) -> Payload | None:
        body = {**request_body(query, ctx.config), "delivery": ctx.delivery.value}
        keep_body = ctx.keep or ctx.delivery == Delivery.REFERENCE
        record.stamp("issued")
        trace = wire_trace(record)
        async with client.stream(
            "POST", "/v1/videos/sync", json=body, headers=ctx.headers, extensions=trace
        ) as response:
            record.stamp("ready")
            record.http_status = response.status_code
            if response.status_code >= 400:
                raise QueryFailed(error_message(response, await response.aread()), response.status_code)
            read_timing_headers(response.headers, record, ctx.anchor)
            data = await stream_body(response, record, keep=keep_body)
            shape = parse_shape(response.headers.get("x-frame-shape"))
        if ctx.delivery == Delivery.REFERENCE:
            return await self._reference(client, data, record, ctx)
        if ctx.delivery != Delivery.RAW:
            record.video_size = record.bytes_received
        if not ctx.keep:
            return None
        return Payload("raw", data, shape) if ctx.delivery == Delivery.RAW else Payload("mp4", data)

    async def _reference(
        self, client: httpx.AsyncClient, data: bytes, record: QueryRecord, ctx: AdapterContext
    ) -> Payload | None:
        try:
            ref = json.loads(data)
        except ValueError:
            raise QueryFailed("delivery=reference answered with something that is not JSON") from None
        if isinstance(ref.get("size"), int):
            record.video_size = ref["size"]
        if not ctx.keep or not ref.get("url"):
            return None
        response = await client.get(ref["url"], headers=ctx.headers)  # after "complete": not measured
        return Payload("mp4", response.content) if response.status_code < 400 else None
