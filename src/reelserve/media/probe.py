"""Probe a video file: duration, frame count, rate, size, codec, pixel format and bit rate."""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction

import av

from reelserve.core.errors import MediaError
from reelserve.media._input import open_video

__all__ = ["VideoInfo", "probe"]


@dataclass(frozen=True, slots=True)
class VideoInfo:
    """What a video file says about its first video stream."""

    duration_s: float  #: stream duration (container duration if the stream has none)
    frames: int  #: number of video frames (from the index, else counted by demuxing)
    fps: float  #: average frame rate
    width: int
    height: int
    codec: str  #: codec name, e.g. "h264", "hevc", "av1"
    pix_fmt: str  #: e.g. "yuv420p"
    bit_rate: int | None  #: bits per second, if known
    time_base: Fraction  #: the stream's time base (ticks per second is its inverse)


def _count_packets(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> int:
    # Some containers (Matroska, raw streams) carry no frame count; demuxing is cheap (no decoding).
    return sum(1 for packet in container.demux(stream) if packet.size)


def _duration_s(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return 0.0


def _check_complete(path: str | os.PathLike[str], stream: av.video.stream.VideoStream) -> None:
    # An MP4 cut short after its index (faststart) opens fine; its index then points past the end.
    needed = max((entry.pos + entry.size for entry in stream.index_entries), default=0)
    size = os.path.getsize(path)
    if needed > size:
        raise MediaError(f"{path} is truncated: its index needs {needed} bytes but the file has {size}")


def probe(path: str | os.PathLike[str]) -> VideoInfo:
    """Describe the first video stream of ``path`` from its headers and index (nothing is decoded).

    Raises `MediaError` for a missing, empty, corrupt, non-video or truncated file.
    """
    with open_video(path) as (container, stream):
        _check_complete(path, stream)
        ctx = stream.codec_context
        if not ctx.width or not ctx.height or stream.time_base is None:
            raise MediaError(f"{path} has a video stream without a size or time base; the file is damaged")
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        duration = _duration_s(container, stream)
        frames = stream.frames or _count_packets(container, stream)
        fps = float(rate) if rate else (frames / duration if duration else 0.0)
        return VideoInfo(
            duration_s=duration,
            frames=frames,
            fps=fps,
            width=ctx.width,
            height=ctx.height,
            codec=ctx.codec.canonical_name,
            pix_fmt=ctx.pix_fmt or "unknown",
            bit_rate=ctx.bit_rate or container.bit_rate or None,
            time_base=stream.time_base,
        )
