"""Latency models: the TurboServe per-chunk formula and a profile-based model.

TurboServe (per chunk, ms)::

    180 * compute_units * res_factor * max(0.5, (frames / 64) ** 0.5)
      + 0.015 * prompt_tokens + 55 * (load - 1) + 18 * (load / capacity) ** 2

A ``Profile`` holds per-step latency as a function of resolution, frames and batch size, plus VAE
decode and encode, fitted from measurements (``reelserve profile``) or entered from published figures::

    step_ms = step_fixed_ms + step_ms_per_mvoxel * mvoxels * batch ** batch_exponent
    clip_ms = steps * step_ms + (vae_decode_ms_per_mvoxel + encode_ms_per_mvoxel) * mvoxels * batch

where ``mvoxels = width * height * frames / 1e6``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from reelserve.core.errors import InvalidInput, UnknownName
from reelserve.sched.views import SessionView

__all__ = [
    "CONTENTION_MS",
    "PER_SESSION_MS",
    "RES_FACTOR",
    "Ms",
    "Profile",
    "batched_latency_ms",
    "chunk_latency_ms",
    "migration_ms",
    "session_base_ms",
    "worker_chunk_latency_ms",
]

RES_FACTOR: dict[str, float] = {"360p": 0.45, "480p": 0.65, "720p": 1.0, "1080p": 1.7, "4K": 3.2}


def _res_factor(resolution: str) -> float:
    try:
        return RES_FACTOR[resolution]
    except KeyError:
        raise UnknownName("resolution", resolution, list(RES_FACTOR)) from None


@functools.lru_cache(maxsize=4096)
def session_base_ms(compute_units: float, resolution: str, frames: int) -> float:
    """The load-independent part of the TurboServe per-chunk latency."""
    return 180.0 * compute_units * _res_factor(resolution) * max(0.5, math.sqrt(frames / 64.0))


#: TurboServe's load terms (ms): what one more session adds to a worker's batched chunk, and the scale
#: of the (load / capacity)² contention term. ``sched.placement`` takes them as parameters (the live
#: engine passes the ones it measured); the simulator's world costs its chunks with these.
PER_SESSION_MS = 55.0
CONTENTION_MS = 18.0

#: milliseconds: one value, or one per worker (numpy) -- the formula below serves both
Ms = TypeVar("Ms", float, npt.NDArray[np.float64], np.float64)


def batched_latency_ms(
    base: Ms,
    tokens: Ms,
    load: Ms,
    capacity: Ms,
    per_session_ms: float = PER_SESSION_MS,
    contention_ms: float = CONTENTION_MS,
) -> Ms:
    """TurboServe's per-chunk latency of ``load`` >= 1 sessions batched into one forward: the slowest
    member's ``base``, the longest prompt's ``tokens``, and the load terms."""
    return base + 0.015 * tokens + per_session_ms * (load - 1) + contention_ms * (load / capacity) ** 2


def chunk_latency_ms(
    compute_units: float, resolution: str, frames: int, prompt_tokens: int, load: int, capacity: int
) -> float:
    """TurboServe's per-chunk latency of one session on a worker running ``load`` sessions."""
    return (
        session_base_ms(compute_units, resolution, frames)
        + 0.015 * prompt_tokens
        + PER_SESSION_MS * max(0, load - 1)
        + CONTENTION_MS * (load / max(1, capacity)) ** 2
    )


def worker_chunk_latency_ms(
    sessions: Sequence[SessionView],
    capacity: int,
    per_session_ms: float = PER_SESSION_MS,
    contention_ms: float = CONTENTION_MS,
) -> float:
    """Predicted per-chunk latency on a worker: its active sessions share one coalesced batch.

    The slowest member sets the base; an idle worker predicts 0.
    """
    active = [s for s in sessions if s.active]
    if not active:
        return 0.0
    base = max(session_base_ms(s.compute_units, s.resolution, s.frames) for s in active)
    tokens = max(s.prompt_tokens for s in active)
    return batched_latency_ms(
        base, float(tokens), float(len(active)), float(max(1, capacity)), per_session_ms, contention_ms
    )


def migration_ms(session: SessionView) -> float:
    """Measured p50 when known, else 8 ms + state_MB / 32 MB/ms."""
    if session.migration_ms is not None:
        return session.migration_ms
    return 8.0 + session.state_mb / 32.0


@dataclass(frozen=True, slots=True)
class Profile:
    """Cost profile of one model on one device type (all times in ms)."""

    model: str  #: model name
    device: str  #: device the numbers were measured on, e.g. "H100" or "cpu"
    step_fixed_ms: float  #: per denoising step, independent of size
    step_ms_per_mvoxel: float  #: per step, per million voxels (width*height*frames) at batch 1
    batch_exponent: float = 1.0  #: step cost grows as batch**exponent (<1 = batching helps)
    vae_decode_ms_per_mvoxel: float = 0.0  #: VAE decode, per million voxels per clip
    encode_ms_per_mvoxel: float = 0.0  #: video encode, per million voxels per clip
    default_steps: int = 4  #: steps the model runs when a request does not say

    def __post_init__(self) -> None:
        numbers = (self.step_fixed_ms, self.step_ms_per_mvoxel, self.vae_decode_ms_per_mvoxel)
        if min(*numbers, self.encode_ms_per_mvoxel) < 0 or not 0 < self.batch_exponent <= 2:
            raise InvalidInput(f"profile {self.model!r}: costs must be >= 0 and batch_exponent in (0, 2]")

    def step_ms(self, width: int, height: int, frames: int, batch: int = 1) -> float:
        mvox = width * height * frames / 1e6
        return self.step_fixed_ms + self.step_ms_per_mvoxel * mvox * math.pow(batch, self.batch_exponent)

    def clip_ms(self, width: int, height: int, frames: int, steps: int, batch: int = 1) -> float:
        """One batched call: ``steps`` denoising steps, then VAE decode and encode of every clip."""
        mvox = width * height * frames / 1e6
        post = (self.vae_decode_ms_per_mvoxel + self.encode_ms_per_mvoxel) * mvox * batch
        return steps * self.step_ms(width, height, frames, batch) + post
