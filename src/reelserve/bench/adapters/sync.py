"""``POST /v1/videos/sync``: one request, the answer is the video when it is done.

The delivery mode goes in reelserve's ``delivery`` query parameter (omitted for ``blob``; a server
without it ignores it): ``blob``/``stream`` answer with MP4 bytes, ``raw`` with uint8 frames (shape in
``x-reelserve-frame-shape``), ``reference`` with JSON ``{url, sha256, bytes}``. Response headers arrive
when the server starts answering (``ready``); timing headers give the server's stamps:
``x-reelserve-timings`` (JSON of unix seconds), ``x-inference-time-s`` and ``x-stage-durations``.
"""

from __future__ import annotations

import httpx

from reelserve.bench.adapters.base import (
    AdapterContext,
    Payload,
    QueryFailed,
    error_message,
    fetch_reference,
    frame_shape,
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
        params = {} if ctx.delivery == Delivery.BLOB else {"delivery": ctx.delivery.value}
        keep_body = ctx.keep or ctx.delivery == Delivery.REFERENCE
        record.stamp("issued")
        body, trace = request_body(query, ctx.config), wire_trace(record)
        route = "/v1/videos/sync"
        async with client.stream(
            "POST", route, json=body, params=params, headers=ctx.headers, extensions=trace
        ) as response:
            record.stamp("ready")
            record.http_status = response.status_code
            if response.status_code >= 400:
                raise QueryFailed(error_message(response, await response.aread()), response.status_code)
            read_timing_headers(response.headers, record, ctx.anchor)
            data = await stream_body(response, record, keep=keep_body)
            shape = frame_shape(response.headers)
        if ctx.delivery == Delivery.REFERENCE:
            return await fetch_reference(client, Payload("reference", data), record, ctx)
        if ctx.delivery != Delivery.RAW:
            record.video_size = record.bytes_received
        if not ctx.keep:
            return None
        return Payload("raw", data, shape) if ctx.delivery == Delivery.RAW else Payload("mp4", data)
