"""``POST /v1/videos/sync``: one request, the answer is the video when it is done.

The delivery mode goes in reelserve's ``delivery`` query parameter (omitted for ``blob``; a server
without it ignores it): ``blob``/``stream`` answer with MP4 bytes, ``raw`` with uint8 frames (shape in
``x-reelserve-frame-shape``), ``reference`` with JSON ``{url, sha256, bytes}``. Response headers arrive
when the server starts answering (``ready``); timing headers give the server's stamps:
``x-reelserve-timings`` (JSON of unix seconds), ``x-inference-time-s`` and ``x-stage-durations``.
"""

from __future__ import annotations

from reelserve.bench.adapters.base import (
    AdapterContext,
    Payload,
    fetch_reference,
    frame_shape,
    post_for_video,
    request_body,
    require_raw,
)
from reelserve.bench.config import Delivery
from reelserve.bench.dataset import Query
from reelserve.bench.http1 import HttpClient
from reelserve.bench.timeline import QueryRecord

__all__ = ["SyncAdapter"]


class SyncAdapter:
    name: str = "sync"
    probe: tuple[str, str] = ("POST", "/v1/videos/sync")
    deliveries: tuple[Delivery, ...] = (Delivery.BLOB, Delivery.REFERENCE, Delivery.RAW, Delivery.STREAM)

    async def run(
        self, client: HttpClient, query: Query, record: QueryRecord, ctx: AdapterContext
    ) -> Payload | None:
        params = {} if ctx.delivery == Delivery.BLOB else {"delivery": ctx.delivery.value}
        keep_body = ctx.keep or ctx.delivery == Delivery.REFERENCE
        body = request_body(query, ctx.config)
        response = await post_for_video(client, "/v1/videos/sync", body, record, ctx, params, keep_body)
        require_raw(response, ctx)
        data = response.content
        if ctx.delivery == Delivery.REFERENCE:
            return await fetch_reference(client, Payload("reference", data), record, ctx)
        if ctx.delivery != Delivery.RAW:
            record.video_size = record.bytes_received
        if not ctx.keep:
            return None
        shape = frame_shape(response.headers)
        return Payload("raw", data, shape) if ctx.delivery == Delivery.RAW else Payload("mp4", data)
