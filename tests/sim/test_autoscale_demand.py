"""The streaming control loop counts sessions waiting for admission as autoscaling demand."""

from __future__ import annotations

import math

from reelserve.sim.cluster import ClusterSpec
from reelserve.sim.policies import resolve_policy
from reelserve.sim.streaming.control import control_tick
from reelserve.sim.streaming.events import Arrive
from reelserve.sim.streaming.world import StreamWorld
from reelserve.sim.workload import StreamingShape, WorkloadParams, build_workload


def test_sessions_queued_for_a_slot_make_the_loop_scale_out() -> None:
    cluster = ClusterSpec(gpus=16, per_gpu=4.0, capacity=8, memory_slots=16)
    specs = build_workload("streaming", WorkloadParams(StreamingShape(sessions=40, hours=0.1)), 3).sessions[
        :20
    ]
    world = StreamWorld(cluster, resolve_policy("closed-loop"), 2.0, 3600.0, 3)
    world.add_worker(up=True)
    for spec in specs:
        world.now = spec.arrival
        list(Arrive(spec.arrival, spec).handle(world))
    placed = sum(len(w.sessions) for w in world.workers.values())
    assert placed <= cluster.capacity < len(specs)  # one GPU admits at most its batch capacity
    assert len(world.waiting) == len(specs) - placed
    control_tick(world)
    # demand is every generating session, queued ones included: ceil(20 / 3.6) GPUs, not ceil(8 / 3.6)
    assert world.billed == math.ceil(len(specs) / (0.9 * cluster.per_gpu))
    assert world.billed > math.ceil(placed / (0.9 * cluster.per_gpu))
