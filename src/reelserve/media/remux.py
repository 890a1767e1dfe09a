"""Remux without re-encoding: concatenate MP4 segments, and split a video at keyframes into time chunks.

Both copy compressed packets and only rewrite their timestamps, so they run at disk speed and
never change a pixel. The price: cuts can only fall on keyframes, and concatenated inputs must
share codec parameters (same encoder settings), since one MP4 track has one decoder setup.

Nothing here decodes, or needs an encoder: keyframes are the demuxer's packet flags, and output
tracks copy the source's codec parameters (``opaque=True``; PyAV otherwise looks up an *encoder* by
the decoder's name, which fails for AV1, whose decoder here is libdav1d and has no encoder). So AV1,
H.265 and H.264 all split alike. The only requirement is that this FFmpeg build knows the codec at
all (has a decoder for it, which is how PyAV names a stream's codec; `open_video` refuses others).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any, NamedTuple, TypeAlias

import av

from reelserve.core.errors import InvalidInput, MediaError
from reelserve.media._atomic import atomic_target, commit, discard, temp_path_for
from reelserve.media._input import open_video, time_base_of

__all__ = ["KeyframeChunk", "concat", "split_at_keyframes"]

_MP4 = {"movflags": "+faststart"}


class KeyframeChunk(NamedTuple):
    """One piece of a keyframe-aligned split; a tuple so callers can unpack ``start_s, end_s, path``."""

    start_s: float  #: where the chunk starts in the source (a keyframe's presentation time)
    end_s: float  #: where the next chunk starts (or the source ends)
    path: Path  #: the chunk as a standalone MP4 whose timestamps start at 0


def _copy_stream(out: av.container.OutputContainer, template: av.video.stream.VideoStream) -> Any:
    """A track in ``out`` with ``template``'s codec parameters, for stream copy (no encoder needed)."""
    return out.add_stream_from_template(template, opaque=True)


def _signature(stream: av.video.stream.VideoStream) -> tuple[object, ...]:
    ctx = stream.codec_context
    return (ctx.codec.canonical_name, ctx.width, ctx.height, ctx.pix_fmt, bytes(ctx.extradata or b""))


_Packet: TypeAlias = "av.Packet[Any]"  # packets here always carry a dts (see `_packets`); pts defaults to it


def _packets(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream
) -> Iterator[tuple[_Packet, int, int]]:
    """Yield (packet, dts, pts) for every packet worth copying; `MediaError` if the file is cut short."""
    copied = 0
    # The demuxer ends with an empty flush packet (no timestamps); it carries nothing to copy.
    for packet in container.demux(stream):
        if packet.dts is not None and packet.size:
            copied += 1
            yield packet, packet.dts, packet.pts if packet.pts is not None else packet.dts
    if stream.frames and copied < stream.frames:
        # A truncated MP4 with its index in front demuxes "fine", just with frames missing.
        raise MediaError(
            f"{container.name} is truncated: it holds {copied} of the {stream.frames} frames it lists"
        )


def _shift(packet: _Packet, dts: int, pts: int, ticks: int) -> None:
    packet.dts, packet.pts = dts + ticks, pts + ticks


def _end_s(packet: _Packet, pts: int, time_base: Fraction, frame_s: Fraction) -> Fraction:
    """Presentation end time of ``packet`` in seconds (its duration, else one frame)."""
    return pts * time_base + (packet.duration * time_base if packet.duration else frame_s)


def _frame_s(stream: av.video.stream.VideoStream) -> Fraction:
    rate = stream.average_rate or stream.guessed_rate
    return 1 / Fraction(rate) if rate else Fraction(1, 25)


class _Timeline:
    """Appends inputs one after another on the output's clock, keeping dts strictly increasing."""

    def __init__(self) -> None:
        self.end_s = Fraction(0)  # where the next input starts
        self.last_dts_s: Fraction | None = None

    def append(
        self, container: av.container.InputContainer, stream: av.video.stream.VideoStream
    ) -> Iterator[_Packet]:
        time_base, frame_s = time_base_of(stream), _frame_s(stream)
        start_s = (stream.start_time or 0) * time_base
        shift: int | None = None
        end_s = self.end_s
        for packet, dts, pts in _packets(container, stream):
            if shift is None:
                shift = round((self.end_s - start_s) / time_base)
                if self.last_dts_s is not None and (dts + shift) * time_base <= self.last_dts_s:
                    # B-frame reordering can put an input's first dts before the previous input's last.
                    shift = round(self.last_dts_s / time_base) - dts + 1
            end_s = max(end_s, _end_s(packet, pts + shift, time_base, frame_s))
            _shift(packet, dts, pts, shift)
            self.last_dts_s = (dts + shift) * time_base
            yield packet
        self.end_s = end_s


