"""``/v1/analyses``: video understanding jobs (shots, labels, objects, captions, embeddings, moderation).

``POST /v1/analyses`` takes JSON ``{"videos": [{"path": ...} | {"blob": sha256}], "tasks": [...], "fps",
"chunk_seconds", "mode", "batch_size"}`` or multipart: ``file`` parts (repeatable; uploads), plus the
same settings as form fields (``path``/``blob`` repeatable). It admits a durable ``analyze`` job and
answers at once; ``GET /v1/analyses/{id}`` reports progress per video and each finished video's result
(timestamps in seconds). Without an engine backend, the job runs in a thread of this process.
"""

from __future__ import annotations

import shutil
import threading
import time
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field
from starlette.datastructures import UploadFile  # what request.form() yields (FastAPI's subclasses it)

from reelserve.api.auditlog import event
from reelserve.api.auth import Reader, Writer
from reelserve.api.errors import responses
from reelserve.core.errors import InvalidInput, LimitExceeded, NotFound
from reelserve.core.records import Job, StageStatus
from reelserve.pipeline.analyze.inputs import allowed_path, find_blob
from reelserve.pipeline.analyze.job import KIND, job_results, submit_analysis
from reelserve.pipeline.analyze.spec import AnalyzeSpec, parse_tasks
from reelserve.store.governance import Principal

__all__ = ["AnalysisCreate", "router"]

router = APIRouter(prefix="/v1/analyses", tags=["analyses"])
IdemKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]
MAX_VIDEOS = 64
INPUT_TTL_S = 7 * 24 * 3600.0


class VideoRef(BaseModel):
    path: str | None = Field(None, description="A file on the server, under REELSERVE_ANALYZE_ROOTS.")
    blob: str | None = Field(None, description="sha256 of a blob stored by an earlier job of this project.")


class AnalysisCreate(BaseModel):
    videos: list[VideoRef] = Field(default_factory=list, max_length=MAX_VIDEOS)
    tasks: list[str] | str = Field(
        ["shots", "labels"], description="shots, labels, objects, captions, embed, moderation"
    )
    fps: float = Field(1.0, gt=0, le=120, description="Frames sampled per second for the frame tasks.")
    chunk_seconds: float = Field(10.0, gt=0, le=3600, description="Time chunk length (cut on a keyframe).")
    mode: str = Field("chunked", description="chunked: one model call per chunk; combined: one per video.")
    batch_size: int = Field(8, ge=1, le=256)


def _services(request: Request) -> Any:
    return request.app.state.services


async def _parse(request: Request) -> tuple[AnalysisCreate, list[UploadFile]]:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "multipart/form-data":
        return AnalysisCreate.model_validate(await request.json()), []
    try:
        form = await request.form(max_files=MAX_VIDEOS, max_fields=200)
    except Exception:  # a malformed multipart body is the client's error, whatever the parser says
        raise InvalidInput("malformed form body", param="body", code="invalid_form") from None
    files = [v for k, v in form.multi_items() if k == "file" and isinstance(v, UploadFile)]
    refs = [{"path": v} for v in form.getlist("path")] + [{"blob": v} for v in form.getlist("blob")]
    fields = {k: form[k] for k in ("tasks", "fps", "chunk_seconds", "mode", "batch_size") if k in form}
    return AnalysisCreate.model_validate({"videos": refs, **fields}), files


def _store_upload(services: Any, upload: UploadFile) -> Any:
    with services.blobs.open_writer("scratch", ".video") as out, open(out.path, "wb") as fh:
        shutil.copyfileobj(upload.file, fh, 1 << 20)
    return out.ref


