"""The MLCommons endpoints videogen shape: ``POST /v1/videos/generations``.

``response_format`` is ``video_path`` (the server saved the MP4 and answers with its path — our
``reference`` delivery) or ``video_bytes`` (the MP4 base64-encoded in the JSON — our ``blob``). The
answer is accepted at the top level or as ``data[0]``; ``timings`` in it, or timing headers, give the
server's stamps. Encoding stays inside the measured time, as the reference answer to the issue says.
"""

from __future__ import annotations

import base64
import binascii
import json
from pathlib import Path
from typing import Any

from reelserve.bench.adapters.base import (
    AdapterContext,
    Payload,
    QueryFailed,
    post_for_video,
    request_body,
)
from reelserve.bench.config import Delivery
from reelserve.bench.dataset import Query
from reelserve.bench.http1 import HttpClient
from reelserve.bench.timeline import QueryRecord

__all__ = ["MLCommonsAdapter"]

_FORMATS = {Delivery.REFERENCE: "video_path", Delivery.BLOB: "video_bytes"}


class MLCommonsAdapter:
    name: str = "mlcommons"
    probe: tuple[str, str] = ("POST", "/v1/videos/generations")
    deliveries: tuple[Delivery, ...] = (Delivery.BLOB, Delivery.REFERENCE)

    async def run(
        self, client: HttpClient, query: Query, record: QueryRecord, ctx: AdapterContext
    ) -> Payload | None:
        cfg = ctx.config
        body = {**request_body(query, cfg), "width": cfg.width, "height": cfg.height}
        body["response_format"] = _FORMATS[ctx.delivery]
        response = await post_for_video(client, "/v1/videos/generations", body, record, ctx)
        answer = _answer(response.content)
        if isinstance(answer.get("timings"), dict):
            record.add_server_stamps(answer["timings"], ctx.anchor)
        if answer.get("id"):
            record.job_id = str(answer["id"])
        if ctx.delivery == Delivery.BLOB:
            video = _decode_bytes(answer)
            record.video_size = len(video)
            return Payload("mp4", video) if ctx.keep else None
        path = answer.get("video_path")
        if not isinstance(path, str) or not path:
            raise QueryFailed("response_format=video_path answered without a video_path", record.http_status)
        if isinstance(answer.get("size"), int):
            record.video_size = answer["size"]
        return await _fetch_path(client, path, ctx) if ctx.keep else None


def _answer(data: bytes) -> dict[str, Any]:
    try:
        answer = json.loads(data)
    except ValueError:
        raise QueryFailed("the answer is not JSON; is this an mlcommons endpoint?") from None
    if isinstance(answer, dict) and isinstance(answer.get("data"), list) and answer["data"]:
        merged = {**answer, **answer["data"][0]}
        return merged if isinstance(merged, dict) else {}
    if not isinstance(answer, dict):
        raise QueryFailed("the answer is not a JSON object")
    return answer


def _decode_bytes(answer: dict[str, Any]) -> bytes:
    encoded = answer.get("video_bytes") or answer.get("b64_json")
    if not isinstance(encoded, str):
        raise QueryFailed("response_format=video_bytes answered without video_bytes")
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise QueryFailed("video_bytes is not valid base64") from None


async def _fetch_path(client: HttpClient, path: str, ctx: AdapterContext) -> Payload | None:
    """The MP4 behind a video_path, for scoring only (after "complete"): a URL, or a file on this host."""
    if path.startswith(("http://", "https://", "/v1/")):
        response = await client.get(path, headers=ctx.headers)
        return Payload("mp4", response.content) if response.status_code < 400 else None
    file = Path(path)
    return Payload("mp4", file.read_bytes()) if file.is_file() else None
