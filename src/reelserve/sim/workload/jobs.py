"""Job workloads: batch generation by a deadline, and a StreamWise-style scene DAG.

* ``batch``: ``count`` ad variants submitted over ``submit_s`` seconds, all due ``deadline_h`` hours
  after the start (batch priority).
* ``dag``: ``videos`` long videos of ``minutes`` each, cut into 5-s scenes; scene i of a video
  submitted at t is due at ``t + ttff_s + i x 5 s`` (StreamWise: submission + index x 5 s), interactive.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from reelserve.core.errors import InvalidInput
from reelserve.core.records import Priority

__all__ = ["JobShape", "JobSpec", "generate_batch", "generate_dag"]


@dataclass(frozen=True, slots=True)
class JobSpec:
    """One unit of generation work."""

    id: str  #: job id
    arrival: float  #: seconds from the start
    deadline: float | None  #: absolute seconds; None = none
    priority: Priority  #: interactive or batch
    width: int  #: output width
    height: int  #: output height
    frames: int  #: frames
    steps: int  #: denoising steps
    fps: int = 16  #: output rate
    model: str = "wan"  #: model name (batching key)
    group: str = ""  #: the video a scene belongs to ("" for independent jobs)


@dataclass(frozen=True, slots=True)
class JobShape:
    """Shape parameters of the job workloads."""

    count: int = 10_000  #: batch: variants
    deadline_h: float = 8.0  #: batch: due this many hours after the start
    submit_s: float = 600.0  #: batch: submissions spread over this many seconds
    videos: int = 20  #: dag: videos
    minutes: float = 10.0  #: dag: length of each video
    ttff_s: float = 30.0  #: dag: allowance before the first scene is due
    arrival_gap_s: float = 120.0  #: dag: mean gap between video submissions
    width: int = 1280  #: output width
    height: int = 720  #: output height
    frames: int = 81  #: frames per clip (dag scenes: 5 s at fps)
    steps: int = 20  #: denoising steps
    fps: int = 16  #: frame rate

    def validate(self) -> None:
        values = (self.count, self.deadline_h, self.videos, self.minutes, self.width, self.height)
        if min(*values, self.frames, self.steps, self.fps) <= 0 or self.submit_s < 0 or self.ttff_s < 0:
            raise InvalidInput("job workload: counts, sizes, durations and deadlines must be positive")


def generate_batch(shape: JobShape, seed: int) -> tuple[JobSpec, ...]:
    shape.validate()
    rng = np.random.default_rng(seed)
    arrivals = np.sort(rng.uniform(0.0, shape.submit_s, size=shape.count))
    due = shape.deadline_h * 3600.0
    return tuple(
        JobSpec(
            f"ad{i:06d}", float(t), due, Priority.BATCH, shape.width, shape.height, shape.frames, shape.steps
        )
        for i, t in enumerate(arrivals)
    )


def generate_dag(shape: JobShape, seed: int) -> tuple[JobSpec, ...]:
    shape.validate()
    rng = np.random.default_rng(seed)
    scenes = max(1, math.ceil(shape.minutes * 60 / 5))
    frames = 5 * shape.fps + 1
    starts = np.cumsum(rng.exponential(shape.arrival_gap_s, size=shape.videos)) - shape.arrival_gap_s
    jobs = []
    for v, t in enumerate(np.maximum(starts, 0.0)):
        for i in range(scenes):
            jobs.append(
                JobSpec(
                    f"v{v:03d}-scene{i:04d}",
                    float(t),
                    float(t + shape.ttff_s + 5.0 * i),
                    Priority.INTERACTIVE,
                    shape.width,
                    shape.height,
                    frames,
                    shape.steps,
                    shape.fps,
                    group=f"v{v:03d}",
                )
            )
    return tuple(sorted(jobs, key=lambda j: (j.arrival, j.id)))
