"""Scoring a set of videos: hard checks per video, VBench-style dimensions, and the dataset mean.

Dimensions (each in [0, 1], higher is better): ``temporal_flickering``, ``motion_smoothness``,
``dynamic_degree`` (share of videos that move), and — only when local weights are given —
``subject_consistency`` (DINO-like) and ``background_consistency`` (CLIP-like). ``mean`` is the mean of
the dimensions that were computed; the report lists which.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np

from reelserve.bench.scoring.flow import dynamic_degree
from reelserve.bench.scoring.hard import Expected, hard_checks
from reelserve.bench.scoring.neural import FeatureModel, consistency
from reelserve.bench.scoring.temporal import motion_smoothness, temporal_flickering
from reelserve.bench.scoring.video import decode

__all__ = ["DIMENSIONS", "Scorer", "aggregate"]

DIMENSIONS = (
    "subject_consistency",
    "background_consistency",
    "temporal_flickering",
    "motion_smoothness",
    "dynamic_degree",
)


@dataclass
class Scorer:
    expected: Expected
    subject_model: FeatureModel | None = None  #: DINO-like, for subject consistency
    background_model: FeatureModel | None = None  #: CLIP-like, for background consistency

    @classmethod
    def build(cls, expected: Expected, dino_dir: str | None, clip_dir: str | None) -> Scorer:
        return cls(
            expected,
            FeatureModel(dino_dir) if dino_dir else None,
            FeatureModel(clip_dir) if clip_dir else None,
        )

    def score(self, source: str | Path | bytes) -> dict[str, Any]:
        """Hard checks and every dimension for one video; undecodable → hard checks failed, no dims."""
        try:
            clip = decode(source)
        except (av.FFmpegError, ValueError, OSError) as exc:
            return {
                "hard": hard_checks(None, self.expected, f"{type(exc).__name__}: {exc}"),
                "dimensions": {},
            }
        luma = clip.luma
        flicker = temporal_flickering(clip.frames)
        smooth = motion_smoothness(luma)
        dynamic = dynamic_degree(luma, clip.height, clip.width)
        dims: dict[str, float] = {
            "temporal_flickering": flicker["score"],
            "motion_smoothness": smooth["score"],
            "dynamic_degree": 1.0 if dynamic["dynamic"] else 0.0,
        }
        if self.subject_model is not None:
            dims["subject_consistency"] = consistency(self.subject_model.features(clip.frames))
        if self.background_model is not None:
            dims["background_consistency"] = consistency(self.background_model.features(clip.frames))
        details = {**flicker, **smooth, **dynamic}
        details.pop("score", None)
        return {"hard": hard_checks(clip, self.expected), "dimensions": dims, "details": details}


def aggregate(scores: list[dict[str, Any]]) -> dict[str, Any]:
    """Dataset level: hard-check pass counts, each dimension's mean, and the mean of the dimensions."""
    passed = sum(1 for s in scores if s["hard"]["passed"])
    failures: dict[str, int] = {}
    for s in scores:
        for name, ok in s["hard"]["checks"].items():
            if not ok:
                failures[name] = failures.get(name, 0) + 1
    dims = {
        name: float(np.mean(values))
        for name in DIMENSIONS
        if (values := [s["dimensions"][name] for s in scores if name in s["dimensions"]])
    }
    return {
        "videos": len(scores),
        "hard_checks_passed": passed,
        "hard_check_failures": failures,
        "dimensions": dims,
        "dimensions_used": sorted(dims),
        "dimensions_skipped": [name for name in DIMENSIONS if name not in dims],
        "mean": float(np.mean(list(dims.values()))) if dims else None,
    }
