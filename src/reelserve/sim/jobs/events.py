"""Events of the job-farm simulation."""

from __future__ import annotations

import math
from collections.abc import Iterable

from reelserve.sched.autoscale import autoscale
from reelserve.sim.entities import WorkerState
from reelserve.sim.jobs.world import JobWorld
from reelserve.sim.loop import Event
from reelserve.sim.workload.jobs import JobSpec

__all__ = ["Control", "Dispatch", "JobArrive", "JobsDone", "WorkerUp"]

Out = Iterable[Event[JobWorld]]


class JobArrive(Event[JobWorld]):
    __slots__ = ("job",)

    def __init__(self, time: float, job: JobSpec) -> None:
        super().__init__(time)
        self.job = job

    def handle(self, world: JobWorld) -> Out:
        world.enqueue(self.job)
        return world.dispatch_all()


class Dispatch(Event[JobWorld]):
    """An idle worker looks at the queue again (a batch's wait ran out)."""

    __slots__ = ("worker",)

    def __init__(self, time: float, worker: str) -> None:
        super().__init__(time)
        self.worker = worker

    def handle(self, world: JobWorld) -> Out:
        w = world.workers[self.worker]
        if w.state is not WorkerState.UP or w.id in world.running:
            return ()
        return world.dispatch(w)


class JobsDone(Dispatch):
    """A forward finished; the worker takes the next batch (or leaves, if it was draining)."""

    __slots__ = ()

    def handle(self, world: JobWorld) -> Out:
        w = world.workers[self.worker]
        world.complete(w)
        if w.state is WorkerState.DRAINING:
            world.release(w)
            return ()
        return world.dispatch(w)


class WorkerUp(Dispatch):
    __slots__ = ()

    def handle(self, world: JobWorld) -> Out:
        w = world.workers[self.worker]
        if w.state is WorkerState.WARMING:
            w.state = WorkerState.UP
        return world.dispatch(w)


class Control(Event[JobWorld]):
    """Autoscale on backlog: the GPUs needed to finish the queued work by the nearest deadline."""

    __slots__ = ()
    PERIOD = 10.0

    def handle(self, world: JobWorld) -> Out:
        c = world.cluster
        live = [w for w in world.workers.values() if w.state in (WorkerState.UP, WorkerState.WARMING)]
        backlog = len(world.queue) + sum(len(b) for b in world.running.values())
        events: list[Event[JobWorld]] = []
        if world.queue:
            job = world.queue[0][1]
            window = max(60.0, (job.deadline or world.now + 3600.0) - world.now - c.startup_s)
            per_gpu = max(1.0, window / max(world.service_s(job, 1), 1e-6))
        else:
            per_gpu = 1.0
        decision = autoscale(
            len(live),
            math.ceil(backlog / 0.9),  # sched.autoscale targets 90% of c
            world.now,
            per_gpu=per_gpu,
            min_workers=c.min_gpus,
            max_workers=c.gpus,
            hold_s=max(c.hold_s, 60.0),
            below_since=world.below_since,
        )
        world.below_since = decision.below_since
        for _ in range(decision.workers - len(live)):
            events += world.add_worker(up=False)
        idle_first = sorted(live, key=lambda w: (w.id in world.running, w.id))
        for w in idle_first[: max(0, len(live) - decision.workers)]:
            if w.id in world.running:
                w.state = WorkerState.DRAINING
            else:
                world.release(w)
        if world.queue or world.running or world.now < world.last_arrival:
            events.append(Control(world.now + self.PERIOD))
        return events
