"""Run one streaming workload under one policy and summarise it."""

from __future__ import annotations

from typing import Any

from reelserve.sim.cluster import ClusterSpec
from reelserve.sim.entities import WorkerState
from reelserve.sim.loop import Event, EventLoop
from reelserve.sim.metrics import summarize
from reelserve.sim.policies import PolicyConfig
from reelserve.sim.streaming.cost import ChunkCost
from reelserve.sim.streaming.events import Arrive, Control
from reelserve.sim.streaming.steps import step_cost
from reelserve.sim.streaming.world import StreamWorld
from reelserve.sim.workload import Workload

__all__ = ["run_streaming"]


def run_streaming(
    workload: Workload, cluster: ClusterSpec, policy: PolicyConfig, seed: int, cost: ChunkCost | None = None
) -> tuple[dict[str, Any], StreamWorld]:
    """Simulate ``workload`` to its horizon; returns the summary and the final world.

    ``cost``: per-chunk cost from a measured profile (default: TurboServe's per-chunk formula).
    """
    world = StreamWorld(cluster, policy, workload.period_s, workload.horizon_s, seed, cost)
    if policy.continuous:
        step_cost(world)  # fail before running: this policy needs step-level figures
    loop: EventLoop[StreamWorld] = EventLoop(world)
    first = cluster.gpus
    if policy.autoscale:
        first = max(cluster.min_gpus, min(cluster.gpus, 1))
    for _ in range(first):
        loop.schedule(world.add_worker(up=True))
    world.metrics.sessions = len(workload.sessions)
    initial: list[Event[StreamWorld]] = [Arrive(s.arrival, s) for s in workload.sessions]
    initial.append(Control(0.0))
    loop.schedule(initial)
    loop.run(until=workload.horizon_s)
    for w in world.workers.values():
        if w.state is not WorkerState.GONE:
            w.billed_to = workload.horizon_s
    gpu_s = sum(w.gpu_seconds(workload.horizon_s) for w in world.workers.values())
    usd = sum(w.gpu_seconds(workload.horizon_s) * w.price for w in world.workers.values()) / 3600.0
    world.metrics.busy_gpu_s = sum(w.busy_s for w in world.workers.values())
    world.metrics.unfinished = sum(1 for s in world.sessions.values() if not s.done)
    world.metrics.extra["events"] = float(loop.handled)
    summary = summarize(
        world.metrics, gpu_s=gpu_s, cost_usd=usd, horizon_s=workload.horizon_s, deadline_s=world.deadline_s
    )
    return summary, world
