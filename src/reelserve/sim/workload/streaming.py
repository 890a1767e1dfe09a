"""Streaming-session workloads: bursty arrivals, heavy-tailed lengths, idle gaps, prompt changes.

Arrivals are a Poisson process whose rate changes every ``burst_window_s`` by a lognormal factor
with sigma = ``burstiness`` / 2 (0 = a plain Poisson process; 2 = peaks several times the mean).
A session's total active time is Pareto with shape ``tail_alpha`` (heavy tail) and mean
``mean_active_s``; it is cut into active stretches (exponential, mean ``mean_stretch_s``)
separated by idle gaps (exponential, mean ``mean_idle_s``); prompt changes arrive as a Poisson
process over active time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from reelserve.core.errors import InvalidInput
from reelserve.sched.latency import RES_FACTOR
from reelserve.sim.entities.session import Segment, SessionSpec

__all__ = ["StreamingShape", "generate_sessions"]


@dataclass(frozen=True, slots=True)
class StreamingShape:
    """Shape parameters of a streaming workload (each has a CLI option)."""

    sessions: int = 5000  #: sessions arriving over the horizon
    hours: float = 1.0  #: horizon
    burstiness: float = 2.0  #: rate modulation: lognormal sigma = burstiness / 2 per window (0 = Poisson)
    burst_window_s: float = 300.0  #: length of a window of constant arrival rate
    mean_active_s: float = 180.0  #: mean total generating time per session
    tail_alpha: float = 1.6  #: Pareto shape of the total active time (smaller = heavier tail)
    mean_stretch_s: float = 45.0  #: mean active stretch between idle gaps
    mean_idle_s: float = 20.0  #: mean idle gap
    prompt_changes_per_min: float = 0.5  #: prompt changes per minute of active time
    chunk_frames: int = 32  #: frames per chunk
    fps: int = 16  #: playback rate; a chunk is due every chunk_frames / fps seconds
    resolution: str = "720p"  #: output resolution
    compute_units: float = 1.5  #: relative model cost (1.5: a ~14B-class streaming model)
    big_share: float = 0.0  #: share of sessions on a 2x-cost model (a second model size)
    state_mb: float = 256.0  #: per-session state

    @property
    def period_s(self) -> float:
        return self.chunk_frames / self.fps

    def validate(self) -> None:
        positive = {
            "sessions": self.sessions,
            "hours": self.hours,
            "burst-window-s": self.burst_window_s,
            "mean-active-s": self.mean_active_s,
            "mean-stretch-s": self.mean_stretch_s,
            "chunk-frames": self.chunk_frames,
            "fps": self.fps,
            "compute-units": self.compute_units,
        }
        for name, value in positive.items():
            if not value > 0 or math.isinf(value):
                raise InvalidInput(f"--{name} must be a positive number, got {value}", param=name)
        if self.tail_alpha <= 1.0:
            raise InvalidInput("--tail-alpha must be > 1 (the mean must exist)", param="tail-alpha")
        if (
            self.burstiness < 0
            or self.mean_idle_s < 0
            or self.prompt_changes_per_min < 0
            or not 0 <= self.big_share <= 1
        ):
            raise InvalidInput(
                "--mean-idle-s and --prompt-changes-per-min must be >= 0, --big-share in [0, 1]"
            )
        if self.resolution not in RES_FACTOR:
            raise InvalidInput(f"--resolution must be one of {', '.join(RES_FACTOR)}", param="resolution")


def _arrivals(rng: np.random.Generator, shape: StreamingShape) -> np.ndarray:
    """Arrival times: a Poisson process whose rate is modulated window by window (lognormal, sigma = b/2)."""
    horizon = shape.hours * 3600.0
    windows = max(1, math.ceil(horizon / shape.burst_window_s))
    sigma = shape.burstiness / 2.0
    weights = np.exp(sigma * rng.standard_normal(windows))
    edges = np.linspace(0.0, horizon, windows + 1)
    counts = rng.multinomial(shape.sessions, weights / weights.sum())
    times = np.concatenate([rng.uniform(edges[k], edges[k + 1], size=counts[k]) for k in range(windows)])
    return np.sort(times)


def _segments(rng: np.random.Generator, shape: StreamingShape, active_s: float) -> tuple[Segment, ...]:
    period = shape.period_s
    total = max(1, math.ceil(active_s / period))
    segments: list[Segment] = []
    while total > 0:
        chunks = min(total, max(1, math.ceil(rng.exponential(shape.mean_stretch_s) / period)))
        total -= chunks
        idle = float(rng.exponential(shape.mean_idle_s)) if total > 0 and shape.mean_idle_s > 0 else 0.0
        lam = shape.prompt_changes_per_min * chunks * period / 60.0
        changes = tuple(sorted({int(c) for c in rng.integers(0, chunks, size=rng.poisson(lam))}))
        segments.append(Segment(chunks, idle, changes))
    return tuple(segments)


def generate_sessions(shape: StreamingShape, seed: int) -> tuple[SessionSpec, ...]:
    """The sessions of one workload; the same shape and seed give the same sessions."""
    shape.validate()
    rng = np.random.default_rng(seed)
    arrivals = _arrivals(rng, shape)
    x_m = shape.mean_active_s * (shape.tail_alpha - 1.0) / shape.tail_alpha
    actives = np.minimum((rng.pareto(shape.tail_alpha, size=shape.sessions) + 1.0) * x_m, shape.hours * 3600)
    big = rng.random(shape.sessions) < shape.big_share
    return tuple(
        SessionSpec(
            id=f"s{i:06d}",
            arrival=float(arrivals[i]),
            segments=_segments(rng, shape, float(actives[i])),
            compute_units=shape.compute_units * (2.0 if big[i] else 1.0),
            resolution=shape.resolution,
            frames=shape.chunk_frames,
            state_mb=shape.state_mb * (2.0 if big[i] else 1.0),
        )
        for i in range(shape.sessions)
    )
