"""What the provisioning planner plans for: a pipeline of sequential stages and its targets.

A stage is one model of the pipeline (script LLM, TTS, image, video, lip-sync, or the only model of
a batch job) with ``units`` of identical work (scenes, chunks, variants). Each variant of the model
costs ``unit_gpu_s`` seconds of one A100 per unit; the planner picks the cheapest variant whose
quality rank is at least ``min_quality``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from reelserve.core.errors import InvalidInput
from reelserve.sched.provision.gpus import DEFAULT_GPUS, GpuType, gpu_type

__all__ = ["QUALITY", "PlanWorkload", "Stage", "Variant", "ad_variants", "podcast", "workload_from_dict"]

QUALITY = {"low": 0, "medium": 1, "high": 2}


@dataclass(frozen=True, slots=True)
class Variant:
    """One way to run a stage's model."""

    name: str  #: e.g. "wan-1.3b-480p"
    quality: int  #: rank, 0 = low, 1 = medium, 2 = high
    unit_gpu_s: float  #: A100-seconds per unit of work on one instance
    gpus_per_instance: int = 1  #: GPUs one replica needs


@dataclass(frozen=True, slots=True)
class Stage:
    """One model in the pipeline; stages run one after another."""

    name: str  #: e.g. "video"
    units: int  #: identical pieces of work (scenes, chunks, variants)
    variants: tuple[Variant, ...]  #: ways to run it

    def variant(self, min_quality: int) -> Variant:
        """The cheapest variant that meets ``min_quality``."""
        ok = [v for v in self.variants if v.quality >= min_quality]
        if not ok:
            raise InvalidInput(f"stage {self.name!r} has no variant of quality >= {min_quality}")
        return min(ok, key=lambda v: (v.unit_gpu_s * v.gpus_per_instance, v.name))


@dataclass(frozen=True, slots=True)
class PlanWorkload:
    """A workload and the limits the plan must respect."""

    name: str  #: label for reports
    stages: tuple[Stage, ...]  #: sequential pipeline
    video_s: float = 0.0  #: seconds of video played while the rest is generated (0 = batch work)
    min_quality: int = 1  #: QUALITY rank the variants must reach
    objective: str = "cost_x_ttff"  #: "cost_x_ttff" or "cost_deadline"
    deadline_s: float | None = None  #: makespan limit, seconds
    ttff_s: float | None = None  #: time-to-first-frame limit, seconds
    gpu_types: tuple[str, ...] = ("A100", "H100", "H200", "B200", "B300")  #: types to choose from
    allow_spot: bool = True  #: may use spot GPUs
    max_spot_share: float = 0.5  #: most of the GPUs that may be spot
    max_gpus: int = 1024  #: most GPUs in all
    server_gpus: int = 8  #: GPUs are billed in whole servers of this many
    resume_s: float = 60.0  #: work lost per spot eviction (resume from the last checkpoint)
    catalog: Mapping[str, GpuType] = field(default_factory=lambda: dict(DEFAULT_GPUS))  #: GPU table

    def __post_init__(self) -> None:
        if not self.stages or any(s.units <= 0 for s in self.stages):
            raise InvalidInput("the workload is empty: give at least one stage with units > 0", param="units")
        for s in self.stages:
            if not s.variants or any(v.unit_gpu_s <= 0 or v.gpus_per_instance < 1 for v in s.variants):
                raise InvalidInput(
                    f"stage {s.name!r}: variants need unit_gpu_s > 0 and gpus_per_instance >= 1"
                )
            s.variant(self.min_quality)
        self._check_limits()

    def _check_limits(self) -> None:
        if self.objective not in ("cost_x_ttff", "cost_deadline"):
            raise InvalidInput("objective must be cost_x_ttff or cost_deadline", param="objective")
        if self.objective == "cost_deadline" and self.deadline_s is None and self.ttff_s is None:
            raise InvalidInput("objective cost_deadline needs --deadline-h or --ttff", param="deadline")
        for name, value in (("deadline", self.deadline_s), ("ttff", self.ttff_s), ("video", self.video_s)):
            if value is not None and (value < 0 or (name != "video" and value == 0) or math.isnan(value)):
                raise InvalidInput(f"{name} must be a positive number of seconds", param=name)
        if not 0 <= self.max_spot_share <= 1 or self.max_gpus < 1 or self.server_gpus < 1:
            raise InvalidInput("max_spot_share must be in [0, 1], max_gpus and server_gpus >= 1")
        if not self.gpu_types:
            raise InvalidInput("give at least one GPU type", param="gpu_types")
        for name in self.gpu_types:
            gpu_type(name, self.catalog)


def podcast(minutes: float = 10.0, quality: str = "medium", ttff_s: float | None = 5.0) -> PlanWorkload:
    """StreamWise-style podcast: script, speech, portraits, then talking-head video, in 5-s scenes."""
    scenes = max(1, math.ceil(minutes * 60 / 5))
    q = _quality(quality)
    stages = (
        Stage("script", 1, (Variant("llm-8b", 2, 4.0),)),
        Stage("speech", scenes, (Variant("tts", 2, 1.0),)),
        Stage("portrait", 4, (Variant("flux-schnell", 1, 3.0), Variant("flux-dev", 2, 12.0))),
        Stage(
            "video",
            scenes,
            (
                Variant("talking-head-320p", 0, 6.0),
                Variant("talking-head-400p", 1, 12.0),
                Variant("talking-head-800p", 2, 48.0, 2),
            ),
        ),
    )
    objective = "cost_deadline" if ttff_s is not None else "cost_x_ttff"
    return PlanWorkload(f"podcast-{minutes:g}min-{quality}", stages, minutes * 60, q, objective, None, ttff_s)


def ad_variants(count: int = 10_000, deadline_h: float = 12.0, resolution: str = "720p") -> PlanWorkload:
    """``count`` independent 5-s ad variants due ``deadline_h`` hours from now."""
    unit = {"480p": 45.0, "720p": 120.0, "1080p": 260.0}.get(resolution)
    if unit is None:
        raise InvalidInput(f"resolution must be 480p, 720p or 1080p, not {resolution!r}", param="resolution")
    stage = Stage("generate", count, (Variant(f"wan-14b-{resolution}", 1, unit),))
    return PlanWorkload(f"ads-{count}-{resolution}", (stage,), 0.0, 1, "cost_deadline", deadline_h * 3600)


def _quality(name: str) -> int:
    if name not in QUALITY:
        raise InvalidInput(f"quality must be one of {', '.join(QUALITY)}, not {name!r}", param="quality")
    return QUALITY[name]


def workload_from_dict(data: Mapping[str, Any]) -> PlanWorkload:
    """Build a workload from a JSON object with the fields of ``PlanWorkload`` (stages as lists)."""
    try:
        stages = tuple(
            Stage(s["name"], int(s["units"]), tuple(Variant(**v) for v in s["variants"]))
            for s in data.get("stages", [])
        )
        fields = {k: v for k, v in data.items() if k not in ("stages", "catalog")}
        if "min_quality" in fields and isinstance(fields["min_quality"], str):
            fields["min_quality"] = _quality(fields["min_quality"])
        if "gpu_types" in fields:
            fields["gpu_types"] = tuple(fields["gpu_types"])
        return PlanWorkload(stages=stages, **fields)
    except (KeyError, TypeError) as exc:
        raise InvalidInput(f"bad workload description: {exc}", param="workload") from exc
