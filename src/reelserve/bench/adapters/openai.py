"""The OpenAI Videos API: create a job, poll it, download its content.

``POST /v1/videos`` → job object; ``GET /v1/videos/{id}`` until ``completed``/``failed``, sleeping what
the ``openai-poll-after-ms`` header says (or ``--poll-ms``); then the content per delivery mode:

- ``blob``: ``GET /v1/videos/{id}/content`` (the MP4)
- ``raw``: ``GET /v1/videos/{id}/content?variant=raw`` (uint8 frames; reelserve extension)
- ``stream``: ``GET /v1/videos/{id}/content?stream=true`` right after create, no polling: the server
  pushes fMP4 bytes as they are produced (reelserve extension)
- ``reference``: no download; the completed job object is the answer (size, and url/sha256 if given)

When the job object carries ``timings`` (reelserve does), they become the server stamps; after the
download, one more ``GET`` reads the server's ``delivered`` stamp (outside the measured time).
"""

from __future__ import annotations

import asyncio
from typing import Any

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

__all__ = ["DEFAULT_POLL_MS", "OpenAIAdapter"]

DEFAULT_POLL_MS = 200  #: when the server sends no openai-poll-after-ms header
_TERMINAL = {"completed", "failed", "cancelled", "expired"}


class OpenAIAdapter:
    name: str = "openai"
    probe: tuple[str, str] = ("POST", "/v1/videos")
    deliveries: tuple[Delivery, ...] = (Delivery.BLOB, Delivery.REFERENCE, Delivery.RAW, Delivery.STREAM)

    async def run(
        self, client: httpx.AsyncClient, query: Query, record: QueryRecord, ctx: AdapterContext
    ) -> Payload | None:
        job, wait_ms = await self._create(client, query, record, ctx)
        if ctx.delivery == Delivery.STREAM:
            payload = await self._download(client, record, ctx, {"stream": "true"})
        else:
            job = await self._poll(client, job, wait_ms, record, ctx)
            record.stamp("ready")
            self._take_job(job, record, ctx)
            payload = await self._deliver(client, job, record, ctx)
        if record.server_unix or ctx.delivery == Delivery.STREAM:
            await self._read_delivered(client, record, ctx)
        return payload

    async def _create(
        self, client: httpx.AsyncClient, query: Query, record: QueryRecord, ctx: AdapterContext
    ) -> tuple[dict[str, Any], float]:
        body = request_body(query, ctx.config)
        record.stamp("issued")
        response = await client.post(
            "/v1/videos", json=body, headers=ctx.headers, extensions=wire_trace(record)
        )
        record.http_status = response.status_code
        if response.status_code >= 400:
            raise QueryFailed(error_message(response), response.status_code)
        job: dict[str, Any] = response.json()
        record.job_id = str(job.get("id", ""))
        if not record.job_id:
            raise QueryFailed("POST /v1/videos answered without a job id", response.status_code)
        return job, ctx.config.poll_ms or _poll_after(response, DEFAULT_POLL_MS)

    async def _poll(
        self,
        client: httpx.AsyncClient,
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

    async def _deliver(
        self, client: httpx.AsyncClient, job: dict[str, Any], record: QueryRecord, ctx: AdapterContext
    ) -> Payload | None:
        if ctx.delivery == Delivery.REFERENCE:
            record.stamp("first_byte")
            record.stamp("complete")
            if ctx.keep:  # accuracy needs the MP4: fetched after "complete", outside the measured time
                response = await client.get(f"/v1/videos/{record.job_id}/content", headers=ctx.headers)
                return Payload("mp4", response.content) if response.status_code < 400 else None
            return None
        params = {"variant": "raw"} if ctx.delivery == Delivery.RAW else {}
        return await self._download(client, record, ctx, params)

    async def _download(
        self, client: httpx.AsyncClient, record: QueryRecord, ctx: AdapterContext, params: dict[str, str]
    ) -> Payload | None:
        url = f"/v1/videos/{record.job_id}/content"
        async with client.stream("GET", url, params=params, headers=ctx.headers) as response:
            record.http_status = response.status_code
            if response.status_code >= 400:
                body = await response.aread()
                raise QueryFailed(error_message(response, body), response.status_code)
            if "ready" not in record.stamps:
                record.stamp("ready")
            read_timing_headers(response.headers, record, ctx.anchor)
            data = await stream_body(response, record, keep=ctx.keep)
            shape = parse_shape(response.headers.get("x-frame-shape"))
        if record.video_size is None and ctx.delivery != Delivery.RAW:
            record.video_size = record.bytes_received
        if not ctx.keep:
            return None
        return Payload("raw", data, shape) if ctx.delivery == Delivery.RAW else Payload("mp4", data)

    async def _read_delivered(
        self, client: httpx.AsyncClient, record: QueryRecord, ctx: AdapterContext
    ) -> None:
        try:
            response = await client.get(f"/v1/videos/{record.job_id}", headers=ctx.headers)
            if response.status_code < 400 and isinstance(response.json().get("timings"), dict):
                record.add_server_stamps(response.json()["timings"], ctx.anchor)
        except (httpx.HTTPError, ValueError):
            pass  # the query already completed; a missing delivered stamp only narrows the report


def _poll_after(response: httpx.Response, current_ms: float) -> float:
    try:
        return max(1.0, float(response.headers["openai-poll-after-ms"]))
    except (KeyError, ValueError):
        return current_ms
