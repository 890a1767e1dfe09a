"""``/v1/videos``: the OpenAI Videos API (create, retrieve, list, delete, content, remix) plus ``sync``."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from starlette.responses import FileResponse

from reelserve.api.admission import check_idempotency_key, check_queue, parse_body, spec_from_fields
from reelserve.api.auditlog import event
from reelserve.api.auth import Reader, Writer
from reelserve.api.delivery import Delivery, Variant, deliver
from reelserve.api.errors import responses
from reelserve.api.openapi import POLL_RESPONSE, SYNC_HEADERS, body
from reelserve.api.present import intervals, to_video
from reelserve.api.schemas import Video, VideoCreate, VideoDeleted, VideoList, VideoRemix
from reelserve.core.errors import Conflict, InvalidInput, NotFound
from reelserve.core.ids import sha256_bytes
from reelserve.core.records import GenerationSpec, Job, JobStatus, Priority, StageRecord
from reelserve.engine.admission import admit_job, engine_cost
from reelserve.engine.facts import job_engine_facts
from reelserve.store.governance import Principal
from reelserve.store.stats import job_with_stages

__all__ = ["router"]

router = APIRouter(prefix="/v1/videos", tags=["videos"])
IdemKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]
_READ = responses(401, 404)
_WRITE = responses(400, 401, 403, 413, 422, 429)
MAX_REFERENCE_BYTES = 10 * 1024 * 1024


def _services(request: Request) -> Any:
    return request.app.state.services


def owned_job(services: Any, principal: Principal, video_id: str) -> Job:
    """The job if it is in the principal's project; 404 otherwise (also for another project's)."""
    job = services.store.get_job(video_id) if len(video_id) <= 40 else None
    if job is None or job.project != principal.scope:
        raise NotFound(f"no video {video_id!r} in this project", param="video_id")
    return job


def _admit(
    services: Any, principal: Principal, spec: GenerationSpec, extra: dict[str, Any], *,
    priority: str, deadline: float | None, key: str | None, action: str = "video.create",
) -> Job:  # fmt: skip
    settings = services.settings
    check_queue(services.metrics.queued(), 1, settings.max_queue, settings.retry_after_s)
    job, created = services.store.create_job(
        project=principal.scope,
        kind="t2v",
        spec={**spec.to_dict(), **extra},
        priority=Priority(priority),
        idempotency_key=key,
        deadline=deadline,
    )
    detail = {"model": spec.model, "prompt_sha256": sha256_bytes(spec.prompt.encode()), "created": created}
    services.audit.record(event(principal, action, job.id, **detail), wait=True)
    return job


async def admit_video(
    request: Request, principal: Principal, key: str | None, parsed: VideoCreate | None = None
) -> Job:
    """Admit the request's video (``parsed``: a body another route already read as a VideoCreate)."""
    services = _services(request)
    req, uploads = (parsed, {}) if parsed is not None else await parse_body(request, VideoCreate)
    extra: dict[str, Any] = {}
    if (ref := uploads.get("input_reference")) is not None:
        if len(ref.data) > MAX_REFERENCE_BYTES:
            raise InvalidInput("input_reference is over 10 MiB", param="input_reference")
        blob = await run_in_threadpool(services.blobs.put_bytes, ref.data, "durable", ".ref")
        extra["input_reference"] = {
            "sha256": blob.sha256,
            "bytes": blob.size,
            "content_type": ref.content_type,
        }
    spec = spec_from_fields(req.prompt, req)
    budget = None if req.deadline is None else req.deadline - time.time()
    spec, quality = admit_job(spec, req.quality, req.min_steps, budget, services.metrics.queued(),
                              *engine_cost(request.app))  # fmt: skip
    if quality is not None:
        extra["quality"] = quality
    key = check_idempotency_key(key)
    return await run_in_threadpool(
        _admit, services, principal, spec, extra, priority=req.priority, deadline=req.deadline, key=key
    )


def _video(job: Job, stages: list[StageRecord] | None = None) -> Video:
    """The Video object with the engine's facts (worker, batch, preemptions, waits, quality decision)."""
    return to_video(job, stages).model_copy(update={"engine": job_engine_facts(job, stages or [])})


def _poll_header(response: Response, job: Job, services: Any) -> None:
    if not job.status.terminal:
        response.headers["openai-poll-after-ms"] = str(services.settings.poll_after_ms)


