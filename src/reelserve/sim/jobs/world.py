"""A simulated job farm: deadline-ordered queue, batching, adaptive quality, autoscaling.

Each GPU takes the most urgent queued job (``sched.ordering``, EDF within priority classes) and the
compatible jobs that may share its forward (``sched.batching``; batch 1 without coalescing). When a
job would finish after its deadline, adaptive quality (``sched.quality``) degrades it along the
ladder. Service time comes from a model cost ``Profile`` scaled by the GPU's speed.
"""

from __future__ import annotations

import bisect
from typing import TYPE_CHECKING

from reelserve.sched.batching import form_batches
from reelserve.sched.latency import Profile
from reelserve.sched.provision.gpus import gpu_type
from reelserve.sched.quality import QualityLevel, admit, build_ladder
from reelserve.sched.views import RequestView
from reelserve.sim.cluster import ClusterSpec
from reelserve.sim.entities import SimWorker, WorkerState
from reelserve.sim.metrics import Metrics
from reelserve.sim.policies import PolicyConfig
from reelserve.sim.workload.jobs import JobSpec

if TYPE_CHECKING:
    from reelserve.sim.loop import Event

__all__ = ["JobWorld"]

WINDOW = 64  #: the policies see the most urgent WINDOW queued jobs (bounded work per decision)


def _key(j: JobSpec) -> tuple[int, float, float, str]:
    return (0 if j.priority.value == "interactive" else 1, j.deadline or float("inf"), j.arrival, j.id)


class JobWorld:
    """Mutable simulation state; constructing it has no side effects."""

    def __init__(self, cluster: ClusterSpec, policy: PolicyConfig, profile: Profile, horizon_s: float):
        self.now = 0.0
        self.cluster = cluster
        self.policy = policy
        self.profile = profile
        self.horizon = horizon_s
        self.queue: list[tuple[tuple[int, float, float, str], JobSpec]] = []  #: sorted by urgency
        self.workers: dict[str, SimWorker] = {}
        self.running: dict[str, tuple[JobSpec, ...]] = {}  #: worker -> jobs in its forward
        self.metrics = Metrics()
        self.billed = 0
        self.below_since: float | None = None
        self.first_done: dict[str, float] = {}  #: group -> first completion
        self.group_start: dict[str, float] = {}  #: group -> first arrival
        self.last_done = 0.0
        self.last_arrival = 0.0  #: the control loop runs at least until the last job has arrived
        self.speed = (
            gpu_type(cluster.gpu).speed / gpu_type(profile.device).speed
            if profile.device
            in (
                "A100",
                "H100",
                "H200",
                "B200",
                "B300",
            )
            else 1.0
        )

    def add_worker(self, up: bool) -> list[Event[JobWorld]]:
        from reelserve.sim.jobs.events import WorkerUp

        w = SimWorker(f"g{len(self.workers):04d}", self.cluster.gpu_type, False, 1, 1, self.speed, self.now)
        w.state = WorkerState.UP if up else WorkerState.WARMING
        self.workers[w.id] = w
        self.billed += 1
        self.metrics.gpus_changed(self.now, self.billed)
        return [] if up else [WorkerUp(self.now + self.cluster.startup_s, w.id)]

    def release(self, w: SimWorker) -> None:
        w.state = WorkerState.GONE
        w.billed_to = self.now
        self.billed -= 1
        self.metrics.gpus_changed(self.now, self.billed)

    def enqueue(self, job: JobSpec) -> None:
        bisect.insort(self.queue, (_key(job), job), key=lambda x: x[0])
        self.group_start.setdefault(job.group or job.id, job.arrival)

    def service_s(self, job: JobSpec, batch: int, level: QualityLevel | None = None) -> float:
        lv = level or QualityLevel(job.width, job.height, job.steps, job.fps)
        frames = max(1, round(job.frames * lv.fps / job.fps))
        return self.profile.clip_ms(lv.width, lv.height, frames, lv.steps, batch) / 1000.0 / self.speed

    def dispatch_all(self) -> list[Event[JobWorld]]:
        events: list[Event[JobWorld]] = []
        for w in self.workers.values():
            if w.state is WorkerState.UP and w.id not in self.running and self.queue:
                events += self.dispatch(w)
        return events

    def dispatch(self, w: SimWorker) -> list[Event[JobWorld]]:
        """Start the most urgent ready batch on idle worker ``w`` (or wake it when one is ready)."""
        from reelserve.sim.jobs.events import Dispatch, JobsDone

        window = [j for _, j in self.queue[:WINDOW]]
        views = [
            RequestView(
                j.id,
                j.arrival,
                j.priority,
                j.deadline,
                self.service_s(j, 1),
                j.model,
                j.width,
                j.height,
                j.frames,
                j.steps,
            )
            for j in window
        ]
        max_batch = 4 if self.policy.coalesce else 1
        plan = form_batches(views, self.now, max_batch=max_batch, max_wait_s=2.0)
        if not plan.ready:
            return [Dispatch(plan.batches[0].dispatch_at, w.id)] if plan.batches else []
        chosen = set(plan.ready[0].request_ids)
        batch = tuple(j for j in window if j.id in chosen)
        self.queue = [q for q in self.queue if q[1].id not in chosen]
        level = self._quality(batch)
        duration = self.service_s(batch[0], len(batch), level)
        self.running[w.id] = batch
        w.busy_s += duration
        w.wake_token += 1
        return [JobsDone(self.now + duration, w.id)]

    def _quality(self, batch: tuple[JobSpec, ...]) -> QualityLevel | None:
        job = batch[0]
        deadline = min((j.deadline for j in batch if j.deadline is not None), default=None)
        if not self.policy.adaptive_quality or deadline is None:
            return None
        ladder = build_ladder(QualityLevel(job.width, job.height, job.steps, job.fps))
        choice = admit(
            ladder, lambda lv: self.now + self.service_s(job, len(batch), lv), deadline, allow_late=True
        )
        if choice.degraded:
            self.metrics.degraded += len(batch)
        return choice.level

    def complete(self, w: SimWorker) -> None:
        for job in self.running.pop(w.id, ()):
            self.metrics.completed += 1
            self.metrics.chunk_latency_s.append(self.now - job.arrival)
            if job.deadline is not None and self.now > job.deadline + 1e-9:
                self.metrics.late += 1
            group = job.group or job.id
            if group not in self.first_done:
                self.first_done[group] = self.now
                self.metrics.ttff_s.append(self.now - self.group_start[group])
            self.last_done = max(self.last_done, self.now)
