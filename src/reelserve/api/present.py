"""Jobs as API objects: the OpenAI Video (status mapping, seconds, size) plus our extensions."""

from __future__ import annotations

from reelserve.api.schemas import StageProgress, Video, VideoError
from reelserve.core.records import Job, JobStatus, StageRecord
from reelserve.pipeline.report import bottleneck_hint, timing_split

__all__ = ["OPENAI_STATUS", "intervals", "to_video"]

#: Our job status → the OpenAI status. A cancelled job is "failed" with error code "cancelled".
OPENAI_STATUS = {
    JobStatus.QUEUED: "queued",
    JobStatus.RUNNING: "in_progress",
    JobStatus.SUCCEEDED: "completed",
    JobStatus.FAILED: "failed",
    JobStatus.CANCELLED: "failed",
}
_SPANS = (
    ("queue", "queued", "started"),
    ("model", "started", "generated"),
    ("encode", "generated", "encoded"),
    ("finalize", "encoded", "finished"),
    ("deliver", "finished", "delivered"),
    ("total", "queued", "finished"),
    ("end_to_end", "queued", "delivered"),
)


def intervals(timings: dict[str, float]) -> dict[str, float]:
    """Seconds between the job's timestamps (only those whose ends are both recorded)."""
    return {name: round(timings[b] - timings[a], 6) for name, a, b in _SPANS if a in timings and b in timings}


def _stage(rec: StageRecord) -> StageProgress:
    step = rec.state.get("step")
    return StageProgress(
        stage=rec.stage,
        segment=rec.segment,
        status=rec.status.value,
        attempt=rec.attempt,
        step=int(step) if isinstance(step, int) else None,
        seconds=round(sum(float(v) for v in rec.timings.values()), 6),
    )


def _error(job: Job) -> VideoError | None:
    if job.status is JobStatus.CANCELLED:
        return VideoError(code="cancelled", message=job.error_message or "cancelled by the user")
    if job.status is JobStatus.FAILED:
        return VideoError(code=job.error_code or "failed", message=job.error_message or "the job failed")
    return None


def to_video(job: Job, stages: list[StageRecord] | None = None, *, prompt: bool = True) -> Video:
    spec = job.spec
    fps = int(spec.get("fps", 16))
    frames = int(spec.get("num_frames", 1))
    finished = job.timings.get("finished")
    split = timing_split(stages) if stages else {}
    return Video(
        id=job.id,
        status=OPENAI_STATUS[job.status],  # type: ignore[arg-type]
        progress=100 if job.status is JobStatus.SUCCEEDED else min(99, int(job.progress * 100)),
        created_at=int(job.created_at),
        completed_at=int(finished) if finished is not None and job.status.terminal else None,
        expires_at=None,  # finals are durable: retention never removes them
        error=_error(job),
        size=f"{spec.get('width')}x{spec.get('height')}",
        seconds=f"{frames / fps:.3g}",
        model=str(spec.get("model")),
        prompt=spec.get("prompt") if prompt else None,
        remixed_from_video_id=spec.get("remixed_from"),
        job_status=job.status.value,  # type: ignore[arg-type]
        project=job.project,
        priority=job.priority.value,
        deadline=job.deadline,
        num_frames=frames,
        fps=fps,
        num_inference_steps=int(spec.get("steps", 0)),
        guidance_scale=float(spec.get("guidance_scale", 1.0)),
        seed=int(spec.get("seed", 0)),
        negative_prompt=str(spec.get("negative_prompt", "")),
        batch_id=spec.get("batch_id"),
        variant_id=spec.get("variant_id"),
        timings=dict(job.timings),
        intervals_s=intervals(job.timings),
        stages=[_stage(r) for r in stages or []],
        time_split_s={k: round(v, 6) for k, v in split.items()},
        bottleneck=bottleneck_hint(split) if stages else None,
    )
