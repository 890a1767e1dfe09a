"""Decoding a video for scoring (PyAV), and the small image helpers the metrics share."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np

__all__ = ["Clip", "decode", "downscale", "encode_mp4", "gray"]


@dataclass(frozen=True, slots=True)
class Clip:
    frames: np.ndarray  #: uint8, T×H×W×3 (RGB)
    luma: np.ndarray  #: float32, T×h×w, scaled by FFmpeg so the longer side is ≤ 256 (motion metrics)
    fps: float  #: the stream's average rate
    width: int
    height: int
    codec: str


def decode(source: str | Path | bytes, luma_side: int = 256) -> Clip:
    """Every frame of the first video stream. Raises av.FFmpegError / ValueError if undecodable."""
    file: Any = io.BytesIO(source) if isinstance(source, bytes) else str(source)
    with av.open(file) as container:
        if not container.streams.video:
            raise ValueError("the file has no video stream")
        stream = container.streams.video[0]
        frames, lumas = [], []
        for frame in container.decode(stream):
            frames.append(frame.to_ndarray(format="rgb24"))
            scale = min(1.0, luma_side / max(frame.width, frame.height))
            size = {
                "width": max(8, round(frame.width * scale)),
                "height": max(8, round(frame.height * scale)),
            }
            lumas.append(frame.to_ndarray(format="gray", **size))
        rate = stream.average_rate or stream.guessed_rate
        fps = float(rate) if rate else 0.0
        codec = stream.codec_context.name
    if not frames:
        raise ValueError("the video stream holds no frames")
    stack = np.stack(frames)
    luma = np.stack(lumas).astype(np.float32)
    return Clip(frames=stack, luma=luma, fps=fps, width=stack.shape[2], height=stack.shape[1], codec=codec)


def encode_mp4(frames: np.ndarray, fps: int, codec: str = "libx264") -> bytes:
    """T×H×W×3 uint8 → MP4 bytes (H.264, yuv420p). Used to score raw-frame deliveries."""
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream(codec, rate=fps)
        assert isinstance(stream, av.VideoStream)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        for array in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(array, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():  # flush the encoder's delayed frames
            container.mux(packet)
    return buffer.getvalue()


def gray(frames: np.ndarray) -> np.ndarray:
    """T×H×W×3 uint8 → T×H×W float32 luma (BT.601)."""
    weights = np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return frames.astype(np.float32) @ weights


def downscale(frames: np.ndarray, max_side: int = 256) -> tuple[np.ndarray, int]:
    """Block-average T×H×W frames by an integer factor so the longer side is ≤ max_side."""
    factor = max(1, -(-max(frames.shape[1], frames.shape[2]) // max_side))
    if factor == 1:
        return frames, 1
    t, h, w = frames.shape
    cropped = frames[:, : h - h % factor, : w - w % factor]
    return cropped.reshape(t, h // factor, factor, w // factor, factor).mean(axis=(2, 4)), factor
