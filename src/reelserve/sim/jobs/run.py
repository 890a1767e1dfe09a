"""Run a job workload (batch or dag) under one policy and summarise it."""

from __future__ import annotations

from typing import Any

from reelserve.sched.latency import Profile
from reelserve.sim.cluster import ClusterSpec
from reelserve.sim.entities import WorkerState
from reelserve.sim.jobs.events import Control, JobArrive
from reelserve.sim.jobs.world import JobWorld
from reelserve.sim.loop import Event, EventLoop
from reelserve.sim.metrics import summarize
from reelserve.sim.policies import PolicyConfig
from reelserve.sim.workload import Workload

__all__ = ["run_jobs"]


def run_jobs(
    workload: Workload, cluster: ClusterSpec, policy: PolicyConfig, profile: Profile
) -> tuple[dict[str, Any], JobWorld]:
    """Simulate until every job is done (or 4x the horizon); the GPUs are billed until the last job."""
    world = JobWorld(cluster, policy, profile, workload.horizon_s)
    world.last_arrival = max(j.arrival for j in workload.jobs)
    loop: EventLoop[JobWorld] = EventLoop(world)
    first = cluster.min_gpus if policy.autoscale else cluster.gpus
    for _ in range(first):
        loop.schedule(world.add_worker(up=True))
    world.metrics.sessions = len(workload.jobs)
    initial: list[Event[JobWorld]] = [JobArrive(j.arrival, j) for j in workload.jobs]
    if policy.autoscale:
        initial.append(Control(0.0))
    loop.schedule(initial)
    loop.run(until=4 * workload.horizon_s)
    end = max(world.last_done, world.now if world.queue else world.last_done)
    for w in world.workers.values():
        if w.state is not WorkerState.GONE:
            w.billed_to = end
    gpu_s = sum(w.gpu_seconds(end) for w in world.workers.values())
    cost = sum(w.gpu_seconds(end) * w.price for w in world.workers.values()) / 3600.0
    world.metrics.busy_gpu_s = sum(w.busy_s for w in world.workers.values())
    world.metrics.unfinished = len(world.queue) + sum(len(b) for b in world.running.values())
    world.metrics.extra["makespan_s"] = world.last_done
    world.metrics.extra["events"] = float(loop.handled)
    summary = summarize(world.metrics, gpu_s=gpu_s, cost_usd=cost, horizon_s=max(end, 1e-9), deadline_s=None)
    return summary, world
