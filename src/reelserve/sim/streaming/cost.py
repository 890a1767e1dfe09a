"""Per-chunk cost from a measured model profile, instead of TurboServe's per-chunk formula.

With a ``ChunkCost`` a forward of ``b`` coalesced chunks keeps its GPU (or CPU worker) busy for
``forward_ms(b)`` — the profile's batch-size-dependent figure: denoising steps plus the VAE decode of
every chunk — and each chunk is delivered ``encode_ms`` later: encoding runs off the model worker, so
it adds to the chunk's latency but not to the worker's busy time. ``scale`` multiplies both, for a
worker that runs slower than the profile was measured (e.g. sharing its cores). This is how the
simulator models the live engine's model workers (``benchmarks/sim_fidelity.py``).

For the ``continuous`` policy (step-level continuous batching, ``sim.streaming.steps``) it also holds
the parts: one denoising step of a running set of ``b`` chunks, ``step_ms(b)``, and the batched VAE
decode of the ``k`` chunks that finish at the same step, ``decode_ms(k)``; a chunk takes ``steps`` steps.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import median
from typing import Any

from reelserve.core.errors import InvalidInput
from reelserve.sched.latency import Profile

__all__ = ["ChunkCost"]


@dataclass(frozen=True, slots=True)
class ChunkCost:
    """What one streaming chunk costs (every session of the run alike), in ms."""

    forward_by_batch: tuple[float, ...]  #: worker time of a forward of b = 1, 2, ... chunks
    encode: float  #: encoding one chunk, after its forward, off the worker
    scale: float = 1.0  #: multiplies every figure (a worker slower than where it was profiled)
    step_by_batch: tuple[float, ...] = ()  #: one denoising step of b = 1, 2, ... chunks (step-level)
    decode_by_batch: tuple[float, ...] = ()  #: VAE decode of b chunks finishing together (step-level)
    steps: int = 0  #: denoising steps per chunk (step-level); 0 = no step-level figures

    def __post_init__(self) -> None:
        times = self.forward_by_batch
        if not times or min(times) <= 0 or self.encode < 0 or self.scale <= 0:
            raise InvalidInput("chunk cost: forward times must be > 0, encode >= 0 and scale > 0")
        parts = (self.step_by_batch, self.decode_by_batch)
        if self.steps and (not all(parts) or min(min(x) for x in parts) < 0):
            raise InvalidInput("chunk cost: step-level figures need step and decode times >= 0 by batch")

    @property
    def step_level(self) -> bool:
        """True when it can drive step-level continuous batching."""
        return self.steps > 0

    @classmethod
    def from_profile(
        cls, profile: Profile, width: int, height: int, frames: int, steps: int, max_batch: int
    ) -> ChunkCost:
        """From a fitted profile: ``steps · step_ms(b) + vae_decode · b`` for b = 1..max_batch."""
        mvox = width * height * frames / 1e6
        batches = range(1, max_batch + 1)
        step = tuple(profile.step_ms(width, height, frames, b) for b in batches)
        decode = tuple(profile.vae_decode_ms_per_mvoxel * mvox * b for b in batches)
        times = tuple(steps * s + d for s, d in zip(step, decode, strict=True))
        return cls(times, profile.encode_ms_per_mvoxel * mvox, 1.0, step, decode, steps)

    @classmethod
    def from_measurements(
        cls, rows: Sequence[Mapping[str, Any]], width: int, height: int, frames: int, steps: int
    ) -> ChunkCost:
        """From ``reelserve profile`` rows measured at exactly this size, one per batch 1, 2, ... n."""
        at = {
            int(r["batch"]): r
            for r in rows
            if (r["width"], r["height"], r["frames"]) == (width, height, frames)
        }
        if not at or sorted(at) != list(range(1, max(at) + 1)):
            raise InvalidInput(f"the profile has no batch 1..n measurements at {width}x{height}x{frames}")
        step = tuple(float(at[b]["step_ms"]) for b in sorted(at))
        decode = tuple(float(at[b]["vae_decode_ms"]) for b in sorted(at))
        times = tuple(steps * s + d for s, d in zip(step, decode, strict=True))
        encode = median(float(r["encode_ms"]) / b for b, r in at.items())
        return cls(times, encode, 1.0, step, decode, steps)

    def forward_ms(self, batch: int) -> float:
        """Worker time of one forward over ``batch`` chunks (linear beyond the measured batches)."""
        return self.scale * _at(self.forward_by_batch, batch)

    def step_ms(self, batch: int) -> float:
        """One denoising step of a running set of ``batch`` chunks (step-level figures)."""
        return self.scale * _at(self.step_by_batch, batch)

    def decode_ms(self, batch: int) -> float:
        """The batched VAE decode of ``batch`` chunks that finished at the same step (0 for none)."""
        return self.scale * _at(self.decode_by_batch, batch) if batch > 0 else 0.0

    def encode_ms(self) -> float:
        """Encoding one chunk after its forward (off the worker)."""
        return self.scale * self.encode


def _at(times: tuple[float, ...], batch: int) -> float:
    """``times[batch - 1]``, extended linearly beyond the measured batches."""
    if batch <= len(times):
        return times[batch - 1]
    slope = times[-1] - times[-2] if len(times) > 1 else times[-1]
    return times[-1] + slope * (batch - len(times))
