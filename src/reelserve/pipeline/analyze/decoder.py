"""The CPU side: decode one keyframe-aligned chunk into sampled frames and (for shots) small frames.

A chunk is decoded once, front to back; every decoded frame costs one small ``swscale`` conversion
when shots are wanted, and only sampled frames are converted at the model size. Sampling is decided
on the *source's* clock (a frame is sampled when it is the first in its 1/fps interval), using the
frame duration to look back across the chunk start, so chunked and whole-video decoding pick the
very same frames.

Open GOPs (x265's default, and many broadcast files): a cut falls on a CRA keyframe whose leading
pictures are *shown before* it but *coded after* it, so they sit in the next chunk's file, where they
cannot be decoded without the previous GOP. So a decoder keeps feeding its decoder the next chunk's
packets until it has output every frame up to its chunk's end; each chunk thus yields exactly the
frames shown in ``[start_s, end_s)``. With closed GOPs that costs one extra keyframe decode per chunk.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from reelserve.core.errors import MediaError
from reelserve.media._input import open_video
from reelserve.pipeline.analyze.cpu import Order, decoding
from reelserve.pipeline.analyze.spec import AnalyzeSpec

__all__ = ["ChunkFrames", "ChunkTask", "decode_chunk", "fit_size"]

_EPS = 1e-6


@dataclass(frozen=True, slots=True)
class ChunkTask:
    """One chunk of one video, waiting for a decoder."""

    video: int  #: the video's position in its request
    chunk: int  #: the chunk's position in its video
    start_s: float  #: where the chunk starts in the source
    end_s: float  #: where the next chunk starts (or the source ends)
    path: Path  #: the chunk file (an MP4 whose clock starts at 0)
    next_path: Path | None  #: the next chunk's file, whose leading packets may hold our last frames
    frame_s: float  #: one frame's duration in the source (for sampling across the chunk start)


@dataclass(frozen=True, slots=True)
class ChunkFrames:
    """What a decoder hands the model worker for one chunk."""

    video: int
    chunk: int
    decoded: int  #: frames decoded (every frame shown in the chunk's time range)
    times: np.ndarray  #: (S,) source times of the sampled frames
    frames: np.ndarray  #: (S, h, w, 3) uint8 sampled frames (S may be 0)
    shot_times: np.ndarray  #: (F,) source times of every frame (empty without shots)
    shot_frames: np.ndarray  #: (F, h', w', 3) uint8 small frames for shot detection
    decode_s: float  #: wall time this chunk took to decode and convert


def fit_size(width: int, height: int, side: int) -> tuple[int, int]:
    """(w, h) scaled to fit ``side`` on the longer edge (never up), even numbers for 4:2:0 sources."""
    scale = min(1.0, side / max(width, height))
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


def _sampled(time_s: float, frame_s: float, fps: float) -> bool:
    return math.floor(time_s * fps + _EPS) > math.floor((time_s - frame_s) * fps + _EPS)


def _packets(path: Path, base: Fraction, shift_s: float) -> Iterator[av.Packet]:
    """``path``'s video packets (no final flush packet), retimed onto our clock (``shift_s`` later)."""
    with open_video(path) as (container, stream):
        scale = (stream.time_base or base) / base
        shift = round(Fraction(shift_s).limit_denominator(1 << 30) / base)
        for packet in container.demux(stream):
            if packet.size and packet.dts is not None:
                pts = packet.pts if packet.pts is not None else packet.dts
                packet.pts, packet.dts = round(pts * scale) + shift, round(packet.dts * scale) + shift
                yield packet


def _feed(task: ChunkTask, base: Fraction) -> Iterator[av.Packet]:
    """Our chunk's packets, then the next chunk's keyframe and the leading pictures coded after it
    but shown before it (local pts < our length); the first packet shown later ends the feed."""
    yield from _packets(task.path, base, 0.0)
    if task.next_path is None:
        return
    length = round(Fraction(task.end_s - task.start_s).limit_denominator(1 << 30) / base)
    for n, packet in enumerate(_packets(task.next_path, base, task.end_s - task.start_s)):
        if n and packet.pts is not None and packet.pts >= length:
            return
        # The next chunk's edit list marks its leading pictures "discard" (they precede its start);
        # for us they are wanted frames, and the flag is read-only, so hand the decoder a copy.
        copy = av.Packet(bytes(packet))
        copy.pts, copy.dts, copy.time_base = packet.pts, packet.dts, packet.time_base
        yield copy


