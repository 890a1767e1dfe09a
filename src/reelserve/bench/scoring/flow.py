"""Block-matching motion (numpy only): optical flow, bilateral frame interpolation, dynamic degree.

A frame is cut into ``block``×``block`` blocks; each block's motion is the shift within ±``radius`` that
minimises the sum of absolute differences. Shifts are tried zero first and only a strictly better one
replaces it, so flat or static areas get zero motion (no spurious flow).
"""

from __future__ import annotations

import itertools

import numpy as np

from reelserve.bench.scoring.video import downscale

__all__ = ["block_flow", "dynamic_degree", "interpolate_middle"]


def _shifts(radius: int) -> list[tuple[int, int]]:
    shifts = [(dy, dx) for dy in range(-radius, radius + 1) for dx in range(-radius, radius + 1)]
    return sorted(shifts, key=lambda d: (abs(d[0]) + abs(d[1]), d))


class _Shifter:
    """Views of one image moved by (dy, dx) with replicated edges, from a single padded copy."""

    def __init__(self, image: np.ndarray, radius: int, block: int) -> None:
        self.padded = np.pad(image, radius, mode="edge")
        self.radius = radius
        self.h, self.w = image.shape[0] // block * block, image.shape[1] // block * block  # whole blocks

    def shifted(self, dy: int, dx: int) -> np.ndarray:
        """out[y, x] = image[y - dy, x - dx] (clamped at the edges)."""
        top, left = self.radius - dy, self.radius - dx
        return self.padded[top : top + self.h, left : left + self.w]


def _block_sums(diff: np.ndarray, block: int) -> np.ndarray:
    """Sum of each block×block tile of a (whole-block) H×W array, in two cheap reductions."""
    h, w = diff.shape
    rows = diff.reshape(h // block, block, w).sum(axis=1)
    return rows.reshape(h // block, w // block, block).sum(axis=2)


def _crop(image: np.ndarray, block: int) -> np.ndarray:
    return image[: image.shape[0] // block * block, : image.shape[1] // block * block]


def block_flow(prev: np.ndarray, curr: np.ndarray, block: int = 8, radius: int = 6) -> np.ndarray:
    """Per-block motion (dy, dx) from ``prev`` to ``curr`` (H×W float): shape (H/b, W/b, 2)."""
    source = _Shifter(prev, radius, block)
    curr = _crop(curr, block)
    best = np.full(_block_sums(curr, block).shape, np.inf)
    flow = np.zeros((*best.shape, 2), dtype=np.float32)
    for dy, dx in _shifts(radius):
        cost = _block_sums(np.abs(curr - source.shifted(dy, dx)), block)
        better = cost < best - 1e-6
        best[better] = cost[better]
        flow[better] = (dy, dx)
    return flow


def interpolate_middle(prev: np.ndarray, nxt: np.ndarray, block: int = 8, radius: int = 4) -> np.ndarray:
    """Predict the frame halfway between two (H×W float) by symmetric (bilateral) block matching."""
    before, after = _Shifter(prev, radius, block), _Shifter(nxt, radius, block)
    shifts = _shifts(radius)
    best: np.ndarray = np.full(_block_sums(_crop(prev, block), block).shape, np.inf)
    choice = np.zeros(best.shape, dtype=np.int32)
    for index, (dy, dx) in enumerate(shifts):
        cost = _block_sums(np.abs(before.shifted(dy, dx) - after.shifted(-dy, -dx)), block)
        better = cost < best - 1e-6
        best[better] = cost[better]
        choice[better] = index
    out = (prev + nxt) / 2  # pixels outside whole blocks keep the plain average
    h, w = int(best.shape[0]) * block, int(best.shape[1]) * block
    per_pixel = np.repeat(np.repeat(choice, block, axis=0), block, axis=1)
    for index in np.unique(choice):
        dy, dx = shifts[index]
        mask = per_pixel == index
        out[:h, :w][mask] = ((before.shifted(dy, dx) + after.shifted(-dy, -dx)) / 2)[mask]
    return out


def dynamic_degree(frames_gray: np.ndarray, height: int, width: int) -> dict[str, float | bool]:
    """VBench's rule on block flow: a pair is moving when the mean of its top 5% flow magnitudes
    exceeds 6 px × min(H, W)/256; the video is dynamic when at least round(4·T/16) pairs move.
    ``frames_gray`` may be smaller than ``height``×``width``: flow is scaled back to full size."""
    small, steps = downscale(frames_gray, max_side=128)
    factor = steps * width / frames_gray.shape[2]
    threshold = 6.0 * min(height, width) / 256.0
    scores = []
    for prev, curr in itertools.pairwise(small):
        magnitude = np.hypot(*np.moveaxis(block_flow(prev, curr), -1, 0)).ravel() * factor
        top = np.sort(magnitude)[-max(1, len(magnitude) // 20) :]
        scores.append(float(top.mean()))
    needed = max(1, round(4 * len(frames_gray) / 16.0))
    moving = sum(1 for s in scores if s > threshold)
    return {
        "dynamic": moving >= needed,
        "mean_top5_flow_px": float(np.mean(scores)) if scores else 0.0,
        "moving_pairs": float(moving),
    }
