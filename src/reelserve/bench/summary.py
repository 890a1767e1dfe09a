"""``result_summary.json``: the run's numbers, its sanitized config, and the seed issue's answers.

Sections: ``config``, ``environment``, ``warmup``, ``performance`` (the scenario's phase: counts,
videos/s, latency percentiles and histogram, every interval), ``headline`` (what MLPerf reports for the
scenario), ``answers`` (Option A vs Option B from the same run), ``delivery_comparison``, ``rate_search``,
``accuracy``, ``streaming`` — a section is present only when the run produced it.
"""

from __future__ import annotations

import platform
import sys
import time
from fractions import Fraction
from typing import Any

import av

from reelserve import __version__
from reelserve.bench.config import BenchConfig, Scenario

__all__ = ["answers", "delivery_row", "environment", "headline", "new_summary"]

HW_ENCODERS = ("h264_nvenc", "hevc_nvenc", "av1_nvenc", "h264_vaapi", "h264_qsv", "h264_videotoolbox")


def new_summary(cfg: BenchConfig) -> dict[str, Any]:
    return {
        "tool": "reelserve bench",
        "version": __version__,
        "created_unix": time.time(),
        "config": cfg.sanitized(),
        "environment": environment(),
    }


def environment() -> dict[str, Any]:
    """Where the client ran; the hardware video encoders this PyAV/FFmpeg build has, and which of
    them open here (a build may carry NVENC while the machine has no GPU)."""
    built = [name for name in HW_ENCODERS if name in av.codecs_available]
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "pyav": av.__version__,
        "hardware_encoders": built,
        "hardware_encoders_usable": [name for name in built if _opens(name)],
    }


def _opens(name: str) -> bool:
    """Whether the encoder opens for a 64×64 stream: needs its device (GPU, VA-API, QSV)."""
    try:
        ctx = av.CodecContext.create(name, "w")
        assert isinstance(ctx, av.VideoCodecContext)
        ctx.width, ctx.height, ctx.pix_fmt, ctx.time_base = 64, 64, "yuv420p", Fraction(1, 16)
        ctx.open()
    except (av.FFmpegError, OSError, ValueError):
        return False
    return True


def headline(scenario: Scenario, perf: dict[str, Any]) -> dict[str, Any]:
    """The figures MLPerf reports for the scenario."""
    lat = perf.get("latency_s", {})
    if scenario == Scenario.OFFLINE:
        return {"videos_per_s": perf["videos_per_s"]}
    if scenario == Scenario.SINGLE_STREAM:
        return {
            "mean_latency_s": lat.get("mean"),
            "p90_latency_s": lat.get("p90"),
            "videos_per_s": perf["videos_per_s"],
        }
    if scenario == Scenario.SERVER:
        return {"p99_latency_s": lat.get("p99"), "videos_per_s": perf["videos_per_s"]}
    return {
        "videos_per_s": perf["videos_per_s"],
        "p50_latency_s": lat.get("p50"),
        "p99_latency_s": lat.get("p99"),
    }


def answers(perf: dict[str, Any], cfg: BenchConfig) -> dict[str, Any]:
    """Option A (model only) vs Option B (issue → last byte), and where the difference goes."""
    intervals = perf.get("intervals_s", {})

    def mean(name: str) -> float | None:
        value = intervals.get(name, {}).get("mean")
        return float(value) if value is not None else None

    e2e = mean("e2e")
    parts = {
        name: mean(name) for name in ("admission", "queue", "model", "encode", "notify", "ttfb", "transfer")
    }
    raw_bytes = cfg.num_frames * cfg.width * cfg.height * 3
    server_span = mean("server_queued_to_delivered")
    return {
        "option_a_model_s": parts["model"],
        "option_b_e2e_s": e2e,
        "done_at_encoded_s": mean("to_encoded"),
        "share_of_e2e": {k: (v / e2e if v is not None and e2e else None) for k, v in parts.items()},
        "server_stamps_present": parts["model"] is not None,
        "raw_frames_bytes": raw_bytes,
        "mp4_bytes_mean": perf.get("video_size_mean"),
        "raw_over_mp4": (raw_bytes / perf["video_size_mean"]) if perf.get("video_size_mean") else None,
        # client e2e vs the server's own queued → delivered: the gap is request travel, polling and the
        # client; a negative gap would mean the clocks disagree
        "cross_check": {
            "client_e2e_s": e2e,
            "server_queued_to_delivered_s": server_span,
            "client_minus_server_s": (e2e - server_span)
            if e2e is not None and server_span is not None
            else None,
        },
    }


def delivery_row(perf: dict[str, Any]) -> dict[str, Any]:
    """One delivery mode in the comparison table: bytes moved per video and time."""
    lat = perf.get("latency_s", {})
    transfer = perf.get("intervals_s", {}).get("transfer", {})
    deliver = perf.get("intervals_s", {}).get("deliver", {})
    fetch = perf.get("intervals_s", {}).get("fetch", {})
    return {
        "completed": perf["completed"],
        "failed": perf["failed"],
        "bytes_per_video": perf["bytes_received"]["per_video_mean"],
        "e2e_mean_s": lat.get("mean"),
        "e2e_p90_s": lat.get("p90"),
        "transfer_mean_s": transfer.get("mean"),
        "deliver_mean_s": deliver.get("mean"),  # encoded → complete: independent of model-time noise
        "deliver_p90_s": deliver.get("p90"),
        "fetch_mean_s": fetch.get("mean"),  # ready → complete: the delivery mode's own cost
        "fetch_p90_s": fetch.get("p90"),
        "videos_per_s": perf["videos_per_s"],
    }
