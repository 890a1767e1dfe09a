"""Helpers for the media tests: deterministic synthetic frames and small clips made in ``tmp_path``."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from reelserve.media import EncodeResult, EncodeSettings, encode_video

#: Small and fast: every clip in these tests is encoded with this preset unless a test says otherwise.
FAST = EncodeSettings(preset="ultrafast", crf=18)


def gradient_frames(count: int, width: int = 64, height: int = 48, seed: int = 0) -> np.ndarray:
    """(count, height, width, 3) uint8 smooth moving gradients: compressible, but every frame differs."""
    rng = np.random.default_rng(seed)
    phase = rng.uniform(0, 2 * np.pi, 3)
    y = np.linspace(0, 1, height)[:, None]
    x = np.linspace(0, 1, width)[None, :]
    frames = np.empty((count, height, width, 3), np.uint8)
    for t in range(count):
        for c in range(3):
            wave = np.sin(2 * np.pi * (x * (c + 1) + y * (3 - c)) + phase[c] + t * 0.2)
            frames[t, ..., c] = (127.5 + 100 * wave).astype(np.uint8)
    return frames


def solid_frames(count: int, rgb: tuple[int, int, int], width: int = 64, height: int = 48) -> np.ndarray:
    frames = np.empty((count, height, width, 3), np.uint8)
    frames[...] = rgb
    return frames


def ramp_frames(count: int, width: int = 64, height: int = 48) -> np.ndarray:
    """Frame t is solid grey of level 4*t (mod 256): a frame's content tells its index."""
    levels = (np.arange(count) * 4 % 256).astype(np.uint8)
    return np.broadcast_to(levels[:, None, None, None], (count, height, width, 3)).copy()


MakeClip = Callable[..., EncodeResult]


@pytest.fixture
def make_clip(tmp_path: Path) -> MakeClip:
    """Encode frames to ``tmp_path/name`` (default: 24 gradient frames at 24 fps, H.264 ultrafast)."""

    def make(
        name: str = "clip.mp4",
        frames: np.ndarray | None = None,
        fps: float = 24,
        settings: EncodeSettings = FAST,
    ) -> EncodeResult:
        return encode_video(
            gradient_frames(24) if frames is None else frames, tmp_path / name, fps=fps, settings=settings
        )

    return make


def leftovers(directory: Path) -> list[str]:
    """Names of partial files an encoder left behind (there must be none)."""
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".part"))


def undecodable_video(path: Path) -> Path:
    """A real file in a codec this FFmpeg cannot decode (A64 multicolour, made by the ffmpeg CLI);
    skips the test when the CLI is missing."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        pytest.skip("the ffmpeg CLI makes the file (A64 multicolour, a codec FFmpeg cannot decode)")
    cmd = [ffmpeg, "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=s=320x200:d=0.5:r=24"]
    subprocess.run([*cmd, "-c:v", "a64multi", str(path)], check=True)
    return path
