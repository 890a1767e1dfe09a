"""Encode uint8 RGB frames to an MP4 file, all at once (`encode_video`) or as they arrive (`VideoWriter`).

The lifecycle, spelled out because every step matters:

1. open: pick an encoder (`choose_encoder`), open the container on a temporary file beside the target;
2. encode: wrap each frame's memory as an rgb24 `av.VideoFrame` (no copy), hand it to the encoder,
   which converts it to yuv420p (multi-threaded swscale) and returns packets; mux those packets;
3. flush: ``stream.encode()`` with no frame drains the frames the encoder still holds (lookahead,
   B-frames) — without it the last frames are silently lost;
4. close: write the trailer (with ``+faststart`` this rewrites the file with the index first), then
   rename the temporary file onto the target.

Any failure removes the temporary file: a target path either holds a complete video or is untouched.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av

from reelserve.core.errors import InvalidInput, MediaError
from reelserve.media._atomic import commit, discard, temp_path_for
from reelserve.media._frames import Frames, check_frame, check_size, iter_frames
from reelserve.media.codecs import (
    EncoderChoice,
    EncodeSettings,
    add_video_stream,
    as_rate,
    choose_encoder,
    configure_stream,
)

__all__ = ["CONTAINERS", "EncodeResult", "VideoWriter", "encode_video"]

#: file suffix → FFmpeg muxer; the suffix of the target path picks the container.
CONTAINERS: dict[str, str] = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}


@dataclass(frozen=True, slots=True)
class EncodeResult:
    """What one finished encode produced."""

    path: Path  #: the final file (already renamed into place)
    encoder: str  #: the FFmpeg encoder that ran, e.g. "libx264"
    frames: int  #: frames written
    bytes: int  #: size of the file
    seconds: float  #: wall time from open to the rename
    fallback_reason: str | None = None  #: why the requested encoder was not used, if it was not


def _muxer_for(path: Path) -> str:
    try:
        return CONTAINERS[path.suffix.lower()]
    except KeyError:
        raise InvalidInput(
            f"cannot tell the container from {path.name!r}; use one of {', '.join(CONTAINERS)}",
            param="path",
        ) from None


class VideoWriter:
    """A streaming encoder: ``open()``, then ``write(frames)`` any number of times, then ``close()``.

    Also a context manager: leaving the block normally closes (and commits) the file, leaving it
    with an exception aborts (and removes the partial file). Constructing a writer does no I/O.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        width: int,
        height: int,
        fps: float | Fraction = 24,
        settings: EncodeSettings | None = None,
    ) -> None:
        self.path = Path(path)
        self.settings = settings or EncodeSettings()
        self.rate = as_rate(fps)
        check_size(width, height, pix_fmt=self.settings.pix_fmt)
        self.size = (width, height)
        self._muxer = _muxer_for(self.path)
        self._tmp: Path | None = None
        self._container: av.container.OutputContainer | None = None
        self._stream: av.video.stream.VideoStream | None = None
        self._choice: EncoderChoice | None = None
        self._frames = 0
        self._started = 0.0

    @property
    def encoder(self) -> str | None:
        """The FFmpeg encoder in use once open (e.g. "libx264" after an NVENC fallback)."""
        return self._choice.encoder if self._choice else None

    def open(self) -> VideoWriter:
        """Choose the encoder and open the temporary output; returns self for chaining."""
        if self._container is not None:
            raise MediaError(f"writer for {self.path} is already open")
        self._started = time.perf_counter()
        width, height = self.size
        self._choice = choose_encoder(self.settings, width, height, self.rate)
        self._tmp = temp_path_for(self.path)
        options = {"movflags": "+faststart"} if self.settings.faststart and self._muxer != "matroska" else {}
        try:
            self._container = av.open(str(self._tmp), "w", format=self._muxer, container_options=options)
            self._stream = add_video_stream(self._container, self._choice, self.rate)
            configure_stream(self._stream, self.settings, width, height)
            self._container.start_encoding()  # opens the encoder now, so bad options fail here
        except (av.FFmpegError, ValueError) as exc:
            self.abort()
            raise MediaError(f"cannot open {self._choice.encoder} output {self.path}: {exc}") from exc
        return self

    def write(self, frames: Frames) -> int:
        """Encode ``frames`` ((T, H, W, 3) uint8 or an iterable of (H, W, 3)); returns how many were written.

        Invalid frames raise `InvalidInput` and abort the writer (no partial file is left).
        """
        if self._container is None or self._stream is None:
            raise MediaError("writer is not open; call open() first or use it as a context manager")
        stream, mux, written = self._stream, self._container.mux, 0
        try:
            for frame in iter_frames(frames):
                array = check_frame(frame, self._frames, self.size)
                # from_numpy_buffer wraps the array's memory; the encoder's own reformat copies it
                # into yuv420p before encoding, so the array may be reused once this call returns.
                video_frame = av.VideoFrame.from_numpy_buffer(array, format="rgb24")
                video_frame.pts = self._frames
                mux(stream.encode(video_frame))
                self._frames += 1
                written += 1
        except (av.FFmpegError, ValueError) as exc:
            self.abort()
            raise MediaError(f"encoding frame {self._frames} of {self.path} failed: {exc}") from exc
        except BaseException:
            self.abort()  # e.g. the caller's frame generator raised: still leave no partial file
            raise
        return written

    def close(self) -> EncodeResult:
        """Flush the encoder, finish the file and rename it into place."""
        if self._container is None or self._stream is None or self._tmp is None or self._choice is None:
            raise MediaError("writer is not open; nothing to close")
        if self._frames == 0:
            self.abort()
            raise InvalidInput(f"no frames were written to {self.path}; a video needs at least one frame")
        try:
            self._container.mux(self._stream.encode(None))  # flush: drain delayed frames
            self._container.close()  # trailer; +faststart moves the index to the front here
            commit(self._tmp, self.path)
        except (av.FFmpegError, OSError) as exc:
            self.abort()
            raise MediaError(f"finishing {self.path} failed: {exc}") from exc
        self._container = None
        return EncodeResult(
            path=self.path,
            encoder=self._choice.encoder,
            frames=self._frames,
            bytes=self.path.stat().st_size,
            seconds=time.perf_counter() - self._started,
            fallback_reason=self._choice.fallback_reason,
        )

    def abort(self) -> None:
        """Drop everything written so far; safe to call more than once."""
        container, self._container, self._stream = self._container, None, None
        if container is not None:
            # The file is discarded anyway; a failing trailer must not mask the first error.
            with contextlib.suppress(av.FFmpegError, OSError):
                container.close()
        if self._tmp is not None:
            discard(self._tmp)

    def __enter__(self) -> VideoWriter:
        return self.open()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def encode_video(
    frames: Frames,
    path: str | os.PathLike[str],
    *,
    fps: float | Fraction = 24,
    settings: EncodeSettings | None = None,
) -> EncodeResult:
    """Encode all of ``frames`` to ``path`` (suffix picks the container) and return what was written.

    Raises `InvalidInput` for bad frames or settings and `MediaError` when encoding or writing fails;
    in both cases no file (and no partial file) is left at ``path``.
    """
    iterator = iter_frames(frames)
    first = next(iterator, None)
    if first is None:
        raise InvalidInput("no frames to encode; a video needs at least one frame", param="frames")
    first = check_frame(first, 0)
    height, width = first.shape[:2]
    writer = VideoWriter(path, width, height, fps, settings).open()
    writer.write([first])
    writer.write(iterator)
    return writer.close()
