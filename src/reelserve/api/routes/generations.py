"""``POST /v1/videos/generations``: the MLCommons endpoints videogen request shape.

The body is a video request (``docs/api.md``) that may give ``width``/``height`` instead of ``size``,
plus ``response_format``: ``video_bytes`` (default: the MP4 base64-encoded in the JSON) or
``video_path`` (the URL path of the stored MP4, ``/v1/videos/{id}/content``). The call answers when
the video is done, as ``/v1/videos/sync`` does, with the job's timestamps in ``timings``, so a
benchmark harness can split model time from encode and transmission.
"""

from __future__ import annotations

import base64
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import Field

from reelserve.api.admission import parse_body
from reelserve.api.auditlog import event
from reelserve.api.auth import Writer
from reelserve.api.errors import responses
from reelserve.api.routes.videos import IdemKey, admit_video, wait_done
from reelserve.api.schemas import VideoCreate
from reelserve.core.errors import InvalidInput, NotFound
from reelserve.core.records import Job
from reelserve.store.governance import Principal

__all__ = ["VideoGeneration", "router"]

router = APIRouter(prefix="/v1/videos", tags=["videos"])


class VideoGeneration(VideoCreate):
    """The MLCommons videogen request: a video request with optional ``width``/``height``."""

    width: int | None = Field(None, ge=16, le=8192)
    height: int | None = Field(None, ge=16, le=8192)
    response_format: Literal["video_bytes", "video_path"] = "video_bytes"


@router.post("/generations", responses=responses(400, 401, 403, 409, 422, 429))
async def create_generation(request: Request, principal: Writer, key: IdemKey = None) -> dict[str, Any]:
    """Generate a video and answer when it is done (MLCommons endpoints shape)."""
    req, _ = await parse_body(request, VideoGeneration)
    if (req.width is None) != (req.height is None):
        raise InvalidInput("give both width and height, or neither (then size)", param="width")
    fields = req.model_dump(exclude={"width", "height", "response_format"}, exclude_unset=True)
    if req.width is not None:
        if req.size is not None and req.size != f"{req.width}x{req.height}":
            raise InvalidInput(f"size {req.size} disagrees with width x height", param="size")
        fields["size"] = f"{req.width}x{req.height}"
    job = await admit_video(request, principal, key, VideoCreate(**fields))
    job = await wait_done(request, principal, job)
    services = request.app.state.services
    return await run_in_threadpool(_answer, services, principal, job, req.response_format)


def _answer(services: Any, principal: Principal, job: Job, response_format: str) -> dict[str, Any]:
    video = next((a for a in services.store.get_artifacts(job.id) if a.name == "video"), None)
    if video is None:
        raise NotFound(f"video {job.id} has no MP4", param="video_id")
    item: dict[str, Any] = {"size": video.blob.size, "sha256": video.blob.sha256}
    if response_format == "video_path":
        item["video_path"] = f"/v1/videos/{job.id}/content"
    else:
        item["video_bytes"] = base64.b64encode(services.blobs.get_bytes(video.blob)).decode("ascii")
    download = event(principal, "video.download", job.id, variant="video", delivery=response_format)
    services.audit.record(download)
    return {
        "id": job.id,
        "object": "video.generation",
        "created": int(job.created_at),
        "data": [item],
        "timings": dict(job.timings),
    }