def _shown(task: ChunkTask, threads: int, order: Order) -> Generator[tuple[float, av.VideoFrame]]:
    """(source time, frame) for every frame shown in ``[task.start_s, task.end_s)``, in order."""
    with open_video(task.path) as (_, stream):
        ctx = stream.codec_context
        ctx.thread_type = "AUTO"
        ctx.thread_count = threads
        base = stream.time_base
        if not ctx.width or not ctx.height or base is None:
            raise MediaError(f"{task.path} has no frame size or time base; the source is damaged")
        origin, length = stream.start_time or 0, task.end_s - task.start_s
        last = task.next_path is None
        for packet in (*_feed(task, base), None):
            with decoding(order):  # the packet's frames are converted by our caller within the slot
                for frame in ctx.decode(packet):
                    local = float((frame.pts - origin) * base) if frame.pts is not None else 0.0
                    if local >= -_EPS and (last or local < length - _EPS):
                        yield task.start_s + local, frame


def decode_chunk(task: ChunkTask, spec: AnalyzeSpec, order: Order = (0.0, 0)) -> ChunkFrames:
    """Decode ``task``'s chunk (on cores granted in ``order``, see `cpu`); `MediaError` if damaged."""
    started = time.perf_counter()
    want_shots = "shots" in spec.tasks
    want_frames = bool(spec.frame_tasks)
    times: list[float] = []
    frames: list[np.ndarray] = []
    shot_times: list[float] = []
    shot_frames: list[np.ndarray] = []
    size = small = (0, 0)
    # Closed explicitly: a generator left to the garbage collector after an error would keep its
    # core slot (`cpu.decoding`) while a traceback still refers to it.
    with contextlib.closing(_shown(task, spec.decode_threads, order)) as shown:
        for at, frame in shown:
            if not shot_times and not times:
                size = fit_size(frame.width, frame.height, spec.frame_side)
                small_w = max(2, min(spec.shot_width, frame.width) // 2 * 2)
                small = (small_w, max(2, round(frame.height * small_w / frame.width / 2) * 2))
            if want_shots:
                shot_times.append(at)
                shot_frames.append(_rgb(frame, small, "AREA"))
            if want_frames and _sampled(at, task.frame_s, spec.fps):
                times.append(at)
                frames.append(_rgb(frame, size))
            if not want_shots:
                shot_times.append(at)  # counted, not kept: the frame count checks for truncation
    decoded = len(shot_times)
    if decoded == 0:
        raise MediaError(
            f"chunk {task.chunk} of video {task.video} has no decodable frames; the file is damaged"
        )
    return ChunkFrames(
        video=task.video,
        chunk=task.chunk,
        decoded=decoded,
        times=np.asarray(times, np.float64),
        frames=_stack(frames, size),
        shot_times=np.asarray(shot_times if want_shots else [], np.float64),
        shot_frames=_stack(shot_frames, small),
        decode_s=time.perf_counter() - started,
    )


def _rgb(frame: av.VideoFrame, size: tuple[int, int], interpolation: str | None = None) -> np.ndarray:
    # Shot frames use "AREA" (a box average): half the cost of swscale's default bilinear at a 13x
    # reduction, and unlike "FAST_BILINEAR" it averages fine texture instead of aliasing it into
    # false cuts (benchmarks/shots_bench.py).
    return frame.reformat(
        width=size[0], height=size[1], format="rgb24", interpolation=interpolation
    ).to_ndarray()


def _stack(frames: list[np.ndarray], size: tuple[int, int]) -> np.ndarray:
    if not frames:
        return np.zeros((0, size[1], size[0], 3), np.uint8)
    return np.stack(frames)
