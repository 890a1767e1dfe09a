"""Hard checks: the MP4 decodes and has the requested frames, frame rate and size."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reelserve.bench.scoring.video import Clip

__all__ = ["Expected", "hard_checks"]


@dataclass(frozen=True, slots=True)
class Expected:
    num_frames: int
    fps: int
    width: int
    height: int


def hard_checks(clip: Clip | None, expected: Expected, decode_error: str | None = None) -> dict[str, Any]:
    """``{"passed": bool, "checks": {name: bool}, "found": {...}}``; a None clip fails "decodable"."""
    if clip is None:
        return {"passed": False, "checks": {"decodable": False}, "error": decode_error}
    checks = {
        "decodable": True,
        "frames": clip.frames.shape[0] == expected.num_frames,
        "fps": abs(clip.fps - expected.fps) < 0.01,
        "size": (clip.width, clip.height) == (expected.width, expected.height),
    }
    found = {"frames": int(clip.frames.shape[0]), "fps": clip.fps, "width": clip.width, "height": clip.height}
    return {"passed": all(checks.values()), "checks": checks, "found": found}
