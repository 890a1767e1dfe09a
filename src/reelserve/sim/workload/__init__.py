"""Workloads: seeded generators (streaming, batch, dag) and traces, behind one registry.

``WORKLOADS.get(name)(params, seed)`` returns a ``Workload``. ``params`` is a ``WorkloadParams``
holding the shapes of every kind (the CLI fills the one it needs) and an optional trace path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from reelserve.core.errors import InvalidInput
from reelserve.sched.registry import Registry
from reelserve.sim.entities.session import SessionSpec
from reelserve.sim.workload.jobs import JobShape, JobSpec, generate_batch, generate_dag
from reelserve.sim.workload.streaming import StreamingShape, generate_sessions
from reelserve.sim.workload.trace import read_trace

__all__ = [
    "WORKLOADS",
    "JobShape",
    "JobSpec",
    "StreamingShape",
    "Workload",
    "WorkloadParams",
    "build_workload",
]


@dataclass(frozen=True, slots=True)
class WorkloadParams:
    """Everything a workload generator may read."""

    streaming: StreamingShape = field(default_factory=StreamingShape)  #: streaming shape
    jobs: JobShape = field(default_factory=JobShape)  #: batch / dag shape
    trace: str | None = None  #: path of a CSV/JSONL trace (workload "trace")
    period_s: float = 2.0  #: chunk period for traced sessions


@dataclass(frozen=True, slots=True)
class Workload:
    """A generated or traced workload: sessions or jobs."""

    name: str  #: the registry name it came from
    sessions: tuple[SessionSpec, ...] = ()  #: streaming sessions (kind "streaming")
    jobs: tuple[JobSpec, ...] = ()  #: generation jobs (kind "jobs")
    period_s: float = 2.0  #: streaming: a chunk is due every period_s seconds
    horizon_s: float = 3600.0  #: how long arrivals span

    @property
    def kind(self) -> str:
        return "streaming" if self.sessions else "jobs"


WorkloadFn = Callable[[WorkloadParams, int], Workload]
WORKLOADS: Registry[WorkloadFn] = Registry("workload")


@WORKLOADS.register("streaming")
def _streaming(p: WorkloadParams, seed: int) -> Workload:
    shape = p.streaming
    return Workload("streaming", generate_sessions(shape, seed), (), shape.period_s, shape.hours * 3600)


@WORKLOADS.register("batch")
def _batch(p: WorkloadParams, seed: int) -> Workload:
    jobs = generate_batch(p.jobs, seed)
    return Workload("batch", (), jobs, 2.0, max(j.deadline or 0.0 for j in jobs))


@WORKLOADS.register("dag")
def _dag(p: WorkloadParams, seed: int) -> Workload:
    jobs = generate_dag(p.jobs, seed)
    return Workload("dag", (), jobs, 2.0, max(j.deadline or 0.0 for j in jobs))


@WORKLOADS.register("trace")
def _trace(p: WorkloadParams, seed: int) -> Workload:
    if not p.trace:
        raise InvalidInput("workload 'trace' needs --trace PATH (a .csv or .jsonl file)", param="trace")
    sessions, jobs = read_trace(p.trace)
    last = max([s.arrival for s in sessions] + [j.arrival for j in jobs])
    return Workload("trace", sessions, jobs, p.period_s, max(last, 1.0))


def build_workload(name: str, params: WorkloadParams, seed: int) -> Workload:
    """Look ``name`` up and build the workload; empty workloads are rejected."""
    workload = WORKLOADS.get(name)(params, seed)
    if not workload.sessions and not workload.jobs:
        raise InvalidInput("the workload is empty: ask for at least one session or job", param="workload")
    return workload
