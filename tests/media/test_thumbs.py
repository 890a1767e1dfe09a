"""Thumbnails and spritesheets are real JPEGs of the right size showing the right frames."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from reelserve.core.errors import InvalidInput
from reelserve.media import EncodeSettings, spritesheet, thumbnail
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
