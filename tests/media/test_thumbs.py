"""Thumbnails and spritesheets are real JPEGs of the right size showing the right frames."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from reelserve.core.errors import InvalidInput
from reelserve.media import EncodeSettings, FrameSampler, spritesheet, thumbnail
from tests.media.conftest import MakeClip, ramp_frames, solid_frames


def test_thumbnail_is_a_scaled_jpeg_of_the_chosen_frame(make_clip: MakeClip) -> None:
    frames = np.concatenate(
        [solid_frames(12, (250, 10, 10), 128, 96), solid_frames(12, (10, 10, 250), 128, 96)]
    )
    path = make_clip(frames=frames).path
    image = Image.open(io.BytesIO(thumbnail(path, 0.75, max_width=64)))
    assert (image.format, image.size) == ("JPEG", (64, 48))
    red, _, blue = np.asarray(image).reshape(-1, 3).mean(axis=0)
    assert blue > 200 and red < 40  # the frame at 0.75 s is in the blue half
    assert Image.open(io.BytesIO(thumbnail(path, max_width=None))).size == (128, 96)


def test_spritesheet_grid_and_times(make_clip: MakeClip) -> None:
    path = make_clip(frames=ramp_frames(48), settings=EncodeSettings(preset="ultrafast", crf=0)).path
    sheet = spritesheet(path, count=6, columns=3, tile_width=32)
    image = Image.open(io.BytesIO(sheet.jpeg))
    assert (sheet.columns, sheet.rows, sheet.tile_width, sheet.tile_height) == (3, 2, 32, 24)
    assert image.size == (96, 48)
    assert sheet.times_s == pytest.approx([(i + 0.5) * 2 / 6 for i in range(6)])
    tiles = np.asarray(image.convert("L"), dtype=float)
    levels = [
        tiles[r * 24 + 4 : r * 24 + 20, c * 32 + 4 : c * 32 + 28].mean() for r in range(2) for c in range(3)
    ]
    assert levels == sorted(levels)  # evenly spaced frames of a brightening ramp


def test_spritesheet_default_grid_is_near_square(make_clip: MakeClip) -> None:
    sheet = spritesheet(make_clip().path, count=5)
    assert (sheet.columns, sheet.rows) == (3, 2)


def test_bad_thumbnail_arguments(make_clip: MakeClip) -> None:
    path = make_clip().path
    with pytest.raises(InvalidInput):
        spritesheet(path, count=0)
    with pytest.raises(InvalidInput):
        thumbnail(path, quality=0)


def test_frame_sampler_picks_the_frames_the_file_functions_decode(make_clip: MakeClip) -> None:
    """Fed the frames in batches, the sampler keeps just the thumbnail's and the tiles' frames, and
    its pictures match those decoded from the (lossless) file: the encoder loop never re-decodes."""
    frames = ramp_frames(48)
    clip = make_clip(frames=frames, settings=EncodeSettings(preset="ultrafast", crf=0))
    sampler = FrameSampler(48, 24.0, thumb_at_s=0.75, count=6, columns=3)
    for start in range(0, 48, 17):  # uneven batches, as segments come
        sampler.offer(start, frames[start : start + 17])
    assert len(sampler._kept) == 7  # 6 tiles + the thumbnail, nothing else held
    from_file = spritesheet(clip.path, count=6, columns=3, tile_width=32)
    from_memory = sampler.spritesheet(tile_width=32)
    assert from_memory.times_s == from_file.times_s
    assert (from_memory.columns, from_memory.rows, from_memory.tile_height) == (3, 2, 24)
    a = np.asarray(Image.open(io.BytesIO(from_memory.jpeg)), dtype=float)
    b = np.asarray(Image.open(io.BytesIO(from_file.jpeg)), dtype=float)
    assert a.shape == b.shape and np.abs(a - b).mean() < 2.0  # same frames (neighbours differ by 4 levels)
    thumb_mem = np.asarray(Image.open(io.BytesIO(sampler.thumbnail(max_width=64))), dtype=float)
    thumb_file = np.asarray(Image.open(io.BytesIO(thumbnail(clip.path, 0.75, max_width=64))), dtype=float)
    assert thumb_mem.shape == thumb_file.shape == (48, 64, 3)
    assert np.abs(thumb_mem - thumb_file).mean() < 2.0


def test_frame_sampler_refuses_what_it_never_saw() -> None:
    sampler = FrameSampler(10, 10.0, count=4)
    sampler.offer(0, np.zeros((5, 16, 16, 3), np.uint8))
    with pytest.raises(InvalidInput, match="never offered"):
        sampler.spritesheet()
    with pytest.raises(InvalidInput):
        FrameSampler(0, 10.0)
