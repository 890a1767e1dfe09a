"""Arrival schedules: when each query should be issued, in seconds after the start of a phase.

``None`` in a schedule means "as soon as a slot is free" (closed-loop scenarios); numbers mean an
open-loop arrival time. Poisson arrivals are seeded, so a seed fixes every arrival time.
"""

from __future__ import annotations

import numpy as np

__all__ = ["offline_schedule", "poisson_schedule"]


def offline_schedule(count: int) -> list[float]:
    """Every query at t = 0 (MLPerf Offline)."""
    return [0.0] * count


def poisson_schedule(count: int, rate: float, seed: int) -> list[float]:
    """Arrival times of a Poisson process at ``rate`` queries/s: cumulative exponential gaps, first at 0."""
    if rate <= 0:
        raise ValueError(f"rate must be positive, got {rate}")
    gaps = np.random.default_rng(seed).exponential(1.0 / rate, size=count)
    gaps[0] = 0.0
    return [float(t) for t in np.cumsum(gaps)]