def _admit(
    services: Any, principal: Principal, req: AnalysisCreate, files: list[UploadFile], key: str | None
) -> Job:
    if not req.videos and not files:
        raise InvalidInput("give at least one video: upload `file` parts, or `videos` with a path or blob")
    if len(req.videos) + len(files) > MAX_VIDEOS:
        raise LimitExceeded(f"at most {MAX_VIDEOS} videos per analysis", param="videos")
    spec = AnalyzeSpec(
        tasks=parse_tasks(req.tasks),
        fps=req.fps,
        chunk_seconds=req.chunk_seconds,
        mode=req.mode,
        batch_size=req.batch_size,
    )
    paths, names = [], []
    for ref in req.videos:
        if (ref.path is None) == (ref.blob is None):
            raise InvalidInput("each video gives exactly one of `path` or `blob`", param="videos")
        found = (
            allowed_path(ref.path)
            if ref.path
            else find_blob(services.store.engine, principal.scope, ref.blob or "")
        )
        paths.append(found)
        names.append(ref.path or ref.blob or "")
    uploaded = [_store_upload(services, f) for f in files]
    paths += [services.blobs.path(r) for r in uploaded]
    names += [f.filename or f"upload-{i}" for i, f in enumerate(files)]
    job, created = submit_analysis(
        services.store, paths, spec, project=principal.scope, idempotency_key=key, names=names
    )
    if created and uploaded:
        now = time.time()
        arts = [_input_artifact(job.id, i, r, now) for i, r in enumerate(uploaded, start=len(req.videos))]
        services.store.checkpoint(job.id, "inputs", 0, StageStatus.DONE, artifacts=arts)
    detail = {"tasks": list(spec.tasks), "videos": len(paths), "mode": spec.mode, "created": created}
    services.audit.record(event(principal, "analysis.create", job.id, **detail), wait=True)
    if created and services.backend is None:
        threading.Thread(
            target=_run_inline, args=(services, job), name=f"analyze-{job.id}", daemon=True
        ).start()
    return job


def _input_artifact(job_id: str, i: int, ref: Any, now: float) -> Any:
    from reelserve.core.records import Artifact

    return Artifact(job_id, f"input/{i}", ref, now, now + INPUT_TTL_S)


def _run_inline(services: Any, job: Job) -> None:
    from reelserve.pipeline.runner import JobRunner

    runner = JobRunner(services.store, services.blobs)
    claimed = services.store.claim_job(runner.worker_id, runner.lease_s, job_id=job.id)
    if claimed is not None:
        runner.run(claimed)


def _present(services: Any, job: Job, results: bool = True) -> dict[str, Any]:
    videos = job_results(services.store, services.blobs, job.id)
    names = job.spec.get("names") or []
    for i, video in enumerate(videos):
        video["video"] = names[i] if i < len(names) else video["video"]  # never reveal server paths
        if not results:
            video.pop("samples", None)
    error = {"code": job.error_code, "message": job.error_message} if job.error_code else None
    return {
        "id": job.id,
        "object": "analysis",
        "status": job.status.value,
        "progress": round(job.progress, 4),
        "created_at": int(job.created_at),
        "completed_at": int(job.timings["finished"]) if "finished" in job.timings else None,
        "settings": job.spec["analyze"],
        "error": error,
        "videos": videos,
    }


def _owned(services: Any, principal: Principal, analysis_id: str) -> Job:
    job = services.store.get_job(analysis_id) if len(analysis_id) <= 40 else None
    if job is None or job.kind != KIND or job.project != principal.scope:
        raise NotFound(f"no analysis {analysis_id!r} in this project", param="analysis_id")
    return job


@router.post("", responses=responses(400, 401, 403, 404, 413, 422))
async def create_analysis(
    request: Request, response: Response, principal: Writer, key: IdemKey = None
) -> dict[str, Any]:
    """Analyse videos (JSON with paths/blob references, or multipart uploads); answers with the job."""
    services = _services(request)
    req, files = await _parse(request)
    job = await run_in_threadpool(_admit, services, principal, req, files, key)
    response.headers["openai-poll-after-ms"] = str(services.settings.poll_after_ms)
    return await run_in_threadpool(_present, services, job, False)


@router.get("/{analysis_id}", responses=responses(401, 404))
async def get_analysis(
    request: Request, principal: Reader, analysis_id: str, results: bool = True
) -> dict[str, Any]:
    """Status, progress per video, and finished videos' results (``results=false`` omits samples)."""
    services = _services(request)
    job = await run_in_threadpool(_owned, services, principal, analysis_id)
    return await run_in_threadpool(_present, services, job, results)
