"""Synthetic test videos with hard cuts at known frames, in several codecs and sizes."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from reelserve.media import EncodeSettings, encode_video

#: Base colours of consecutive scenes: far apart in hue and brightness, so every cut is hard.
SCENE_COLOURS = ((210, 40, 40), (40, 190, 70), (40, 70, 210), (230, 210, 60), (30, 30, 30), (200, 90, 200))


def scene_frames(
    total: int, cuts: Sequence[int], width: int = 64, height: int = 48, motion: float = 0.15
) -> np.ndarray:
    """(total, H, W, 3) frames: a new scene (colour + pattern) starts at each frame in ``cuts``;
    within a scene a soft gradient drifts a little each frame (motion, but no cut)."""
    y = np.linspace(0, 1, height)[:, None, None]
    x = np.linspace(0, 1, width)[None, :, None]
    frames = np.empty((total, height, width, 3), np.uint8)
    bounds = [0, *cuts, total]
    for scene, (start, end) in enumerate(itertools.pairwise(bounds)):
        base = np.array(SCENE_COLOURS[scene % len(SCENE_COLOURS)], np.float64)
        for t in range(start, end):
            wave = np.sin(2 * np.pi * (x * (1 + scene) + y * 2) + t * motion)
            frames[t] = np.clip(base + 25 * wave, 0, 255).astype(np.uint8)
    return frames


def make_video(
    path: Path,
    total: int = 72,
    cuts: Sequence[int] = (30, 50),
    *,
    width: int = 64,
    height: int = 48,
    fps: float = 24,
    codec: str = "h264",
    gop: int | None = 12,
) -> Path:
    settings = EncodeSettings(codec=codec, preset="ultrafast", crf=23, gop=gop)
    encode_video(scene_frames(total, cuts, width, height), path, fps=fps, settings=settings)
    return path
