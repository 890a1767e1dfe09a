"""The OpenAI Videos API: create a job, poll it, download its content.

``POST /v1/videos`` → job object; ``GET /v1/videos/{id}`` until ``completed``/``failed``, sleeping what
the ``openai-poll-after-ms`` header says (or ``--poll-ms``); then ``GET /v1/videos/{id}/content`` with
reelserve's ``delivery`` query parameter (a server without it ignores it and sends the MP4):

- ``blob``: no parameter — the MP4 bytes
- ``reference``: ``?delivery=reference`` — JSON ``{url, sha256, bytes}``; the MP4 itself is fetched only
  in accuracy mode, after ``complete``
- ``stream``: ``?delivery=stream`` — fragmented-MP4 segments
- ``raw``: ``?delivery=raw`` — uint8 frames, shape in ``x-reelserve-frame-shape``

When the job object carries ``timings`` (reelserve does), they become the server stamps; after the
download, one more ``GET`` reads the server's ``delivered`` stamp (outside the measured time).
"""

from __future__ import annotations

import asyncio
from typing import Any

from reelserve.bench.adapters.base import (
    AdapterContext,
    Payload,
    QueryFailed,
    error_message,
    fetch_reference,
    frame_shape,
    read_timing_headers,
    request_body,
    require_raw,
    take_body,
    take_issue,
)
from reelserve.bench.config import Delivery
from reelserve.bench.dataset import Query
from reelserve.bench.http1 import HttpClient, HttpError, Response
from reelserve.bench.timeline import QueryRecord

__all__ = ["DEFAULT_POLL_MS", "OpenAIAdapter"]

DEFAULT_POLL_MS = 200  #: when the server sends no openai-poll-after-ms header
_TERMINAL = {"completed", "failed", "cancelled", "expired"}


class OpenAIAdapter:
    name: str = "openai"
    probe: tuple[str, str] = ("POST", "/v1/videos")
    deliveries: tuple[Delivery, ...] = (Delivery.BLOB, Delivery.REFERENCE, Delivery.RAW, Delivery.STREAM)

    async def run(
        self, client: HttpClient, query: Query, record: QueryRecord, ctx: AdapterContext
    ) -> Payload | None:
        job, wait_ms = await self._create(client, query, record, ctx)
        job = await self._poll(client, job, wait_ms, record, ctx)
        self._take_job(job, record, ctx)
        params = {} if ctx.delivery == Delivery.BLOB else {"delivery": ctx.delivery.value}
        payload = await self._download(client, record, ctx, params)
        if ctx.delivery == Delivery.REFERENCE:
            payload = await fetch_reference(client, payload, record, ctx)
        if record.server_unix:
            await self._read_delivered(client, record, ctx)
        return payload

    async def _create(
        self, client: HttpClient, query: Query, record: QueryRecord, ctx: AdapterContext
    ) -> tuple[dict[str, Any], float]:
        body = request_body(query, ctx.config)
        record.stamp("issued")  # provisional: a transport failure still leaves a timeline
        response = await client.post("/v1/videos", json=body, headers=ctx.headers)
        take_issue(record, response)
        record.stamps["ready"] = response.complete_ns  # already done if the answer says so
        if response.status_code >= 400:
            raise QueryFailed(error_message(response), response.status_code)
        job: dict[str, Any] = response.json()
        record.job_id = str(job.get("id", ""))
        if not record.job_id:
            raise QueryFailed("POST /v1/videos answered without a job id", response.status_code)
        return job, ctx.config.poll_ms or _poll_after(response, DEFAULT_POLL_MS)

    async def _poll(
        self,
        client: HttpClient,
        job: dict[str, Any],
        wait_ms: float,
        record: QueryRecord,
        ctx: AdapterContext,
    ) -> dict[str, Any]:
        while job.get("status") not in _TERMINAL:
            await asyncio.sleep(wait_ms / 1000)
            response = await client.get(f"/v1/videos/{record.job_id}", headers=ctx.headers)
            record.polls += 1
            record.http_status = response.status_code
            if response.status_code >= 400:
                raise QueryFailed(error_message(response), response.status_code)
            job = response.json()
            record.stamps["ready"] = response.complete_ns  # the last poll's last byte: "it is done"
            record.bytes_received = len(response.content)  # reference delivery: the last poll is the answer
            wait_ms = ctx.config.poll_ms or _poll_after(response, wait_ms)
        if job.get("status") != "completed":
            err = job.get("error") or {}
            detail = f"{err.get('code', '')}: {err.get('message', '')}" if isinstance(err, dict) else str(err)
            raise QueryFailed(f"job {record.job_id} {job.get('status')}: {detail}", record.http_status)
        return job

    def _take_job(self, job: dict[str, Any], record: QueryRecord, ctx: AdapterContext) -> None:
        if isinstance(job.get("timings"), dict):
            record.add_server_stamps(job["timings"], ctx.anchor)
        size = job.get("bytes") or job.get("file_size") or (job.get("video") or {}).get("size")
        if isinstance(size, int):
            record.video_size = size

    async def _download(
        self, client: HttpClient, record: QueryRecord, ctx: AdapterContext, params: dict[str, str]
    ) -> Payload | None:
        url = f"/v1/videos/{record.job_id}/content"
        keep = ctx.keep or ctx.delivery == Delivery.REFERENCE
        response = await client.get(url, params=params, headers=ctx.headers, keep_body=keep)
        record.http_status = response.status_code
        if response.status_code >= 400:
            raise QueryFailed(error_message(response), response.status_code)
        read_timing_headers(response.headers, record, ctx.anchor)
        data = take_body(record, response)
        require_raw(response, ctx)
        if record.video_size is None and ctx.delivery in (Delivery.BLOB, Delivery.STREAM):
            record.video_size = record.bytes_received
        if ctx.delivery == Delivery.REFERENCE:
            return Payload("reference", data)
        if not ctx.keep:
            return None
        shape = frame_shape(response.headers)
        return Payload("raw", data, shape) if ctx.delivery == Delivery.RAW else Payload("mp4", data)

    async def _read_delivered(self, client: HttpClient, record: QueryRecord, ctx: AdapterContext) -> None:
        for attempt in range(3):  # the server may stamp "delivered" just after the last byte left
            try:
                response = await client.get(f"/v1/videos/{record.job_id}", headers=ctx.headers)
                timings = response.json().get("timings") if response.status_code < 400 else None
            except (HttpError, ValueError):
                return  # the query already completed; a missing delivered stamp only narrows the report
            if isinstance(timings, dict):
                record.add_server_stamps(timings, ctx.anchor)
            if "delivered" in record.server_unix:
                return
            await asyncio.sleep(0.05 * (attempt + 1))


def _poll_after(response: Response, current_ms: float) -> float:
    try:
        return max(1.0, float(response.headers["openai-poll-after-ms"]))
    except (KeyError, ValueError):
        return current_ms