@router.post(
    "",
    response_model=Video,
    responses=POLL_RESPONSE | _WRITE,
    openapi_extra=body(VideoCreate, multipart_file="input_reference"),
)
async def create_video(request: Request, response: Response, principal: Writer, key: IdemKey = None) -> Video:
    """Create a video job (JSON, or multipart with an optional `input_reference` file)."""
    job = await admit_video(request, principal, key)
    _poll_header(response, job, _services(request))
    return _video(job)


@router.post(
    "/sync",
    response_class=FileResponse,
    responses={200: {"content": {"video/mp4": {}}, "description": "The MP4", "headers": SYNC_HEADERS},
               **_WRITE, 409: responses(409)[409]},
    openapi_extra=body(VideoCreate),
)  # fmt: skip
async def create_video_sync(
    request: Request, principal: Writer, key: IdemKey = None, delivery: Delivery = Delivery.BLOB
) -> Response:
    """Create a video and answer with it when done, in the chosen delivery mode (the MP4 by
    default); `X-Reelserve-*` headers carry the timings."""
    job = await wait_done(request, principal, await admit_video(request, principal, key))
    base = _services(request).settings.public_url or str(request.base_url)
    return await run_in_threadpool(_sync_file, _services(request), principal, job, delivery, base)


async def wait_done(request: Request, principal: Principal, job: Job) -> Job:
    """Wait until the job has SUCCEEDED (409 on failure, on the sync timeout, or — after
    cancelling the job — when the client goes away)."""
    services = _services(request)
    deadline = time.monotonic() + services.settings.sync_timeout_s
    while not job.status.terminal:
        if await request.is_disconnected():
            await run_in_threadpool(_cancel, services, principal, job)
            raise Conflict(f"the client went away; video {job.id} was cancelled", param="video_id")
        if time.monotonic() > deadline:
            raise Conflict(f"video {job.id} is not done yet; poll GET /v1/videos/{job.id}", param="video_id")
        await asyncio.sleep(0.05)
        job = await run_in_threadpool(services.store.get_job, job.id)
    if job.status is not JobStatus.SUCCEEDED:
        video = to_video(job)
        code = video.error.code if video.error else "failed"
        raise Conflict(f"video {job.id} {job.status.value}: {code}", param="video_id", code=code)
    return job


def _sync_file(services: Any, principal: Principal, job: Job, mode: Delivery, base_url: str) -> Response:
    video = next((a for a in services.store.get_artifacts(job.id) if a.name == "video"), None)
    if video is None:
        raise NotFound(f"video {job.id} has no MP4", param="video_id")
    spans = intervals(job.timings)
    headers = {
        "X-Reelserve-Video-Id": job.id,
        "X-Reelserve-Timings": json.dumps(job.timings, separators=(",", ":")),
        **{
            f"X-Reelserve-{name.replace('_', '-').title()}-S": f"{value:.6f}" for name, value in spans.items()
        },
    }
    download = event(principal, "video.download", job.id, variant="video", delivery=f"sync:{mode}")
    services.audit.record(download)
    resp = deliver(services.store, services.blobs, job, video, variant=Variant.VIDEO, mode=mode,
                   base_url=base_url, stream_chunk_frames=services.settings.stream_chunk_frames)  # fmt: skip
    resp.headers.update(headers)
    return resp


