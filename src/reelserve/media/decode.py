"""Decode a video to uint8 RGB frames: every frame, N frames per second, or the frames at given times.

Times are seconds from the start of the stream (the first frame is at about 0). A frame "at" time
``t`` is the frame on screen at ``t``: the last frame whose presentation time is ≤ ``t``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np

from reelserve.core.errors import InvalidInput, MediaError
from reelserve.media._input import open_video

__all__ = ["DecodedFrame", "decode_frames"]

#: Decoding forward is cheaper than a seek (which restarts at a keyframe) for gaps shorter than this.
_SEEK_GAP_S = 2.0
#: Frame times are rationals rounded to float; this absorbs the rounding when comparing them.
_EPS = 1e-6

_THREAD_TYPES = ("NONE", "SLICE", "FRAME", "AUTO")


@dataclass(frozen=True, slots=True)
class DecodedFrame:
    """One decoded frame."""

    index: int  #: position in the stream at its average rate (round(time_s * fps))
    time_s: float  #: presentation time in seconds from the start of the stream
    rgb: np.ndarray  #: (H, W, 3) uint8 RGB


class _Converter:
    """Turns `av.VideoFrame`s into `DecodedFrame`s relative to the stream's start."""

    def __init__(
        self, stream: av.video.stream.VideoStream, size: tuple[int, int] | None, threads: int
    ) -> None:
        self.time_base: Fraction = stream.time_base or Fraction(1, 1)
        self.start = stream.start_time or 0
        self.rate = float(stream.average_rate or stream.guessed_rate or 0)
        self.size = size
        self.threads = threads

    def time_s(self, frame: av.VideoFrame) -> float:
        pts = frame.pts if frame.pts is not None else self.start
        return float((pts - self.start) * self.time_base)

    def __call__(self, frame: av.VideoFrame) -> DecodedFrame:
        width, height = self.size or (frame.width, frame.height)
        rgb = frame.reformat(width=width, height=height, format="rgb24", threads=self.threads).to_ndarray()
        time_s = self.time_s(frame)
        return DecodedFrame(index=round(time_s * self.rate), time_s=time_s, rgb=rgb)


def _check_args(
    fps: float | None, times: Sequence[float] | None, threads: int, thread_type: str
) -> list[float] | None:
    if fps is not None and times is not None:
        raise InvalidInput("pass either fps or times, not both", param="fps")
    if fps is not None and not fps > 0:
        raise InvalidInput(f"fps must be positive, got {fps}", param="fps")
    if threads < 0:
        raise InvalidInput(f"threads must be >= 0 (0 = automatic), got {threads}", param="threads")
    if thread_type not in _THREAD_TYPES:
        raise InvalidInput(f"thread_type must be one of {', '.join(_THREAD_TYPES)}", param="thread_type")
    if times is None:
        return None
    wanted = sorted(float(t) for t in times)
    if wanted and (wanted[0] < 0 or not math.isfinite(wanted[-1])):
        raise InvalidInput("times must be finite seconds >= 0", param="times")
    return wanted


def _sequential(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    convert: _Converter,
    fps: float | None,
) -> Iterator[DecodedFrame]:
    # With fps, time is cut into 1/fps buckets and the first frame of each bucket is kept.
    decoded, last_bucket = 0, -1
    for frame in container.decode(stream):
        decoded += 1
        if fps is not None:
            bucket = math.floor(convert.time_s(frame) * fps + _EPS)
            if bucket <= last_bucket:
                continue
            last_bucket = bucket
        yield convert(frame)
    if stream.frames and decoded < stream.frames:
        raise MediaError(
            f"{container.name} is truncated: decoded {decoded} of the {stream.frames} frames its index lists"
        )


def _at_times(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    convert: _Converter,
    times: list[float],
) -> Iterator[DecodedFrame]:
    frames: Iterator[av.VideoFrame] | None = None
    shown: av.VideoFrame | None = None  # the frame on screen at the last target
    ahead: av.VideoFrame | None = None  # the next decoded frame after it
    for target in times:
        if frames is None or (ahead is not None and target - convert.time_s(ahead) > _SEEK_GAP_S):
            if target > _SEEK_GAP_S:
                # Seek lands on the keyframe at or before target; decoding forward from there is exact.
                offset = convert.start + int(target / convert.time_base)
                container.seek(offset, stream=stream, backward=True)
            frames = container.decode(stream)
            shown, ahead = None, next(frames, None)
        while ahead is not None and convert.time_s(ahead) <= target + _EPS:
            shown, ahead = ahead, next(frames, None)
        chosen = shown if shown is not None else ahead  # before the first frame: the first frame
        if chosen is None:
            raise MediaError(f"{container.name} has no decodable frames")
        yield convert(chosen)


def decode_frames(
    path: str | os.PathLike[str],
    *,
    fps: float | None = None,
    times: Sequence[float] | None = None,
    threads: int = 0,
    thread_type: str = "AUTO",
    size: tuple[int, int] | None = None,
) -> Iterator[DecodedFrame]:
    """Yield decoded RGB frames of ``path``'s first video stream, in time order.

    - neither ``fps`` nor ``times``: every frame;
    - ``fps=N``: the first frame of every 1/N-second interval (never more frames than the source has);
    - ``times=[...]``: one frame per requested time, sorted ascending; a time past the end gets the
      last frame, a time before the first frame gets the first frame.

    ``threads``/``thread_type`` control the decoder's threading (0 = one per core; "AUTO" = frame and
    slice threads). ``size=(width, height)`` scales the frames. Raises `MediaError` for unreadable,
    corrupt or truncated files (also partway through iteration) and `InvalidInput` for bad arguments.
    """
    wanted = _check_args(fps, times, threads, thread_type)
    with open_video(path) as (container, stream):
        ctx = stream.codec_context
        ctx.thread_type = thread_type
        ctx.thread_count = threads
        convert = _Converter(stream, size, threads)
        if wanted is None:
            yield from _sequential(container, stream, convert, fps)
        elif wanted:
            yield from _at_times(container, stream, convert, wanted)
