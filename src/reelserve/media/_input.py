"""Open a media file for reading and turn FFmpeg's failures into `MediaError`s that say what to do."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av

from reelserve.core.errors import MediaError

__all__ = ["open_video", "time_base_of"]


@contextlib.contextmanager
def open_video(
    path: str | os.PathLike[str],
) -> Iterator[tuple[av.container.InputContainer, av.video.stream.VideoStream]]:
    """Open ``path`` and yield (container, its first video stream); always closes the container.

    Raises `MediaError` for a missing, empty, corrupt, truncated or non-video file, and for
    FFmpeg errors raised inside the block (e.g. a decode error halfway through a damaged file).
    """
    source = Path(path)
    if not source.is_file():
        raise MediaError(f"cannot read {source}: no such file")
    if source.stat().st_size == 0:
        raise MediaError(
            f"cannot read {source}: the file is empty (0 bytes); it was never written or was cut off"
        )
    try:
        container = av.open(str(source), "r")
    except (av.FFmpegError, UnicodeDecodeError) as exc:
        raise MediaError(
            f"cannot read {source}: not a media file FFmpeg understands, or corrupt ({exc})"
        ) from exc
    try:
        if not container.streams.video:
            raise MediaError(f"{source} has no video stream; pass a video file")
        stream = container.streams.video[0]
        if stream.codec_context is None:  # PyAV names a stream's codec only through a decoder for it
            raise MediaError(
                f"{source}: unsupported video codec (this FFmpeg build has no decoder for it); "
                "convert the file to H.264, H.265, VP9 or AV1"
            )
        yield container, stream
    except av.FFmpegError as exc:
        raise MediaError(f"reading {source} failed; the file is corrupt or truncated ({exc})") from exc
    finally:
        container.close()


def time_base_of(stream: av.stream.Stream) -> Fraction:
    """The stream's time base; a stream without one cannot be timed, so that is a `MediaError`."""
    if stream.time_base is None:
        raise MediaError(f"stream {stream.index} has no time base; the file is damaged")
    return stream.time_base
