"""Encoder settings and encoder selection: which FFmpeg encoder runs, with which options.

A request names a *codec* (``h264``, ``h265``, ``av1``, ``h264_nvenc``, ``hevc_nvenc``); this module
turns it into one FFmpeg encoder that this build and this device can actually open. Hardware
encoders are tried by opening a small codec context first: a missing driver or device fails there,
cheaply, and the request falls back to the software encoder of the same codec. The choice and the
reason for any fallback are returned as data so that callers can record them in manifests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import cast

import av

from reelserve.core.errors import InvalidInput, MediaError, UnknownName

__all__ = [
    "CODECS",
    "PIX_FMTS",
    "X264_PRESETS",
    "EncodeSettings",
    "EncoderChoice",
    "add_video_stream",
    "as_rate",
    "choose_encoder",
    "configure_stream",
    "try_open_encoder",
]

#: libx264/libx265 preset names, fastest first; other encoders map them onto their own scales.
X264_PRESETS = (
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
)

#: codec name → FFmpeg encoders to try, in order (a hardware encoder first, its software fallback next).
CODECS: dict[str, tuple[str, ...]] = {
    "h264": ("libx264",),
    "h265": ("libx265",),
    "av1": ("libsvtav1",),
    "h264_nvenc": ("h264_nvenc", "libx264"),
    "hevc_nvenc": ("hevc_nvenc", "libx265"),
}

#: Stored pixel formats we allow. All are YUV, so the encoder always converts (copies) the RGB input,
#: which is what lets `VideoWriter` wrap caller arrays without copying them first.
PIX_FMTS = ("yuv420p", "yuv422p", "yuv444p", "yuv420p10le")

_HARDWARE = frozenset({"h264_nvenc", "hevc_nvenc"})
_HEVC = frozenset({"libx265", "hevc_nvenc"})


@dataclass(frozen=True, slots=True)
class EncodeSettings:
    """How to encode; validated on construction. Defaults suit web delivery of generated clips."""

    codec: str = "h264"  #: a key of `CODECS`
    crf: int = 23  #: constant-quality level on the encoder's own scale (x264/x265 0-51, SVT-AV1 0-63)
    preset: str = "medium"  #: an x264 preset name; mapped for SVT-AV1 and NVENC
    threads: int = 0  #: encoder (and colour conversion) threads; 0 lets the encoder use every core
    pix_fmt: str = "yuv420p"  #: the stored pixel format; yuv420p is what every player decodes
    gop: int | None = None  #: frames between keyframes; None keeps the encoder's default
    faststart: bool = True  #: move the index (moov) to the front so playback starts before download ends

    def __post_init__(self) -> None:
        if self.codec not in CODECS:
            raise UnknownName("codec", self.codec, list(CODECS), param="codec")
        if self.pix_fmt not in PIX_FMTS:
            raise UnknownName("pixel format", self.pix_fmt, list(PIX_FMTS), param="pix_fmt")
        if self.preset not in X264_PRESETS:
            raise UnknownName("preset", self.preset, list(X264_PRESETS), param="preset")
        if not 0 <= self.crf <= 63:
            raise InvalidInput(f"crf must be in 0..63, got {self.crf}", param="crf")
        if self.threads < 0:
            raise InvalidInput(f"threads must be >= 0 (0 = automatic), got {self.threads}", param="threads")
        if self.gop is not None and self.gop < 1:
            raise InvalidInput(f"gop must be >= 1 frame, got {self.gop}", param="gop")


@dataclass(frozen=True, slots=True)
class EncoderChoice:
    """The FFmpeg encoder that will run, and why it is not the one asked for (if it is not)."""

    encoder: str  #: FFmpeg encoder name, e.g. "libx264"
    options: dict[str, str]  #: private options handed to the encoder
    fallback_reason: str | None = None  #: set when a requested encoder could not be used


def as_rate(fps: float | Fraction) -> Fraction:
    """``fps`` as an exact rational (29.97 becomes 2997/100); raise `InvalidInput` unless positive."""
    rate = Fraction(fps).limit_denominator(1001)
    if rate <= 0:
        raise InvalidInput(f"fps must be positive, got {fps}", param="fps")
    return rate


def _x26x_options(settings: EncodeSettings) -> dict[str, str]:
    if settings.crf > 51:
        raise InvalidInput(f"crf for x264/x265 must be in 0..51, got {settings.crf}", param="crf")
    return {"preset": settings.preset, "crf": str(settings.crf)}


def _x265_options(settings: EncodeSettings) -> dict[str, str]:
    # x265 prints a banner and per-encode statistics to stderr unless told otherwise.
    return {**_x26x_options(settings), "x265-params": "log-level=error"}


def _svtav1_options(settings: EncodeSettings) -> dict[str, str]:
    # SVT-AV1 presets run 0 (slowest) to 13 (fastest); spread the x264 names over the useful 4..12.
    level = (12, 11, 10, 9, 8, 7, 6, 5, 4, 4)[X264_PRESETS.index(settings.preset)]
    return {"preset": str(level), "crf": str(max(settings.crf, 1))}


def _nvenc_options(settings: EncodeSettings) -> dict[str, str]:
    # NVENC presets run p1 (fastest) to p7 (best); constant quality is rc=vbr with cq.
    level = (1, 1, 2, 3, 4, 4, 5, 6, 7, 7)[X264_PRESETS.index(settings.preset)]
    return {"preset": f"p{level}", "rc": "vbr", "cq": str(min(settings.crf, 51))}


_OPTIONS: dict[str, Callable[[EncodeSettings], dict[str, str]]] = {
    "libx264": _x26x_options,
    "libx265": _x265_options,
    "libsvtav1": _svtav1_options,
    "h264_nvenc": _nvenc_options,
    "hevc_nvenc": _nvenc_options,
}


def try_open_encoder(
    encoder: str, options: dict[str, str], width: int, height: int, rate: Fraction, pix_fmt: str = "yuv420p"
) -> None:
    """Open and drop a codec context: the cheapest way to learn whether a device encoder works here.

    Raises what FFmpeg raises (`av.FFmpegError`, or `ValueError` for an unsupported pixel format).
    """
    ctx = cast("av.video.codeccontext.VideoCodecContext", av.CodecContext.create(encoder, "w"))
    ctx.width, ctx.height, ctx.pix_fmt = width, height, pix_fmt
    ctx.time_base = 1 / rate
    ctx.framerate = rate
    ctx.options = dict(options)
    ctx.open()
    # PyAV frees the context (and releases the device session) when the last reference goes.
    del ctx


def choose_encoder(settings: EncodeSettings, width: int, height: int, rate: Fraction) -> EncoderChoice:
    """Pick the first encoder for ``settings.codec`` that this FFmpeg build and device can open.

    Raises `MediaError` when none can (e.g. ``av1`` on a build without libsvtav1).
    """
    reasons: list[str] = []
    for encoder in CODECS[settings.codec]:
        if encoder not in av.codecs_available:
            reasons.append(f"{encoder} is not in this FFmpeg build")
            continue
        options = _OPTIONS[encoder](settings)
        if encoder in _HARDWARE:
            try:
                try_open_encoder(encoder, options, width, height, rate, settings.pix_fmt)
            except (av.FFmpegError, ValueError) as exc:
                reasons.append(f"{encoder} could not be opened, no usable device? ({exc})")
                continue
        return EncoderChoice(encoder, options, "; ".join(reasons) or None)
    raise MediaError(
        f"no encoder for codec {settings.codec!r} works here: {'; '.join(reasons)}; "
        f"choose another codec ({', '.join(sorted(CODECS))})"
    )


def add_video_stream(
    container: av.container.OutputContainer, choice: EncoderChoice, rate: Fraction
) -> av.video.stream.VideoStream:
    """Add an output stream for ``choice`` at ``rate`` (its codec time base becomes 1/rate)."""
    stream = cast(
        "av.video.stream.VideoStream",
        container.add_stream(choice.encoder, rate=rate, options=dict(choice.options)),
    )
    if choice.encoder in _HEVC and container.format.name in {"mp4", "mov"}:
        # FFmpeg tags HEVC in MP4 as hev1; Apple players only play hvc1 (parameter sets in the header).
        stream.codec_context.codec_tag = "hvc1"
    return stream


def configure_stream(
    stream: av.video.stream.VideoStream, settings: EncodeSettings, width: int, height: int
) -> None:
    """Set size, pixel format, threads and GOP on a freshly added output stream (before it opens)."""
    stream.width, stream.height, stream.pix_fmt = width, height, settings.pix_fmt
    ctx = stream.codec_context
    # thread_count also sizes PyAV's rgb24→yuv420p conversion (swscale), which runs before the encoder.
    ctx.thread_count = settings.threads
    if settings.gop is not None:
        ctx.gop_size = settings.gop
