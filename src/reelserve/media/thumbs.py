"""JPEG thumbnails: one chosen frame, or a spritesheet (a grid of evenly spaced frames) for scrubbing.

Two ways in: from a video file (decoded with PyAV), or from frames already in memory
(`FrameSampler`, fed by an encoder loop, so a generated clip is never decoded again just for its
pictures). Both pick the same frames: the one on screen at a time, and the middles of equal slices.
"""

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

__all__ = ["FrameSampler", "Spritesheet", "spritesheet", "thumbnail"]


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
    columns, rows = _grid(count, columns)
    info = probe(path)
    tile_w, tile_h = _fit(info.width, info.height, tile_width)
    times = _slice_middles(info.duration_s, count)
    tiles = [f.rgb for f in decode_frames(path, times=times, size=(tile_w, tile_h))]
    return _sheet(tiles, columns, rows, tile_w, tile_h, quality, times)


def _grid(count: int, columns: int | None) -> tuple[int, int]:
    if count < 1:
        raise InvalidInput(f"count must be >= 1, got {count}", param="count")
    columns = columns or math.ceil(math.sqrt(count))
    if columns < 1:
        raise InvalidInput(f"columns must be >= 1, got {columns}", param="columns")
    return columns, math.ceil(count / columns)


def _slice_middles(duration_s: float, count: int) -> list[float]:
    """Middles of equal slices: never the very first black frame of a fade-in, nor past the end."""
    return [(i + 0.5) * duration_s / count for i in range(count)]


def _sheet(
    tiles: list[np.ndarray],
    columns: int,
    rows: int,
    tile_w: int,
    tile_h: int,
    quality: int,
    times: list[float],
) -> Spritesheet:
    sheet = np.zeros((rows * tile_h, columns * tile_w, 3), np.uint8)
    for i, rgb in enumerate(tiles):
        row, col = divmod(i, columns)
        sheet[row * tile_h : (row + 1) * tile_h, col * tile_w : (col + 1) * tile_w] = rgb
    return Spritesheet(_jpeg(sheet, quality), columns, rows, tile_w, tile_h, tuple(times))


def _resize(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if (rgb.shape[1], rgb.shape[0]) == size:
        return rgb
    return np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.BILINEAR))


class FrameSampler:
    """Keeps, from a stream of frames offered in order, just those a thumbnail and a spritesheet
    need — the same frames `thumbnail` and `spritesheet` would decode from the finished file.

    ``sampler.offer(first_index, frames)`` for each batch of (n, H, W, 3) uint8 frames, then
    ``sampler.thumbnail()`` and ``sampler.spritesheet()``.
    """

    def __init__(
        self,
        num_frames: int,
        fps: float,
        *,
        thumb_at_s: float = 0.0,
        count: int = 16,
        columns: int | None = None,
    ) -> None:
        if num_frames < 1 or fps <= 0:
            raise InvalidInput(f"need at least one frame at a positive rate, got {num_frames} at {fps}")
        if thumb_at_s < 0:
            raise InvalidInput(f"the thumbnail time must be >= 0 s, got {thumb_at_s}", param="at_s")
        self.num_frames = num_frames
        self.count = count
        self.columns, self.rows = _grid(count, columns)
        self.times = _slice_middles(num_frames / fps, count)
        self._thumb_index = self._index_at(thumb_at_s, fps)
        self._tile_indices = [self._index_at(t, fps) for t in self.times]
        self._wanted = {self._thumb_index, *self._tile_indices}
        self._kept: dict[int, np.ndarray] = {}

    def _index_at(self, t: float, fps: float) -> int:
        """The frame on screen at ``t`` seconds (constant frame rate), clamped to the last one."""
        return min(self.num_frames - 1, math.floor(t * fps + 1e-6))

    def offer(self, first_index: int, frames: np.ndarray) -> None:
        for index in self._wanted.intersection(range(first_index, first_index + len(frames))):
            self._kept[index] = np.array(frames[index - first_index], copy=True)

    def _frame(self, index: int) -> np.ndarray:
        try:
            return self._kept[index]
        except KeyError:
            raise InvalidInput(f"frame {index} was never offered to the sampler") from None

    def thumbnail(self, *, max_width: int | None = 320, quality: int = 85) -> bytes:
        rgb = self._frame(self._thumb_index)
        return _jpeg(_resize(rgb, _fit(rgb.shape[1], rgb.shape[0], max_width)), quality)

    def spritesheet(self, *, tile_width: int = 160, quality: int = 80) -> Spritesheet:
        first = self._frame(self._tile_indices[0])
        tile_w, tile_h = _fit(first.shape[1], first.shape[0], tile_width)
        tiles = [_resize(self._frame(i), (tile_w, tile_h)) for i in self._tile_indices]
        return _sheet(tiles, self.columns, self.rows, tile_w, tile_h, quality, self.times)
