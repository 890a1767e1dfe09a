"""Temporal flickering and motion smoothness, VBench-style, from pixels alone.

Both follow VBench's convention: a score in [0, 1], higher is better, computed as (255 − MAE) / 255.
Flickering: the MAE between consecutive frames. Motion smoothness: the MAE between each frame and its
prediction from its two neighbours (bilateral block-matching interpolation standing in for VBench's
learned interpolator) — smooth motion is predictable, jerky motion is not.
"""

from __future__ import annotations

import itertools

import numpy as np

from reelserve.bench.scoring.flow import interpolate_middle
from reelserve.bench.scoring.video import downscale

__all__ = ["motion_smoothness", "temporal_flickering"]


def temporal_flickering(frames: np.ndarray) -> dict[str, float]:
    """frames: T×H×W×3 uint8. ``score`` 1.0 = no change between frames; ``flicker`` = MAE/255."""
    if len(frames) < 2:
        return {"score": 1.0, "flicker": 0.0}
    diffs = [np.abs(b.astype(np.int16) - a.astype(np.int16)).mean() for a, b in itertools.pairwise(frames)]
    mae = float(np.mean(diffs))
    return {"score": (255.0 - mae) / 255.0, "flicker": mae / 255.0}


def motion_smoothness(frames_gray: np.ndarray) -> dict[str, float]:
    """frames_gray: T×H×W float. ``score`` 1.0 = every middle frame predicted exactly."""
    if len(frames_gray) < 3:
        return {"score": 1.0, "interp_mae": 0.0}
    small, _ = downscale(frames_gray)
    errors = [
        float(np.abs(interpolate_middle(small[i - 1], small[i + 1]) - small[i]).mean())
        for i in range(1, len(small) - 1)
    ]
    mae = float(np.mean(errors))
    return {"score": (255.0 - mae) / 255.0, "interp_mae": mae}
