"""Validate the frames callers hand to the encoders: uint8 RGB, (H, W, 3), one size throughout."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from reelserve.core.errors import InvalidInput

__all__ = ["Frames", "check_frame", "check_size", "iter_frames"]

#: What the encoders accept: an array (T, H, W, 3) or any iterable of (H, W, 3) arrays.
Frames = np.ndarray | Iterable[np.ndarray]


def check_size(width: int, height: int, *, pix_fmt: str = "yuv420p") -> None:
    """Raise `InvalidInput` for sizes the pixel format cannot hold."""
    if width <= 0 or height <= 0:
        raise InvalidInput(f"frame size must be positive, got {width}x{height}", param="size")
    # 4:2:0 and 4:2:2 subsample chroma by two, so an odd dimension has no whole chroma sample.
    if pix_fmt.startswith(("yuv420", "yuv422", "nv12")) and (width % 2 or height % 2):
        even = f"{width - width % 2}x{height - height % 2}"
        raise InvalidInput(
            f"{pix_fmt} needs even width and height, got {width}x{height}; crop or pad the frames to {even}",
            param="size",
        )


def check_frame(frame: object, index: int, size: tuple[int, int] | None = None) -> np.ndarray:
    """Return ``frame`` as a C-contiguous uint8 (H, W, 3) array, or raise `InvalidInput`.

    ``size`` is the expected (width, height); a frame of another size is rejected because a
    stream has one size. Contiguity matters: the encoder wraps the array's memory without copying.
    """
    if not isinstance(frame, np.ndarray):
        raise InvalidInput(
            f"frame {index} is a {type(frame).__name__}, expected a numpy array", param="frames"
        )
    if frame.dtype != np.uint8:
        raise InvalidInput(
            f"frame {index} has dtype {frame.dtype}, expected uint8 RGB; "
            "convert floats in [0, 1] with (x * 255).round().clip(0, 255).astype(np.uint8)",
            param="frames",
        )
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise InvalidInput(f"frame {index} has shape {frame.shape}, expected (H, W, 3) RGB", param="frames")
    height, width = frame.shape[:2]
    if size is not None and (width, height) != size:
        raise InvalidInput(
            f"frame {index} is {width}x{height} but the stream is {size[0]}x{size[1]}; "
            "every frame of a video must have the same size",
            param="frames",
        )
    return np.ascontiguousarray(frame)


def iter_frames(frames: Frames) -> Iterator[np.ndarray]:
    """Yield the (H, W, 3) frames of ``frames`` without copying a (T, H, W, 3) array."""
    if isinstance(frames, np.ndarray):
        if frames.ndim != 4:
            raise InvalidInput(
                f"frames array has shape {frames.shape}, expected (T, H, W, 3) (one frame: frames[None])",
                param="frames",
            )
        yield from frames
        return
    if isinstance(frames, (str, bytes)):
        raise InvalidInput("frames must be an array or an iterable of arrays, not a string", param="frames")
    try:
        iterator = iter(frames)
    except TypeError as exc:
        raise InvalidInput(f"frames must be iterable, got {type(frames).__name__}", param="frames") from exc
    yield from iterator
