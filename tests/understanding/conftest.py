"""Fixtures for the understanding tests: synthetic videos with known cuts, made once per session."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from reelserve.pipeline.analyze.spec import AnalyzeSpec
from tests.understanding.videos import make_video


@dataclass(frozen=True)
class Clip:
    path: Path
    cuts: tuple[int, ...]  #: frames where a new scene starts
    frames: int
    fps: float


#: (name, frames, cuts, width, height, codec, gop): several codecs, sizes and GOP structures.
CLIPS = {
    "h264": ("h264.mp4", 72, (30, 50), 64, 48, "h264", 12),
    "h265": ("h265.mp4", 96, (24, 61), 160, 90, "h265", 12),  # x265: open GOPs (CRA keyframes)
    "av1": ("av1.mkv", 72, (20, 47), 96, 64, "av1", 12),
    "long_gop": ("long.mov", 60, (17, 40), 128, 72, "h264", None),  # one chunk: x264's default GOP is 250
}


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Clip]:
    root = tmp_path_factory.mktemp("clips")
    made = {}
    for key, (name, total, cuts, width, height, codec, gop) in CLIPS.items():
        path = make_video(root / name, total, cuts, width=width, height=height, codec=codec, gop=gop)
        made[key] = Clip(path, cuts, total, 24.0)
    return made


@pytest.fixture(scope="session")
def damaged(tmp_path_factory: pytest.TempPathFactory, clips: dict[str, Clip]) -> dict[str, Path]:
    """Inputs that must fail on their own: empty, garbage, truncated, no video stream."""
    root = tmp_path_factory.mktemp("damaged")
    empty = root / "empty.mp4"
    empty.write_bytes(b"")
    garbage = root / "garbage.mp4"
    garbage.write_bytes(b"\x00\x01not a video\xff" * 64)
    whole = clips["h264"].path.read_bytes()
    truncated = root / "truncated.mp4"
    truncated.write_bytes(whole[: len(whole) // 2])  # faststart: the index promises frames that are gone
    text = root / "notes.txt"
    text.write_text("a text file is not a video\n")
    return {"empty": empty, "garbage": garbage, "truncated": truncated, "unsupported": text}


def spec(**overrides: object) -> AnalyzeSpec:
    base: dict[str, object] = {
        "tasks": ("shots", "labels"),
        "fps": 4.0,
        "chunk_seconds": 1.0,
        "batch_size": 4,
    }
    base.update(overrides)
    return AnalyzeSpec(**base)  # type: ignore[arg-type]
