"""Decoding with sampling and threads, probing, and clear errors for files that are not whole videos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from reelserve.core.errors import InvalidInput, MediaError
from reelserve.media import EncodeSettings, decode_frames, probe
from tests.media.conftest import FAST, MakeClip, ramp_frames

EXACT = EncodeSettings(preset="ultrafast", crf=0)  # lossless-ish: a frame's grey level tells its index


def _level(rgb: np.ndarray) -> int:
    return round(float(rgb.mean()))


def test_every_frame_in_order_with_times(make_clip: MakeClip) -> None:
    path = make_clip(frames=ramp_frames(48), settings=EXACT).path
    frames = list(decode_frames(path, threads=2, thread_type="FRAME"))
    assert [f.index for f in frames] == list(range(48))
    assert frames[12].time_s == pytest.approx(0.5)
    assert all(f.rgb.dtype == np.uint8 and f.rgb.shape == (48, 64, 3) for f in frames)
    assert [_level(f.rgb) for f in frames[:4]] == pytest.approx([0, 4, 8, 12], abs=2)


def test_sampling_by_fps_takes_the_first_frame_of_each_interval(make_clip: MakeClip) -> None:
    path = make_clip(frames=ramp_frames(48), settings=EXACT).path  # 2 s at 24 fps
    frames = list(decode_frames(path, fps=4))
    assert [f.index for f in frames] == [0, 6, 12, 18, 24, 30, 36, 42]
    assert [f.time_s for f in frames] == pytest.approx([0, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75])
    assert len(list(decode_frames(path, fps=100))) == 48  # never more frames than the source has


def test_sampling_by_times_returns_the_frame_on_screen(make_clip: MakeClip) -> None:
    path = make_clip(frames=ramp_frames(60), fps=12, settings=EXACT).path  # 5 s at 12 fps
    frames = list(decode_frames(path, times=[4.99, 0.0, 0.51, 3.0, 99.0]))
    assert [f.index for f in frames] == [0, 6, 36, 59, 59]  # sorted; past the end → the last frame
    assert [_level(f.rgb) for f in frames] == pytest.approx([0, 24, 144, 236, 236], abs=2)


def test_scaled_decode(make_clip: MakeClip) -> None:
    (frame,) = decode_frames(make_clip().path, times=[0.5], size=(32, 16))
    assert frame.rgb.shape == (16, 32, 3)


def test_probe_describes_the_stream(make_clip: MakeClip) -> None:
    info = probe(make_clip(frames=ramp_frames(36), fps=12, settings=FAST).path)
    assert (info.frames, info.fps, info.width, info.height) == (36, 12.0, 64, 48)
    assert (info.codec, info.pix_fmt) == ("h264", "yuv420p")
    assert info.duration_s == pytest.approx(3.0)
    assert info.bit_rate and info.bit_rate > 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"fps": 2, "times": [1.0]}, "either fps or times"),
        ({"fps": 0}, "fps must be positive"),
        ({"times": [-1.0]}, "times must be"),
        ({"threads": -1}, "threads"),
        ({"thread_type": "MANY"}, "thread_type"),
    ],
)
def test_bad_decode_arguments(make_clip: MakeClip, kwargs: dict, message: str) -> None:
    path = make_clip().path
    with pytest.raises(InvalidInput, match=message):
        next(decode_frames(path, **kwargs))


def _damaged(tmp_path: Path, make_clip: MakeClip, kind: str) -> Path:
    bad = tmp_path / f"{kind}.mp4"
    if kind == "empty":
        bad.write_bytes(b"")
    elif kind == "garbage":
        bad.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    elif kind == "text":
        bad.write_text("this is not a video\n" * 50)
    elif kind == "missing":
        pass
    else:  # cut in half: with the index in front (faststart) the frames are missing; without, the index is
        settings = EncodeSettings(preset="ultrafast", faststart=kind == "truncated-faststart")
        data = make_clip("whole.mp4", settings=settings).path.read_bytes()
        bad.write_bytes(data[: len(data) // 2])
    return bad


@pytest.mark.parametrize(
    "kind", ["empty", "garbage", "text", "missing", "truncated-faststart", "truncated-moov-last"]
)
def test_damaged_files_raise_media_error_on_decode(tmp_path: Path, make_clip: MakeClip, kind: str) -> None:
    bad = _damaged(tmp_path, make_clip, kind)
    with pytest.raises(MediaError, match=r"cannot read|truncated|corrupt|empty|no such file"):
        list(decode_frames(bad))


@pytest.mark.parametrize(
    "kind", ["empty", "garbage", "text", "missing", "truncated-faststart", "truncated-moov-last"]
)
def test_damaged_files_raise_media_error_on_probe(tmp_path: Path, make_clip: MakeClip, kind: str) -> None:
    with pytest.raises(MediaError):
        probe(_damaged(tmp_path, make_clip, kind))


def test_audio_only_file_is_not_a_video(tmp_path: Path) -> None:
    import av  # a real WAV made with PyAV: a valid media file without a video stream

    path = tmp_path / "tone.wav"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=8000, layout="mono")
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        frame.sample_rate = 8000
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    with pytest.raises(MediaError, match="no video stream"):
        probe(path)


def test_far_apart_times_seek_and_stay_exact(make_clip: MakeClip) -> None:
    frames = ramp_frames(60)
    settings = EncodeSettings(preset="ultrafast", crf=0, gop=6)  # a keyframe every 0.5 s
    path = make_clip(frames=frames, fps=12, settings=settings).path  # 5 s: gaps over 2 s seek
    picked = list(decode_frames(path, times=[0.2, 2.9, 3.0, 4.75]))
    assert [f.index for f in picked] == [2, 34, 36, 57]
    assert [_level(f.rgb) for f in picked] == pytest.approx([8, 136, 144, 228], abs=2)
