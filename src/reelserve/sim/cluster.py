"""The virtual cluster's configuration: GPU budget and type, spot share, runtime constants."""

from __future__ import annotations

from dataclasses import dataclass

from reelserve.core.errors import InvalidInput, LimitExceeded
from reelserve.sched.ordering import check_target
from reelserve.sched.provision.gpus import GpuType, gpu_type

__all__ = ["MAX_GPUS", "ClusterSpec"]

MAX_GPUS = 1024


@dataclass(frozen=True, slots=True)
class ClusterSpec:
    """A virtual cluster of one GPU type (validated at construction)."""

    gpus: int = 64  #: GPU budget: static runs exactly this many; autoscaling at most this many
    gpu: str = "B300"  #: GPU type (A100, H100, H200, B200, B300)
    spot_share: float = 0.0  #: share of the GPUs rented as spot
    capacity: int = 8  #: sessions per coalesced batch (and the rebalancer's per-worker capacity)
    memory_slots: int = 16  #: resident sessions (active or idle) a GPU holds
    per_gpu: float = 4.0  #: autoscaler's c: target active sessions per GPU
    min_gpus: int = 1  #: autoscaler floor
    startup_s: float = 10.0  #: a new GPU loads its model this long before serving
    hold_s: float = 5.0  #: autoscaler scale-in hold
    control_s: float = 1.0  #: control loop period (autoscale, place, rebalance)
    notice_s: float = 30.0  #: spot eviction notice
    evictions_per_h: float | None = None  #: spot evictions per GPU-hour; None = the GPU type's figure
    deadline_ms: float = 1000.0  #: per-chunk latency target
    chunk_target_ms: float = 0.0  #: ``slo``: admit past capacity within this predicted latency (0 = off)
    ttff_target_s: float = 0.0  #: ``slo``: an opening chunk's deadline after arrival (0 = deadline_ms)
    warmup_s: float = 120.0  #: latency and TTFF count from here on (cold start excluded); cost counts it all
    coalesce_wait_s: float = 0.3  #: coalescing: an off-grid chunk waits this long at most for the iteration
    restore_mb_per_ms: float = 25.0  #: host-to-GPU restore bandwidth (offloaded sessions)
    reinit_ms: float = 2000.0  #: rebuilding a session's state from scratch after an eviction
    reference_gpu: str = "B300"  #: the latency model's numbers are for this GPU

    def __post_init__(self) -> None:
        if not 1 <= self.gpus <= MAX_GPUS:
            raise LimitExceeded(f"--gpus must be between 1 and {MAX_GPUS}, got {self.gpus}", param="gpus")
        gpu_type(self.gpu)
        gpu_type(self.reference_gpu)
        numbers = (self.startup_s, self.hold_s, self.notice_s, self.reinit_ms, self.warmup_s)
        check_target("--chunk-target-ms", self.chunk_target_ms, "milliseconds")
        check_target("--ttff-target-s", self.ttff_target_s, "seconds")
        if min(numbers) < 0 or self.control_s <= 0 or self.per_gpu <= 0 or self.deadline_ms <= 0:
            raise InvalidInput("cluster times must be >= 0, control period, per-GPU target and deadline > 0")
        if not 0 <= self.spot_share <= 1 or self.capacity < 1 or self.memory_slots < self.capacity:
            raise InvalidInput("--spot-share must be in [0, 1]; capacity >= 1; memory slots >= capacity")
        if not 1 <= self.min_gpus <= self.gpus:
            raise InvalidInput("--min-gpus must be between 1 and --gpus", param="min_gpus")

    @property
    def gpu_type(self) -> GpuType:
        return gpu_type(self.gpu)

    @property
    def speedup(self) -> float:
        """Latency divisor of this GPU relative to the reference GPU."""
        return self.gpu_type.speed / gpu_type(self.reference_gpu).speed

    @property
    def eviction_rate(self) -> float:
        return self.gpu_type.evictions_per_h if self.evictions_per_h is None else self.evictions_per_h
