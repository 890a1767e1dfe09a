"""Fragmented MP4: init + per-chunk segments play as one file; each segment is moof+mdat from a keyframe."""

from __future__ import annotations

import io
import itertools
import shutil
import subprocess
from pathlib import Path

import av
import numpy as np
import pytest

from reelserve.core.errors import InvalidInput, MediaError
from reelserve.media import EncodeSettings, FragmentedEncoder, decode_frames, probe
from reelserve.media.fmp4 import iter_boxes
from tests.media.conftest import gradient_frames, ramp_frames

STREAM = EncodeSettings(preset="ultrafast", faststart=False)


def _stream(chunks: list[np.ndarray], settings: EncodeSettings = STREAM) -> tuple[bytes, list[bytes]]:
    encoder = FragmentedEncoder(64, 48, fps=24, settings=settings)
    init = encoder.init_segment()
    segments = [encoder.encode_chunk(chunk) for chunk in chunks]
    assert encoder.close() == b""
    return init, segments


def test_segments_concatenate_into_a_playable_mp4(tmp_path: Path) -> None:
    frames = ramp_frames(30)
    init, segments = _stream([frames[:12], frames[12:20], frames[20:]])
    assert [kind for kind, _, _ in iter_boxes(init)] == ["ftyp", "moov"]
    for segment in segments:
        assert [kind for kind, _, _ in iter_boxes(segment)] == ["moof", "mdat"]
    path = tmp_path / "stream.mp4"
    path.write_bytes(init + b"".join(segments))
    decoded = list(decode_frames(path))
    assert len(decoded) == 30
    assert np.diff([f.time_s for f in decoded]) == pytest.approx([1 / 24] * 29)  # one timeline, no gaps
    assert [round(f.rgb.mean() / 4) for f in decoded] == list(range(30))  # every frame, in order
    assert (probe(path).width, probe(path).height) == (64, 48)


@pytest.mark.parametrize(
    ("codec", "encoder"), [("h264", "libx264"), ("h265", "libx265"), ("av1", "libsvtav1")]
)
def test_uneven_chunks_keep_one_gapless_timeline_from_zero(tmp_path: Path, codec: str, encoder: str) -> None:
    if encoder not in av.codecs_available:
        pytest.skip(f"this FFmpeg build has no {encoder}")
    frames, sizes = ramp_frames(40), [1, 2, 7, 1, 13, 16]  # tiny chunks have no reorder delay to hide
    bounds = np.cumsum([0, *sizes])
    chunks = [frames[a:b] for a, b in itertools.pairwise(bounds)]
    init, segments = _stream(chunks, EncodeSettings(codec=codec, preset="medium"))
    path = tmp_path / "stream.mp4"
    path.write_bytes(init + b"".join(segments))
    with av.open(str(path)) as container:
        decoded = list(container.decode(video=0))
    assert [float(f.time) for f in decoded] == pytest.approx([i / 24 for i in range(40)])
    assert [round(f.to_ndarray(format="gray").mean() / 4) for f in decoded] == list(range(40))


@pytest.mark.skipif(shutil.which("ffprobe") is None, reason="the ffprobe CLI is not installed")
def test_ffprobe_counts_every_frame(tmp_path: Path) -> None:
    init, segments = _stream([gradient_frames(10), gradient_frames(10, seed=1), gradient_frames(5, seed=2)])
    path = tmp_path / "stream.mp4"
    path.write_bytes(init + b"".join(segments))
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
         "stream=nb_read_frames,width,height", "-of", "csv=p=0", str(path)],
        capture_output=True, text=True, check=True, timeout=30,
    )  # fmt: skip
    assert out.stdout.strip() == "64,48,25"


def test_each_segment_starts_with_a_keyframe() -> None:
    init, segments = _stream([gradient_frames(8), gradient_frames(8, seed=1)])
    for segment in segments:  # init + any single segment decodes on its own
        with av.open(io.BytesIO(init + segment)) as container:
            packets = [p for p in container.demux(video=0) if p.size]
            assert packets[0].is_keyframe
        with av.open(io.BytesIO(init + segment)) as container:
            assert len(list(container.decode(video=0))) == 8


def test_mfhd_sequence_numbers_increase() -> None:
    _, segments = _stream([gradient_frames(3)] * 3)
    # moof (8-byte header) > mfhd: size, type, version+flags, then the 32-bit sequence number.
    assert all(s[12:16] == b"mfhd" for s in segments)
    numbers = [int.from_bytes(s[20:24], "big") for s in segments]
    assert numbers == [1, 2, 3]


@pytest.mark.parametrize(("codec", "encoder"), [("h265", "libx265"), ("av1", "libsvtav1")])
def test_other_codecs_stream_too(tmp_path: Path, codec: str, encoder: str) -> None:
    if encoder not in av.codecs_available:
        pytest.skip(f"this FFmpeg build has no {encoder}")
    init, segments = _stream(
        [gradient_frames(6), gradient_frames(6, seed=3)], EncodeSettings(codec=codec, preset="ultrafast")
    )
    path = tmp_path / "stream.mp4"
    path.write_bytes(init + b"".join(segments))
    assert len(list(decode_frames(path))) == 12


def test_bad_chunks_and_closed_encoder() -> None:
    encoder = FragmentedEncoder(64, 48, settings=STREAM)
    with pytest.raises(InvalidInput, match="same size"):
        encoder.encode_chunk(np.zeros((2, 40, 64, 3), np.uint8))
    assert encoder.encode_chunk(np.zeros((0, 48, 64, 3), np.uint8)) == b""
    encoder.close()
    with pytest.raises(MediaError, match="closed"):
        encoder.encode_chunk(gradient_frames(2))
    with pytest.raises(InvalidInput, match="even"):
        FragmentedEncoder(63, 48)
