"""Domain records: frozen dataclasses with slots, shared by every layer."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = [
    "Artifact",
    "BlobRef",
    "GenerationSpec",
    "Job",
    "JobStatus",
    "Priority",
    "StageRecord",
    "StageStatus",
]


class JobStatus(StrEnum):
    """Where a job is. A job stays queued or running until it succeeded, failed or was cancelled."""

    QUEUED = "queued"  #: admitted, waiting for a worker (also after a lost lease)
    RUNNING = "running"  #: claimed by a worker holding a live lease
    SUCCEEDED = "succeeded"  #: every stage finished; finals are durable
    FAILED = "failed"  #: a permanent error, or retries exhausted; on the dead-letter list
    CANCELLED = "cancelled"  #: cancelled by a user; partial work kept for inspection only

    @property
    def terminal(self) -> bool:
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


class StageStatus(StrEnum):
    """Where one stage (or one frame-range segment of it) is."""

    PENDING = "pending"  #: not started
    RUNNING = "running"  #: started; may hold a partial checkpoint (e.g. latents after step k)
    DONE = "done"  #: output written, hashed and recorded; resume skips it
    FAILED = "failed"  #: the last attempt failed


class Priority(StrEnum):
    INTERACTIVE = "interactive"  #: a person is waiting; ordered before batch work
    BATCH = "batch"  #: throughput work; may be preempted at a denoising-step boundary


@dataclass(frozen=True, slots=True)
class GenerationSpec:
    """Every setting of a text-to-video generation, validated at the edge."""

    prompt: str
    model: str = "tiny-wan"
    width: int = 256
    height: int = 256
    num_frames: int = 17
    steps: int = 4
    seed: int = 0
    guidance_scale: float = 1.0
    negative_prompt: str = ""
    fps: int = 16
    codec: str = "h264"
    crf: int = 18
    preset: str = "medium"
    #: A denoising checkpoint of the latents is stored every this many steps (0 = never).
    checkpoint_every: int = 2
    #: Frames per frame-range segment; 0 = the model's max frames.
    segment_frames: int = 0
    weights: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GenerationSpec:
        known = set(cls.__slots__)
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True, slots=True)
class BlobRef:
    """A content-addressed blob: where it is, its sha256 and size."""

    sha256: str
    size: int
    area: str  #: "scratch" (intermediate, expires) or "durable" (final, never expired)
    path: str  #: absolute path for the filesystem store, key for object stores


@dataclass(frozen=True, slots=True)
class Job:
    id: str
    project: str
    kind: str  #: "t2v", later "v2v", "upscale", "transcode", "analyze"
    status: JobStatus
    spec: dict[str, Any]
    priority: Priority = Priority.INTERACTIVE
    idempotency_key: str | None = None
    deadline: float | None = None  #: unix seconds
    progress: float = 0.0  #: 0..1
    attempts: int = 0
    max_attempts: int = 3
    error_code: str | None = None
    error_message: str | None = None
    lease_owner: str | None = None
    lease_expires_at: float | None = None
    output_path: str | None = None  #: where the user asked the final MP4 to be copied
    #: queued/started/generated/encoded/delivered/finished, unix seconds
    timings: dict[str, float] = field(default_factory=dict)
    created_at: float = 0.0
    updated_at: float = 0.0


@dataclass(frozen=True, slots=True)
class StageRecord:
    """One stage (or one segment of a stage) of a job, and its checkpoint."""

    job_id: str
    stage: str
    segment: int
    status: StageStatus
    attempt: int = 0
    output_sha256: str | None = None
    #: Stage-specific checkpoint state, e.g. {"step": 4, "latents_sha256": "..."} for denoising.
    state: dict[str, Any] = field(default_factory=dict)
    #: Seconds split by kind: {"model": .., "encode": .., "io": ..}.
    timings: dict[str, float] = field(default_factory=dict)
    error_code: str | None = None
    updated_at: float = 0.0


@dataclass(frozen=True, slots=True)
class Artifact:
    job_id: str
    name: str  #: "video", "thumbnail", "spritesheet", "manifest", "latents/s0", ...
    blob: BlobRef
    created_at: float
    expires_at: float | None  #: None = never (finals)
