"""Tiny real videos for the tests, made with PyAV: moving, static and noisy content."""

from __future__ import annotations

import functools

import numpy as np

from reelserve.bench.scoring.video import encode_mp4

__all__ = ["frames_of", "mp4_of"]


def frames_of(kind: str, frames: int, width: int, height: int, seed: int = 0) -> np.ndarray:
    """T×H×W×3 uint8: "moving" (a bright square sliding right), "static", or "noise"."""
    if kind == "noise":
        return np.random.default_rng(seed).integers(0, 256, (frames, height, width, 3), dtype=np.uint8)
    yy, xx = np.mgrid[0:height, 0:width]
    background = np.stack([xx * 255 // max(1, width - 1), yy * 255 // max(1, height - 1), 96 + 0 * xx], -1)
    out = np.repeat(background[None].astype(np.uint8), frames, axis=0)
    if kind == "moving":
        side = max(8, min(width, height) // 4)
        for t in range(frames):
            x0 = (t * max(2, width // 16)) % max(1, width - side)
            out[t, height // 3 : height // 3 + side, x0 : x0 + side] = (250, 250, 250)
    return out


@functools.lru_cache(maxsize=64)
def mp4_of(kind: str, frames: int, width: int, height: int, fps: int) -> bytes:
    return encode_mp4(frames_of(kind, frames, width, height), fps)
