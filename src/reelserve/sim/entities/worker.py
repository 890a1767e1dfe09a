"""A simulated GPU running one model worker."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from reelserve.sched.provision.gpus import GpuType
from reelserve.sched.views import WorkerView
from reelserve.sim.entities.session import SimSession

__all__ = ["SimWorker", "WorkerState"]


class WorkerState(StrEnum):
    """Where a worker is in its life; it is billed from WARMING until GONE."""

    WARMING = "warming"  #: rented, loading the model; takes no work
    UP = "up"  #: serving
    DRAINING = "draining"  #: being scaled in or under a spot notice; takes no new work
    GONE = "gone"  #: released or evicted; no longer billed


@dataclass(slots=True, eq=False)
class SimWorker:
    """Mutable simulator entity; the policies see it through ``view()``."""

    id: str
    gpu: GpuType
    spot: bool
    capacity: int  #: sessions per coalesced batch
    memory_slots: int  #: resident sessions it can hold
    speedup: float  #: latency divisor relative to the profile's reference GPU
    billed_from: float
    state: WorkerState = WorkerState.WARMING
    billed_to: float | None = None
    sessions: dict[str, SimSession] = field(default_factory=dict)  #: resident sessions by id
    anchor: float | None = None  #: start of its first forward; its iteration grid is anchor + k * period
    forward_start: float = 0.0  #: start of the planned or running forward
    busy_until: float = 0.0  #: end of the planned or running forward
    degraded: int = 0  #: chunks of that forward run below the requested quality
    inflight: tuple[str, ...] = ()  #: sessions whose chunk is in that forward
    wake_token: int = 0  #: bumps to invalidate stale wake-up events
    busy_s: float = 0.0  #: seconds spent in forwards (utilization)
    steps_left: dict[str, int] = field(default_factory=dict)  #: continuous: running chunks, steps to go
    peak: dict[str, int] = field(default_factory=dict)  #: continuous: largest running set each chunk saw

    def view(self) -> WorkerView:
        return WorkerView(self.id, self.capacity, self.memory_slots, self.state is WorkerState.UP)

    def gpu_seconds(self, now: float) -> float:
        end = now if self.billed_to is None else self.billed_to
        return max(0.0, end - self.billed_from)

    @property
    def price(self) -> float:
        return self.gpu.price(self.spot)