@router.get("", response_model=VideoList, responses=responses(400, 401))
def list_videos(
    request: Request,
    principal: Reader,
    after: Annotated[str | None, Query(max_length=40)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    order: Annotated[str, Query(pattern="^(asc|desc)$")] = "desc",
) -> VideoList:
    """Videos of the key's project, newest first by default; `after` is the last id of the previous page."""
    services = _services(request)
    jobs = services.store.list_jobs(project=principal.scope, after=after, limit=limit + 1, order=order)
    page = jobs[:limit]
    services.audit.record(event(principal, "video.list", principal.scope, count=len(page)))
    return VideoList(
        data=[_video(j) for j in page],
        first_id=page[0].id if page else None,
        last_id=page[-1].id if page else None,
        has_more=len(jobs) > limit,
    )


async def _read_job(services: Any, video_id: str) -> tuple[Job | None, list[Any]]:
    # A local SQLite read (~0.1 ms) is cheaper on the event loop than a thread hop, and keeps the loop
    # from convoying on the GIL with threadpool threads; a network round trip to PostgreSQL is not.
    if services.store.backend == "sqlite":
        return job_with_stages(services.store.engine, video_id)
    return await run_in_threadpool(job_with_stages, services.store.engine, video_id)


@router.get("/{video_id}", response_model=Video, responses=POLL_RESPONSE | _READ)
async def retrieve_video(video_id: str, request: Request, principal: Reader) -> Response:
    """One video with per-stage progress, timings and a bottleneck hint.

    Polled hard (create_and_poll), so it avoids FastAPI's thread hops and re-validation."""
    services = _services(request)
    job, stages = await _read_job(services, video_id) if len(video_id) <= 40 else (None, [])
    if job is None or job.project != principal.scope:
        raise NotFound(f"no video {video_id!r} in this project", param="video_id")
    services.audit.record(event(principal, "video.view", job.id))
    # Serialised here (the model is already valid): FastAPI would validate the returned model again.
    reply = Response(_video(job, stages).model_dump_json(), media_type="application/json")
    _poll_header(reply, job, services)
    return reply


def _cancel(services: Any, principal: Principal, job: Job) -> Job:
    if not job.status.terminal:
        try:
            job = services.store.finish_job(
                job.id, JobStatus.CANCELLED, error_code="cancelled", error_message="cancelled by the user"
            )
        except Conflict:  # it finished meanwhile
            job = services.store.get_job(job.id) or job
    services.audit.record(event(principal, "video.cancel", job.id, status=job.status.value), wait=True)
    return job


@router.delete("/{video_id}", response_model=VideoDeleted, responses=responses(401, 403, 404))
def delete_video(video_id: str, request: Request, principal: Writer) -> VideoDeleted:
    """Cancel a queued or running video: a running model stops at its next denoising step.
    `deleted` is true once the job is cancelled; a finished video's files are kept (finals are durable)."""
    services = _services(request)
    job = _cancel(services, principal, owned_job(services, principal, video_id))
    return VideoDeleted(id=job.id, deleted=job.status is JobStatus.CANCELLED)


@router.get(
    "/{video_id}/content",
    response_class=FileResponse,
    responses={
        200: {
            "description": "The bytes (blob), a JSON reference, fMP4 segments (stream) or uint8 frames (raw)",
            "content": {
                "video/mp4": {},
                "image/jpeg": {},
                "application/json": {},
                "application/octet-stream": {},
            },
        },
        **responses(400, 401, 404, 409),
    },
)
def download_content(
    video_id: str,
    request: Request,
    principal: Reader,
    variant: Variant = Variant.VIDEO,
    delivery: Delivery = Delivery.BLOB,
) -> Response:
    """The finished video (or its thumbnail or spritesheet), delivered in the chosen mode."""
    services = _services(request)
    job = owned_job(services, principal, video_id)
    if job.status is not JobStatus.SUCCEEDED:
        raise Conflict(
            f"video {job.id} is {job.status.value}; content exists once it completed", param="video_id"
        )
    art = next((a for a in services.store.get_artifacts(job.id) if a.name == variant.value), None)
    if art is None:
        raise NotFound(f"video {job.id} has no {variant.value}", param="variant")
    detail = {"variant": variant.value, "delivery": delivery.value, "sha256": art.blob.sha256}
    services.audit.record(event(principal, "video.download", job.id, **detail))
    base = services.settings.public_url or str(request.base_url)
    return deliver(services.store, services.blobs, job, art, variant=variant, mode=delivery, base_url=base,
                   stream_chunk_frames=services.settings.stream_chunk_frames)  # fmt: skip


@router.post(
    "/{video_id}/remix",
    response_model=Video,
    responses=_WRITE | responses(404),
    openapi_extra=body(VideoRemix),
)
async def remix_video(video_id: str, request: Request, principal: Writer, key: IdemKey = None) -> Video:
    """A new video with the source's settings and a new prompt."""
    services = _services(request)
    req, _ = await parse_body(request, VideoRemix)
    source = await run_in_threadpool(owned_job, services, principal, video_id)
    spec = GenerationSpec.from_dict({**source.spec, "prompt": req.prompt})
    extra = {"remixed_from": source.id}
    job = await run_in_threadpool(
        _admit, services, principal, spec, extra, priority=source.priority.value, deadline=None,
        key=check_idempotency_key(key), action="video.remix",
    )  # fmt: skip
    return _video(job)
