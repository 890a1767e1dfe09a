"""Fragmented MP4 for streaming: one init segment (ftyp+moov), then one media segment (moof+mdat) per chunk.

``init_segment() + encode_chunk(a) + encode_chunk(b) + ... + close()`` is a playable MP4, and a
client (MSE, a WebSocket player) can append each segment the moment `encode_chunk` returns it.

Why each chunk gets its own encoder and muxer: FFmpeg's mp4 muxer only writes a fragment when the
*next* fragment starts or the file ends (PyAV cannot call ``av_write_frame(ctx, NULL)``, the explicit
flush), and x264 holds frames back for lookahead and B-frames until it is flushed. Encoding a chunk
as a complete little fragmented file — fresh encoder, flush, trailer — makes its segment available at
once and makes every chunk start with a keyframe (closed GOP, independently decodable). Two fields
then stitch the fragments into one timeline: ``mfhd.sequence_number`` (set through the muxer's
``fragment_index`` option) and ``tfdt.baseMediaDecodeTime`` (patched here; ISO/IEC 14496-12 §8.8.12).
B-frames are turned off: with reordering, the first decode time of a chunk depends on the chunk's
length (a one-frame chunk has no reorder delay), and the muxer shifts each chunk's timeline by it.
Without them every chunk decodes from 0 in its own file, so chunk k starts at frames-so-far exactly,
and the stream's first frame is presented at 0 (no edit list needed).
The init segment stays valid for every chunk because the same encoder settings give the same
parameter sets; that is checked, not assumed.
"""

from __future__ import annotations

import contextlib
import io
import struct
from fractions import Fraction

import av

from reelserve.core.errors import MediaError
from reelserve.media._frames import Frames, check_frame, check_size, iter_frames
from reelserve.media._input import time_base_of
from reelserve.media.codecs import (
    EncoderChoice,
    EncodeSettings,
    add_video_stream,
    as_rate,
    choose_encoder,
    configure_stream,
)

__all__ = ["FragmentedEncoder", "iter_boxes"]

# frag_custom: exactly one fragment per chunk, written by the trailer; skip_trailer: no mfra index
# after it (a stream has no end to put one at); default_base_moof: offsets relative to each moof.
_MOVFLAGS = "frag_custom+empty_moov+default_base_moof+skip_trailer"


def iter_boxes(data: bytes | bytearray, start: int = 0, end: int | None = None) -> list[tuple[str, int, int]]:
    """The top-level ISO-BMFF boxes in ``data[start:end]`` as (type, offset, size)."""
    end = len(data) if end is None else end
    boxes, pos = [], start
    while pos + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, pos)
        if size < 8 or pos + size > end:
            raise MediaError(f"malformed MP4 box at byte {pos} (size {size})")
        boxes.append((kind.decode("latin-1"), pos, size))
        pos += size
    return boxes


def _shift_tfdt(segment: bytearray, ticks: int) -> None:
    """Add ``ticks`` to the baseMediaDecodeTime of every fragment in ``segment`` (in place)."""
    for kind, moof, moof_size in iter_boxes(segment):
        if kind != "moof":
            continue
        for kind2, traf, traf_size in iter_boxes(segment, moof + 8, moof + moof_size):
            if kind2 != "traf":
                continue
            for kind3, tfdt, _ in iter_boxes(segment, traf + 8, traf + traf_size):
                if kind3 == "tfdt":
                    # version 1 carries a 64-bit time after the 4-byte version+flags; version 0 a 32-bit one.
                    fmt = ">Q" if segment[tfdt + 8] == 1 else ">I"
                    (value,) = struct.unpack_from(fmt, segment, tfdt + 12)
                    struct.pack_into(fmt, segment, tfdt + 12, value + ticks)


