"""JPEG thumbnails: one chosen frame, or a spritesheet (a grid of evenly spaced frames) for scrubbing."""

from __future__ import annotations

import io
import math
import os
from dataclasses import dataclass

import numpy as np
from PIL import Image

from reelserve.core.errors import InvalidInput
from reelserve.media.decode import decode_frames
from reelserve.media.probe import probe

__all__ = ["Spritesheet", "spritesheet", "thumbnail"]


@dataclass(frozen=True, slots=True)
class Spritesheet:
    """A JPEG grid of frames, row-major, plus what a player needs to find a tile by time."""

    jpeg: bytes  #: the image, columns x rows tiles of tile_width x tile_height
    columns: int
    rows: int
    tile_width: int
    tile_height: int
    times_s: tuple[float, ...]  #: the time of the frame in each tile, in tile order


def _fit(width: int, height: int, max_width: int | None) -> tuple[int, int]:
    """(width, height) scaled down to ``max_width`` keeping the aspect ratio; never scaled up."""
    if max_width is None or width <= max_width:
        return width, height
    return max_width, max(1, round(height * max_width / width))


def _jpeg(rgb: np.ndarray, quality: int) -> bytes:
    if not 1 <= quality <= 95:
        raise InvalidInput(f"JPEG quality must be in 1..95, got {quality}", param="quality")
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, format="JPEG", quality=quality, optimize=True)
    return out.getvalue()


def thumbnail(
    path: str | os.PathLike[str], at_s: float = 0.0, *, max_width: int | None = 320, quality: int = 85
) -> bytes:
    """JPEG bytes of the frame on screen at ``at_s`` seconds, at most ``max_width`` pixels wide.

    Raises `MediaError` if the video cannot be read and `InvalidInput` for a negative time.
    """
    info = probe(path)
    size = _fit(info.width, info.height, max_width)
    frame = next(decode_frames(path, times=[at_s], size=size))
    return _jpeg(frame.rgb, quality)


def spritesheet(
    path: str | os.PathLike[str],
    count: int = 16,
    *,
    columns: int | None = None,
    tile_width: int = 160,
    quality: int = 80,
) -> Spritesheet:
    """A grid of ``count`` frames taken at the middle of ``count`` equal slices of the video.

    ``columns`` defaults to a near-square grid. The sheet is exactly columns*tile_width wide and
    rows*tile_height high; unused tiles of the last row are black.
    """
    if count < 1:
        raise InvalidInput(f"count must be >= 1, got {count}", param="count")
    columns = columns or math.ceil(math.sqrt(count))
    if columns < 1:
        raise InvalidInput(f"columns must be >= 1, got {columns}", param="columns")
    rows = math.ceil(count / columns)
    info = probe(path)
    tile_w, tile_h = _fit(info.width, info.height, tile_width)
    # Middles of equal slices: never the very first black frame of a fade-in, nor past the end.
    times = [(i + 0.5) * info.duration_s / count for i in range(count)]
    sheet = np.zeros((rows * tile_h, columns * tile_w, 3), np.uint8)
    for i, frame in enumerate(decode_frames(path, times=times, size=(tile_w, tile_h))):
        row, col = divmod(i, columns)
        sheet[row * tile_h : (row + 1) * tile_h, col * tile_w : (col + 1) * tile_w] = frame.rgb
    return Spritesheet(_jpeg(sheet, quality), columns, rows, tile_w, tile_h, tuple(times))
