"""Encoding: real codecs round-tripped through a real decoder; the streaming writer; bad input."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from reelserve.core.errors import InvalidInput, MediaError, UnknownName
from reelserve.media import (
    EncodeSettings,
    VideoWriter,
    choose_encoder,
    codecs,
    decode_frames,
    encode_video,
    probe,
)
from reelserve.media.codecs import try_open_encoder
from tests.media.conftest import FAST, MakeClip, gradient_frames, leftovers, solid_frames


def test_h264_round_trip_keeps_count_rate_size_and_colour(make_clip: MakeClip) -> None:
    result = make_clip(frames=solid_frames(30, (200, 40, 90), width=96, height=64), fps=30)
    assert (result.encoder, result.frames) == ("libx264", 30)
    assert result.bytes == result.path.stat().st_size > 0
    with av.open(str(result.path)) as container:
        stream = container.streams.video[0]
        assert stream.average_rate == 30
        assert stream.time_base == Fraction(1, 15360)  # the mp4 muxer's timescale: 30 doubled past 10000
        assert stream.codec_context.pix_fmt == "yuv420p"
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
    assert len(frames) == 30
    assert frames[0].shape == (64, 96, 3)
    # yuv420p is lossy and limited-range: a solid colour comes back within a few levels.
    np.testing.assert_allclose(frames[-1].reshape(-1, 3).mean(axis=0), (200, 40, 90), atol=4)


def test_faststart_puts_the_index_first(make_clip: MakeClip) -> None:
    data = make_clip().path.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat")  # players can start before the download ends


@pytest.mark.parametrize(
    ("codec", "encoder", "name"), [("h265", "libx265", "hevc"), ("av1", "libsvtav1", "av1")]
)
def test_other_codecs_round_trip(make_clip: MakeClip, codec: str, encoder: str, name: str) -> None:
    if encoder not in av.codecs_available:
        pytest.skip(f"this FFmpeg build has no {encoder}")
    result = make_clip(
        frames=solid_frames(12, (30, 160, 220)), settings=EncodeSettings(codec=codec, preset="ultrafast")
    )
    assert result.encoder == encoder
    info = probe(result.path)
    assert (info.codec, info.frames, info.width, info.height, info.fps) == (name, 12, 64, 48, 24.0)
    if name == "hevc":
        with av.open(str(result.path)) as container:  # hvc1, not hev1: Apple players need it
            assert container.streams.video[0].codec_context.codec_tag == "hvc1"
    last = list(decode_frames(result.path))[-1]
    np.testing.assert_allclose(last.rgb.reshape(-1, 3).mean(axis=0), (30, 160, 220), atol=6)


def test_nvenc_falls_back_to_libx264_and_says_why(make_clip: MakeClip) -> None:
    result = make_clip(settings=EncodeSettings(codec="h264_nvenc", preset="ultrafast"))
    if result.encoder == "h264_nvenc":
        pytest.skip("this machine has a working NVENC device; nothing to fall back from")
    assert result.encoder == "libx264"
    assert result.fallback_reason is not None and "h264_nvenc" in result.fallback_reason
    assert probe(result.path).frames == 24


def test_writer_streams_frames_as_they_come(tmp_path: Path) -> None:
    frames = gradient_frames(20)
    with VideoWriter(tmp_path / "stream.mp4", 64, 48, fps=12, settings=FAST) as writer:
        assert writer.write(frames[:7]) == 7
        assert writer.write(iter(frames[7:])) == 13  # any iterable of (H, W, 3) frames
        assert not (tmp_path / "stream.mp4").exists()  # nothing at the target until close
    info = probe(tmp_path / "stream.mp4")
    assert (info.frames, info.fps) == (20, 12.0)
    assert leftovers(tmp_path) == []


def test_writer_close_returns_the_result(tmp_path: Path) -> None:
    writer = VideoWriter(tmp_path / "w.mp4", 64, 48, settings=FAST).open()
    writer.write(gradient_frames(5))
    result = writer.close()
    assert (result.frames, result.encoder, result.path) == (5, "libx264", tmp_path / "w.mp4")
    assert result.seconds > 0


@pytest.mark.parametrize(
    ("frames", "message"),
    [
        (np.zeros((4, 48, 64, 3), np.float32), "dtype float32"),
        (np.zeros((4, 48, 64, 4), np.uint8), "expected (H, W, 3)"),
        (np.zeros((48, 64, 3), np.uint8), "expected (T, H, W, 3)"),
        (np.zeros((4, 47, 64, 3), np.uint8), "even width and height"),
        (np.zeros((0, 48, 64, 3), np.uint8), "no frames"),
        ([np.zeros((48, 64, 3), np.uint8), np.zeros((48, 62, 3), np.uint8)], "same size"),
        ("frames.png", "not a string"),
    ],
)
def test_bad_frames_are_invalid_input_and_leave_no_file(tmp_path: Path, frames: object, message: str) -> None:
    with pytest.raises(InvalidInput, match=message.replace("(", r"\(").replace(")", r"\)")):
        encode_video(frames, tmp_path / "bad.mp4", settings=FAST)  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_bad_settings_name_the_valid_choices() -> None:
    with pytest.raises(UnknownName, match="valid codecs: av1, h264"):
        EncodeSettings(codec="mpeg2")
    with pytest.raises(UnknownName, match="veryfast"):
        EncodeSettings(preset="warp")
    with pytest.raises(InvalidInput, match="crf"):
        EncodeSettings(crf=99)
    with pytest.raises(UnknownName, match="yuv444p"):
        EncodeSettings(pix_fmt="rgb24")


def test_unwritable_path_is_a_media_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_bytes(b"")
    with pytest.raises(MediaError, match="does not exist"):
        encode_video(gradient_frames(2), blocker / "x.mp4", settings=FAST)
    with pytest.raises(MediaError, match="does not exist"):
        encode_video(gradient_frames(2), tmp_path / "missing" / "x.mp4", settings=FAST)


def test_unknown_container_suffix_is_invalid_input(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="container"):
        encode_video(gradient_frames(2), tmp_path / "x.gifv", settings=FAST)


def test_failure_midway_leaves_no_partial_and_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "keep.mp4"
    target.write_bytes(b"previous version")

    def frames_then_crash():  # a producer (e.g. a model) that fails after some frames
        yield from gradient_frames(5)
        raise RuntimeError("model crashed")

    with pytest.raises(RuntimeError, match="model crashed"):
        encode_video(frames_then_crash(), target, settings=FAST)
    assert target.read_bytes() == b"previous version"
    assert leftovers(tmp_path) == []


def test_writer_aborts_on_exception_inside_the_block(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput), VideoWriter(tmp_path / "a.mp4", 64, 48, settings=FAST) as writer:
        writer.write(gradient_frames(3))
        writer.write(np.zeros((2, 48, 64, 3), np.int16))
    assert list(tmp_path.iterdir()) == []


def test_hevc_nvenc_falls_back_to_libx265(make_clip: MakeClip) -> None:
    if "libx265" not in av.codecs_available:
        pytest.skip("this FFmpeg build has no libx265")
    result = make_clip(
        frames=gradient_frames(4), settings=EncodeSettings(codec="hevc_nvenc", preset="ultrafast")
    )
    assert result.encoder in {"hevc_nvenc", "libx265"}
    assert (result.encoder == "libx265") == (result.fallback_reason is not None)


def test_probe_open_of_a_working_encoder_succeeds() -> None:
    # The same probe that rejects NVENC here must accept an encoder that works (and clean up after it).
    try_open_encoder("libx264", {"preset": "ultrafast"}, 64, 48, Fraction(24))


def test_codec_missing_from_the_build_is_a_clear_media_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(codecs.av, "codecs_available", frozenset({"libx264"}))
    with pytest.raises(MediaError, match="libsvtav1 is not in this FFmpeg build"):
        choose_encoder(EncodeSettings(codec="av1"), 64, 48, Fraction(24))
    choice = choose_encoder(EncodeSettings(codec="h264_nvenc"), 64, 48, Fraction(24))
    assert choice.encoder == "libx264" and "h264_nvenc is not in this FFmpeg build" in (
        choice.fallback_reason or ""
    )


@pytest.mark.parametrize("suffix", [".mov", ".mkv"])
def test_other_containers_by_suffix(make_clip: MakeClip, suffix: str) -> None:
    info = probe(make_clip(f"clip{suffix}", frames=gradient_frames(10)).path)
    assert (info.frames, info.width, info.height, info.codec) == (10, 64, 48, "h264")
    assert info.duration_s == pytest.approx(10 / 24, abs=0.05)