class FragmentedEncoder:
    """Encode chunks of frames into fMP4 segments as they are produced. Not thread-safe.

    Lifecycle: ``init_segment()`` once (may be called again; returns the same bytes), then
    ``encode_chunk(frames)`` per chunk, then ``close()``. Constructing does no I/O.
    """

    def __init__(
        self, width: int, height: int, fps: float | Fraction = 24, settings: EncodeSettings | None = None
    ) -> None:
        self.settings = settings or EncodeSettings(faststart=False)
        check_size(width, height, pix_fmt=self.settings.pix_fmt)
        self.size = (width, height)
        self.rate = as_rate(fps)
        self.frames = 0  #: frames encoded so far
        self.segments = 0  #: media segments produced so far
        self._choice: EncoderChoice | None = None
        self._init: bytes | None = None
        self._extradata: bytes | None = None
        self._ticks_per_frame = 0
        self._closed = False

    @property
    def encoder(self) -> str | None:
        """The FFmpeg encoder in use (known after `init_segment`)."""
        return self._choice.encoder if self._choice else None

    def _open(
        self, buffer: io.BytesIO, fragment_index: int
    ) -> tuple[av.container.OutputContainer, av.video.stream.VideoStream]:
        if self._choice is None:
            self._choice = choose_encoder(self.settings, *self.size, self.rate)
        options = {"movflags": _MOVFLAGS, "fragment_index": str(fragment_index)}
        container = av.open(buffer, "w", format="mp4", container_options=options)
        try:
            stream = add_video_stream(container, self._choice, self.rate)
            configure_stream(stream, self.settings, *self.size)
            # No B-frames: decode order = presentation order, so every chunk's first packet has dts 0
            # and its fragment starts exactly where the previous one ended (see module docstring).
            stream.codec_context.max_b_frames = 0
            container.start_encoding()  # writes ftyp+moov (empty_moov) into the buffer now
        except (av.FFmpegError, ValueError) as exc:
            with contextlib.suppress(av.FFmpegError):
                container.close()
            raise MediaError(f"cannot open {self._choice.encoder} for fragmented MP4: {exc}") from exc
        return container, stream

    def init_segment(self) -> bytes:
        """The initialization segment (ftyp+moov): send it before any media segment."""
        if self._init is None:
            buffer = io.BytesIO()
            container, stream = self._open(buffer, 1)
            header = buffer.getvalue()
            self._extradata = bytes(stream.codec_context.extradata or b"")
            step = (1 / self.rate) / time_base_of(stream)
            container.close()
            if step.denominator != 1:
                raise MediaError(
                    f"frame rate {self.rate} does not divide the track time base {stream.time_base}"
                )
            self._ticks_per_frame = int(step)
            moov_end = [off + size for kind, off, size in iter_boxes(header) if kind == "moov"]
            if not moov_end:
                raise MediaError("the mp4 muxer wrote no moov box; cannot build an init segment")
            self._init = header[: moov_end[0]]
        return self._init

    def encode_chunk(self, frames: Frames) -> bytes:
        """Encode ``frames`` into one media segment (moof+mdat) that starts with a keyframe.

        An empty chunk returns ``b""``. Raises `InvalidInput` for bad frames, `MediaError` if encoding fails.
        """
        if self._closed:
            raise MediaError("encoder is closed; create a new FragmentedEncoder for a new stream")
        self.init_segment()
        arrays = [
            check_frame(frame, self.frames + i, self.size) for i, frame in enumerate(iter_frames(frames))
        ]
        if not arrays:
            return b""
        buffer = io.BytesIO()
        container, stream = self._open(buffer, self.segments + 1)
        try:
            for pts, array in enumerate(arrays):
                frame = av.VideoFrame.from_numpy_buffer(array, format="rgb24")
                frame.pts = pts
                container.mux(stream.encode(frame))
            container.mux(stream.encode(None))  # flush: the chunk's last frames leave the encoder
            extradata = bytes(stream.codec_context.extradata or b"")
            container.close()  # the trailer writes this chunk's single fragment
        except (av.FFmpegError, ValueError) as exc:
            with contextlib.suppress(av.FFmpegError):
                container.close()
            raise MediaError(f"encoding chunk {self.segments} failed: {exc}") from exc
        if extradata != self._extradata:
            raise MediaError(
                "the encoder changed its parameter sets between chunks; the init segment no longer fits"
            )
        data = buffer.getvalue()
        moofs = [off for kind, off, _ in iter_boxes(data) if kind == "moof"]
        if not moofs:
            raise MediaError(f"chunk {self.segments} produced no fragment")
        segment = bytearray(data[moofs[0] :])
        _shift_tfdt(segment, self.frames * self._ticks_per_frame)
        self.frames += len(arrays)
        self.segments += 1
        return bytes(segment)

    def close(self) -> bytes:
        """End the stream. Every chunk was already complete, so this returns ``b""``; kept for symmetry."""
        self._closed = True
        return b""
