"""The settings of one analysis, validated at the edge and handed inward frozen."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from reelserve.core.errors import InvalidInput, UnknownName

__all__ = ["FRAME_TASKS", "MODES", "TASKS", "AnalyzeSpec", "parse_tasks"]

#: Tasks that run on sampled frames (``fps`` per second); ``shots`` looks at every frame instead.
FRAME_TASKS = ("labels", "objects", "captions", "embed", "moderation")
TASKS = ("shots", *FRAME_TASKS)
MODES = ("chunked", "combined")


def parse_tasks(text: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """``"shots,labels"`` (or a list) → ordered unique task names; unknown names list the valid ones."""
    items = text.split(",") if isinstance(text, str) else list(text)
    names = [t.strip() for t in items if t.strip()]
    if not names:
        raise InvalidInput(f"no tasks given; choose from {', '.join(TASKS)}", param="tasks")
    for name in names:
        if name not in TASKS:
            raise UnknownName("task", name, list(TASKS), param="tasks")
    return tuple(dict.fromkeys(names))


@dataclass(frozen=True, slots=True)
class AnalyzeSpec:
    """How to analyse a request's videos."""

    tasks: tuple[str, ...] = ("shots", "labels")
    fps: float = 1.0  #: frames sampled per second for the frame tasks
    chunk_seconds: float = 10.0  #: time chunk length; cuts fall on the next keyframe
    mode: str = "chunked"  #: "chunked": one model call per chunk; "combined": one per video
    batch_size: int = 8  #: frames per forward pass
    decoders: int = 2  #: decode worker threads
    decode_threads: int = 1  #: FFmpeg threads inside each decoder (0 = one per core)
    queue_size: int = 4  #: decoded chunks waiting for the model worker (the backpressure bound)
    frame_side: int = 256  #: sampled frames are scaled to fit this many pixels (models resize further)
    shot_width: int = 96  #: shots compare frames scaled to this width (PySceneDetect downscales too)
    shot_detector: str = "content"  #: "content" (PySceneDetect) or "learned" (ShotNet)
    min_scene_s: float = 0.4  #: two cuts closer than this keep only the first
    weights_dir: str | None = None  #: DIR with one sub-directory per task (DIR/labels, ...); None = tiny
    device: str | None = None  #: "cpu", "cuda", ...; None = cuda when present
    #: torch intra-op threads for CPU inference (process-wide); 0 keeps torch's default (one per core).
    #: With a cheap model, 1 leaves the cores to the decoders (torch's spinning threads otherwise steal them).
    model_threads: int = 0

    def __post_init__(self) -> None:
        parse_tasks(self.tasks)
        checks = (
            (self.fps > 0, f"fps must be positive, got {self.fps}", "fps"),
            (
                self.chunk_seconds > 0,
                f"chunk seconds must be positive, got {self.chunk_seconds}",
                "chunk_seconds",
            ),
            (self.mode in MODES, f"unknown mode {self.mode!r}; valid modes: {', '.join(MODES)}", "mode"),
            (self.batch_size >= 1, f"batch size must be 1 or more, got {self.batch_size}", "batch_size"),
            (self.decoders >= 1, f"decoders must be 1 or more, got {self.decoders}", "decoders"),
            (self.decode_threads >= 0, "decode threads must be 0 (automatic) or more", "decode_threads"),
            (self.model_threads >= 0, "model threads must be 0 (torch default) or more", "model_threads"),
            (self.queue_size >= 1, f"queue size must be 1 or more, got {self.queue_size}", "queue_size"),
            (
                self.frame_side >= 16 and self.shot_width >= 16,
                "frame sizes must be 16 pixels or more",
                "frame_side",
            ),
            (
                self.shot_detector in ("content", "learned"),
                "shot detector must be content or learned",
                "shot_detector",
            ),
        )
        for ok, message, param in checks:
            if not ok:
                raise InvalidInput(message, param=param)

    def to_dict(self) -> dict[str, Any]:
        return {
            f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v) for f in fields(self)
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AnalyzeSpec:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if "tasks" in values:
            values["tasks"] = parse_tasks(values["tasks"])
        return cls(**values)

    @property
    def frame_tasks(self) -> tuple[str, ...]:
        return tuple(t for t in self.tasks if t in FRAME_TASKS)
