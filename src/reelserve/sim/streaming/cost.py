"""Per-chunk cost from a measured model profile, instead of TurboServe's per-chunk formula.

With a ``ChunkCost`` a forward of ``b`` coalesced chunks keeps its GPU (or CPU worker) busy for
``forward_ms(b)`` — the profile's batch-size-dependent figure: denoising steps plus the VAE decode of
every chunk — and each chunk is delivered ``encode_ms`` later: encoding runs off the model worker, so
it adds to the chunk's latency but not to the worker's busy time. ``scale`` multiplies both, for a
worker that runs slower than the profile was measured (e.g. sharing its cores). This is how the
simulator models the live engine's model workers (``benchmarks/sim_fidelity.py``).
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

    def __post_init__(self) -> None:
        times = self.forward_by_batch
        if not times or min(times) <= 0 or self.encode < 0 or self.scale <= 0:
            raise InvalidInput("chunk cost: forward times must be > 0, encode >= 0 and scale > 0")

    @classmethod
    def from_profile(
        cls, profile: Profile, width: int, height: int, frames: int, steps: int, max_batch: int
    ) -> ChunkCost:
        """From a fitted profile: ``steps · step_ms(b) + vae_decode · b`` for b = 1..max_batch."""
        mvox = width * height * frames / 1e6
        times = tuple(
            steps * profile.step_ms(width, height, frames, b) + profile.vae_decode_ms_per_mvoxel * mvox * b
            for b in range(1, max_batch + 1)
        )
        return cls(times, profile.encode_ms_per_mvoxel * mvox)

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
        times = tuple(steps * float(at[b]["step_ms"]) + float(at[b]["vae_decode_ms"]) for b in sorted(at))
        return cls(times, median(float(r["encode_ms"]) / b for b, r in at.items()))

    def forward_ms(self, batch: int) -> float:
        """Worker time of one forward over ``batch`` chunks (linear beyond the measured batches)."""
        times = self.forward_by_batch
        if batch <= len(times):
            return self.scale * times[batch - 1]
        slope = times[-1] - times[-2] if len(times) > 1 else times[-1]
        return self.scale * (times[-1] + slope * (batch - len(times)))

    def encode_ms(self) -> float:
        """Encoding one chunk after its forward (off the worker)."""
        return self.scale * self.encode
