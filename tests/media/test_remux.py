"""Remuxing: concatenation and keyframe-aligned splits copy packets, so frames and pixels survive exactly."""

from __future__ import annotations

from pathlib import Path

import pytest

from reelserve.core.errors import InvalidInput, MediaError
from reelserve.media import EncodeSettings, concat, decode_frames, probe, split_at_keyframes
from tests.media.conftest import (
    FAST,
    MakeClip,
    gradient_frames,
    leftovers,
    ramp_frames,
    solid_frames,
    undecodable_video,
)

GOP12 = EncodeSettings(preset="ultrafast", crf=0, gop=12)  # a keyframe every 0.5 s at 24 fps


def test_concat_plays_inputs_back_to_back(tmp_path: Path, make_clip: MakeClip) -> None:
    a = make_clip("a.mp4", frames=solid_frames(30, (200, 0, 0))).path
    b = make_clip("b.mp4", frames=solid_frames(18, (0, 0, 200))).path
    out = concat([a, b, a], tmp_path / "c.mp4")
    info = probe(out)
    assert (info.frames, info.fps) == (78, 24.0)
    assert info.duration_s == pytest.approx(78 / 24)
    frames = list(decode_frames(out))
    assert len(frames) == 78
    assert [f.time_s for f in frames] == pytest.approx([i / 24 for i in range(78)])
    reds = [f.rgb[..., 0].mean() > 100 for f in frames]
    assert reds == [True] * 30 + [False] * 18 + [True] * 30


def test_concat_rejects_different_settings(tmp_path: Path, make_clip: MakeClip) -> None:
    a = make_clip("a.mp4").path
    b = make_clip("b.mp4", frames=gradient_frames(5, width=32, height=32)).path
    with pytest.raises(InvalidInput, match="same settings"):
        concat([a, b], tmp_path / "c.mp4")
    with pytest.raises(InvalidInput):
        concat([], tmp_path / "c.mp4")
    assert not (tmp_path / "c.mp4").exists()


def test_concat_of_a_damaged_input_is_a_media_error(tmp_path: Path, make_clip: MakeClip) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\0" * 100)
    with pytest.raises(MediaError):
        concat([make_clip().path, bad], tmp_path / "c.mp4")


def test_split_cuts_on_keyframes_and_keeps_every_frame(tmp_path: Path, make_clip: MakeClip) -> None:
    source = make_clip(frames=ramp_frames(60), settings=GOP12).path  # 2.5 s, keyframes every 0.5 s
    (tmp_path / "chunks").mkdir()
    chunks = split_at_keyframes(source, 1.0, tmp_path / "chunks")
    assert [start for start, _, _ in chunks] == pytest.approx([0, 1, 2])
    assert [end for _, end, _ in chunks] == pytest.approx([1, 2, 2.5])
    counts = [probe(path).frames for _, _, path in chunks]
    assert counts == [24, 24, 12]
    first = [next(decode_frames(path)) for _, _, path in chunks]
    assert [f.time_s for f in first] == [0.0, 0.0, 0.0]  # each chunk starts at 0
    assert [round(f.rgb.mean() / 4) for f in first] == [0, 24, 48]  # and with the right frame
    rejoined = concat([path for _, _, path in chunks], tmp_path / "rejoined.mp4")
    assert probe(rejoined).frames == 60


def test_split_waits_for_the_next_keyframe(tmp_path: Path, make_clip: MakeClip) -> None:
    source = make_clip(frames=gradient_frames(48), settings=GOP12).path
    chunks = split_at_keyframes(source, 0.7, tmp_path)  # no keyframe at 0.7 s: cut at 1.0
    assert [start for start, _, _ in chunks] == pytest.approx([0, 1.0])
    assert all(path.parent == tmp_path for _, _, path in chunks)


def test_split_bad_arguments(tmp_path: Path, make_clip: MakeClip) -> None:
    with pytest.raises(InvalidInput):
        split_at_keyframes(make_clip(settings=FAST).path, 0)
    with pytest.raises(MediaError):
        split_at_keyframes(tmp_path / "missing.mp4", 1.0)


def test_truncated_input_fails_whole_and_leaves_nothing(tmp_path: Path, make_clip: MakeClip) -> None:
    data = make_clip(frames=gradient_frames(48), settings=GOP12).path.read_bytes()  # index in front
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) * 3 // 4])
    out = tmp_path / "chunks"
    out.mkdir()
    with pytest.raises(MediaError, match="truncated"):
        split_at_keyframes(cut, 0.5, out)
    assert list(out.iterdir()) == []  # the chunks written before the error are removed too
    with pytest.raises(MediaError, match="truncated"):
        concat([cut], tmp_path / "joined.mp4")
    assert not (tmp_path / "joined.mp4").exists()
    assert leftovers(tmp_path) == [] and leftovers(out) == []


@pytest.mark.parametrize(
    ("codec", "name"), [("h264", "src.mp4"), ("h265", "src.mp4"), ("av1", "src.mp4"), ("av1", "src.mkv")]
)
def test_split_copies_packets_of_every_codec(
    tmp_path: Path, make_clip: MakeClip, codec: str, name: str
) -> None:
    # AV1's decoder here is libdav1d, which has no encoder of that name: the split must not need one.
    settings = EncodeSettings(codec=codec, preset="ultrafast", crf=20, gop=12)
    source = make_clip(name, frames=ramp_frames(48), settings=settings).path
    out = tmp_path / "chunks"
    out.mkdir()
    chunks = split_at_keyframes(source, 1.0, out)
    assert [start for start, _, _ in chunks] == pytest.approx([0, 1])
    assert all(probe(path).codec == probe(source).codec for _, _, path in chunks)
    assert sum(probe(path).frames for _, _, path in chunks) == 48  # every packet lands in one chunk
    # Stream copy: rejoined, the chunks decode to the source's very pixels. (Chunks are not decoded one
    # by one here: x265's open GOPs put a cut's leading pictures in the next chunk; the analyze
    # decoder handles that.)
    rejoined = concat([path for _, _, path in chunks], tmp_path / "rejoined.mp4")
    whole = [f.rgb for f in decode_frames(source)]
    again = [f.rgb for f in decode_frames(rejoined)]
    assert len(again) == len(whole) == 48
    assert all((a == b).all() for a, b in zip(whole, again, strict=True))


def test_unsupported_codec_is_a_clear_media_error(tmp_path: Path) -> None:
    path = undecodable_video(tmp_path / "a64.nut")
    with pytest.raises(MediaError, match="unsupported video codec"):
        split_at_keyframes(path, 1.0, tmp_path)
    with pytest.raises(MediaError, match="unsupported video codec"):
        probe(path)
