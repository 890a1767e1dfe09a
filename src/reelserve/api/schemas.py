"""The HTTP shapes (pydantic): the OpenAI Video object with our flat extensions, batches, errors.

Request models forbid unknown fields (a typo is a 422 naming the field, not a silently ignored
setting). Every bound here is also enforced inward (``validate_spec``); here it gives the better
message and the OpenAPI document.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "MAX_NEGATIVE_PROMPT",
    "MAX_PROMPT",
    "AuditList",
    "BatchCreate",
    "BatchObject",
    "BatchTemplate",
    "BatchVariant",
    "ContentRef",
    "ErrorBody",
    "ErrorResponse",
    "StageProgress",
    "Video",
    "VideoCreate",
    "VideoDeleted",
    "VideoError",
    "VideoList",
    "VideoRemix",
    "Webhook",
]

MAX_PROMPT = 4000
MAX_NEGATIVE_PROMPT = 4000
MAX_SEED = 2**63 - 1
_NAME = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GenerationFields(_Strict):
    """Settings shared by a video request, a batch template and a variant's overrides."""

    model: str | None = Field(None, max_length=100, description="A catalog name (default tiny-wan).")
    size: str | None = Field(None, max_length=20, description='"WIDTHxHEIGHT", e.g. "256x256".')
    seconds: str | float | None = Field(
        None, description="Duration; mapped to the nearest frame count (4k+1) at the model's fps."
    )
    num_frames: int | None = Field(None, ge=1, le=100_000, description="Frames (4k+1); overrides `seconds`.")
    fps: int | None = Field(None, ge=1, le=240, description="Output frame rate (default: native).")
    num_inference_steps: int | None = Field(None, ge=1, le=1000)
    guidance_scale: float | None = Field(None, ge=0, le=50, allow_inf_nan=False)
    seed: int | None = Field(None, ge=0, le=MAX_SEED)
    negative_prompt: str | None = Field(None, max_length=MAX_NEGATIVE_PROMPT)


class VideoCreate(GenerationFields):
    """``POST /v1/videos`` (JSON or multipart form; form values are coerced)."""

    prompt: str = Field(..., min_length=1, max_length=MAX_PROMPT, description="Never logged.")
    priority: Literal["interactive", "batch"] = "interactive"
    deadline: float | None = Field(None, ge=0, le=1e11, allow_inf_nan=False, description="Unix seconds.")
    quality: Literal["best_effort", "adaptive", "strict"] = Field(
        "best_effort",
        description="With a deadline: adaptive runs fewer steps, a smaller size or a lower fps when the "
        "deadline would be missed (409 if nothing meets it); strict: 409 unless it meets it as asked.",
    )
    min_steps: int | None = Field(None, ge=1, le=1000, description="Adaptive quality's lowest step count.")


class VideoRemix(_Strict):
    prompt: str = Field(..., min_length=1, max_length=MAX_PROMPT)


class VideoError(BaseModel):
    code: str
    message: str


class StageProgress(BaseModel):
    stage: str
    segment: int
    status: str
    attempt: int
    step: int | None = None  #: denoising steps done (generate only)
    seconds: float


class ContentRef(BaseModel):
    """Where a final lives (delivery mode ``reference``)."""

    url: str
    sha256: str
    bytes: int
    content_type: str


class Video(BaseModel):
    """The OpenAI Video object; everything after ``remixed_from_video_id`` is our extension."""

    id: str
    object: Literal["video"] = "video"
    status: Literal["queued", "in_progress", "completed", "failed"]
    progress: int = Field(..., ge=0, le=100)
    created_at: int
    completed_at: int | None = None
    expires_at: int | None = None
    error: VideoError | None = None
    size: str
    seconds: str
    model: str
    prompt: str | None = None
    remixed_from_video_id: str | None = None
    job_status: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    project: str
    priority: str
    deadline: float | None = None
    num_frames: int
    fps: int
    num_inference_steps: int
    guidance_scale: float
    seed: int
    negative_prompt: str
    batch_id: str | None = None
    variant_id: str | None = None
    timings: dict[str, float] = Field(
        default_factory=dict,
        description="Unix seconds: queued, started, generated, encoded, delivered, finished.",
    )
    intervals_s: dict[str, float] = Field(
        default_factory=dict, description="queue, model, encode, finalize, ..."
    )
    stages: list[StageProgress] = Field(default_factory=list)
    time_split_s: dict[str, float] = Field(default_factory=dict)
    bottleneck: str | None = None
    engine: dict[str, Any] | None = Field(
        default=None,
        description="Model worker(s) and device(s), batch, preemptions, waits, quality decision.",
    )


class VideoList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Video]
    first_id: str | None = None
    last_id: str | None = None
    has_more: bool


class VideoDeleted(BaseModel):
    id: str
    object: Literal["video.deleted"] = "video.deleted"
    deleted: bool


class BatchTemplate(GenerationFields):
    """Settings every variant starts from."""

    prompt: str | None = Field(None, max_length=MAX_PROMPT, description="Used when a variant has none.")
    priority: Literal["interactive", "batch"] = "batch"


class BatchVariant(GenerationFields):
    variant_id: str = Field(..., pattern=_NAME, description="Unique within the batch; the idempotency unit.")
    prompt: str | None = Field(None, max_length=MAX_PROMPT)


class Webhook(_Strict):
    url: str = Field(..., pattern=r"^https?://", max_length=2000)
    secret: str | None = Field(
        None, min_length=16, max_length=200, description="HMAC key; generated if absent."
    )


class BatchCreate(_Strict):
    template: BatchTemplate = Field(default_factory=lambda: BatchTemplate.model_validate({}))
    variants: list[BatchVariant] = Field(..., min_length=1)
    webhook: Webhook | None = None


class BatchObject(BaseModel):
    id: str
    object: Literal["batch"] = "batch"
    project: str
    status: Literal["in_progress", "completed"]
    total: int
    counts: dict[str, int]
    created_at: int
    completed_at: int | None = None
    admitted: int | None = Field(None, description="Variants this request added (on create).")
    webhook_url: str | None = None
    webhook_secret: str | None = Field(None, description="Returned once, on create.")
    webhook_deliveries: list[dict[str, Any]] = Field(default_factory=list)


class AuditList(BaseModel):
    object: Literal["list"] = "list"
    data: list[dict[str, Any]]
    last_seq: int | None = None
    has_more: bool


class ErrorBody(BaseModel):
    code: str
    message: str
    param: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody
