"""GPU types, their relative speed and their prices.

Prices are $/GPU-hour. A100, H100 and H200 are StreamWise's published figures (spot / reserved:
1.07 / 3.40, 4.03 / 5.39, 4.22 / 5.64). B200 and B300 are **estimates** interpolated between H200 and
GB200 (spot 10.76, reserved 14.42): B200 7.90 / 10.60, B300 9.40 / 12.60. Speeds are relative
throughput on diffusion video models (A100 = 1.0) and are estimates as well; override both with a
JSON file (``reelserve.sim.profiles.load_gpu_types``) when you have measured numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from reelserve.core.errors import UnknownName

__all__ = ["DEFAULT_GPUS", "GpuType", "gpu_type"]


@dataclass(frozen=True, slots=True)
class GpuType:
    """One GPU model as the planner and simulator see it."""

    name: str  #: e.g. "H100"
    speed: float  #: relative throughput, A100 = 1.0
    reserved_usd_h: float  #: reserved (on-demand) price, $/GPU-hour
    spot_usd_h: float  #: spot price, $/GPU-hour
    memory_gb: int  #: device memory
    evictions_per_h: float = 0.05  #: expected spot evictions per GPU-hour
    nvenc: bool = False  #: has hardware video encoders (Hopper datacenter parts do not)

    def price(self, spot: bool) -> float:
        return self.spot_usd_h if spot else self.reserved_usd_h


DEFAULT_GPUS: dict[str, GpuType] = {
    g.name: g
    for g in (
        GpuType("A100", 1.0, 3.40, 1.07, 80, 0.05, False),
        GpuType("H100", 2.0, 5.39, 4.03, 80, 0.05, False),
        GpuType("H200", 2.3, 5.64, 4.22, 141, 0.05, False),
        GpuType("B200", 3.6, 10.60, 7.90, 180, 0.05, True),
        GpuType("B300", 4.3, 12.60, 9.40, 288, 0.05, True),
    )
}


def gpu_type(name: str, catalog: Mapping[str, GpuType] | None = None) -> GpuType:
    """Look a GPU type up; unknown names raise ``UnknownName`` listing the known ones."""
    table = DEFAULT_GPUS if catalog is None else catalog
    try:
        return table[name]
    except KeyError:
        raise UnknownName("GPU type", name, list(table), param="gpu_types") from None