def concat(inputs: Sequence[str | os.PathLike[str]], output: str | os.PathLike[str]) -> Path:
    """Join ``inputs`` (MP4s with the same codec parameters) into ``output`` without re-encoding.

    The output plays the inputs back to back; its frame count is the sum of theirs. Raises
    `InvalidInput` for an empty list or incompatible inputs and `MediaError` for unreadable ones;
    ``output`` is written atomically.
    """
    if not inputs:
        raise InvalidInput("concat needs at least one input", param="inputs")
    signatures = []
    for path in inputs:
        with open_video(path) as (_, stream):
            signatures.append(_signature(stream))
    if any(sig != signatures[0] for sig in signatures):
        raise InvalidInput(
            "inputs differ in codec, size, pixel format or encoder parameters; concatenation without "
            "re-encoding needs segments made with the same settings (re-encode them instead)",
            param="inputs",
        )
    try:
        with (
            atomic_target(output) as tmp,
            av.open(str(tmp), "w", format="mp4", container_options=_MP4) as out,
        ):
            _append_all(inputs, out)
    except av.FFmpegError as exc:
        raise MediaError(f"writing {output} failed: {exc}") from exc
    return Path(output)


def _append_all(inputs: Sequence[str | os.PathLike[str]], out: av.container.OutputContainer) -> None:
    timeline, out_stream = _Timeline(), None
    for path in inputs:
        with open_video(path) as (container, stream):
            if out_stream is None:
                out_stream = _copy_stream(out, stream)
            for packet in timeline.append(container, stream):
                packet.stream = out_stream
                out.mux(packet)


class _ChunkFile:
    """One output chunk being written: a temporary MP4 that becomes ``path`` on `finish`."""

    def __init__(
        self, path: Path, template: av.video.stream.VideoStream, start_pts: int, start_s: float
    ) -> None:
        self.path, self.start_pts, self.start_s = path, start_pts, start_s
        self.tmp = temp_path_for(path)
        self.container = av.open(str(self.tmp), "w", format="mp4", container_options=_MP4)
        self.stream = _copy_stream(self.container, template)

    def write(self, packet: _Packet, dts: int, pts: int) -> None:
        # Rebase so the chunk's first keyframe is presented at 0; earlier dts (B-frames) go negative,
        # which MP4 expresses with an edit list.
        _shift(packet, dts, pts, -self.start_pts)
        packet.stream = self.stream
        self.container.mux(packet)

    def finish(self) -> None:
        self.container.close()
        commit(self.tmp, self.path)

    def abandon(self) -> None:
        with contextlib.suppress(av.FFmpegError, OSError):
            self.container.close()
        discard(self.tmp)


def _split(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    chunk_s: float,
    out: Path,
    stem: str,
) -> tuple[list[tuple[float, Path]], Fraction]:
    """Write the chunks; return [(start_s, path)] and the source's end time. On error, remove them all."""
    time_base, frame_s = time_base_of(stream), _frame_s(stream)
    origin = stream.start_time or 0
    done: list[tuple[float, Path]] = []
    current: _ChunkFile | None = None
    end_s = Fraction(0)
    try:
        for packet, dts, pts in _packets(container, stream):
            start_s = float((pts - origin) * time_base)
            if packet.is_keyframe and (current is None or start_s - current.start_s >= chunk_s - 1e-6):
                if current is not None:
                    current.finish()
                    done.append((current.start_s, current.path))
                path = out / f"{stem}-{len(done):04d}.mp4"
                current = _ChunkFile(path, stream, pts, start_s)
            if current is None:
                raise MediaError(
                    f"{container.name} does not start with a keyframe; it cannot be split without re-encoding"
                )
            end_s = max(end_s, _end_s(packet, pts - origin, time_base, frame_s))
            current.write(packet, dts, pts)
        if current is not None:
            current.finish()
            done.append((current.start_s, current.path))
    except BaseException:
        if current is not None:
            current.abandon()
        for _, path in done:
            discard(path)
        raise
    return done, end_s


def split_at_keyframes(
    path: str | os.PathLike[str], chunk_seconds: float, out_dir: str | os.PathLike[str] | None = None
) -> list[KeyframeChunk]:
    """Cut ``path`` into MP4 chunks of at least ``chunk_seconds`` each, every cut on a keyframe.

    A chunk ends at the first keyframe at or after ``chunk_seconds`` past its start, so chunks are as
    long as the GOP structure allows (the last one may be shorter). Chunks are named
    ``<stem>-0000.mp4``, ... in ``out_dir`` (default: beside the source). Either all chunks are
    written or, on error, none are left behind.
    """
    if not chunk_seconds > 0:
        raise InvalidInput(f"chunk_seconds must be positive, got {chunk_seconds}", param="chunk_seconds")
    source = Path(path)
    out = Path(out_dir) if out_dir is not None else source.parent
    with open_video(source) as (container, stream):
        starts, end_s = _split(container, stream, chunk_seconds, out, source.stem)
    ends = [start for start, _ in starts[1:]] + [float(end_s)]
    return [KeyframeChunk(start, end, chunk) for (start, chunk), end in zip(starts, ends, strict=True)]
