"""The control loop of the streaming simulation: it calls the ``sched`` policies and applies them.

Order (TurboServe): scale out, then place and rebalance; rebalance, then scale in. Scale-in marks the
emptiest GPUs as draining; placement evacuates them (migrating or offloading their sessions); a
draining GPU is released once empty.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import TYPE_CHECKING

from reelserve.sched.autoscale import autoscale
from reelserve.sched.latency import migration_ms
from reelserve.sched.placement import PlacementParams, plan_placement, resume_move
from reelserve.sim.entities import SimSession, WorkerState

if TYPE_CHECKING:
    from reelserve.sim.loop import Event
    from reelserve.sim.streaming.world import StreamWorld

__all__ = ["control_tick", "place_resumed", "place_waiting"]


def _placement(world: StreamWorld, params: PlacementParams) -> list[Event[StreamWorld]]:
    workers = [w for w in world.workers.values() if w.state in (WorkerState.UP, WorkerState.DRAINING)]
    views = [s.view for w in workers for s in w.sessions.values()]
    views += [s.view for s in world.waiting.values()]
    decision = plan_placement(views, [w.view() for w in workers], world.now, params)
    events: list[Event[StreamWorld]] = []
    for sid in decision.offload:
        s = world.sessions[sid]
        world.detach(s)
        world.n_idle_resident -= 1
        world.metrics.offloads += 1
    for move in decision.moves:
        events += _move(world, world.sessions[move.session_id], move.target, move.cost_ms)
    for sid, wid in decision.place:
        s = world.sessions[sid]
        if s.worker is None:
            events += world.attach(s, world.workers[wid], 0.0)
        else:  # evacuated off a draining GPU and found no batch slot, then admitted past one: a move
            events += _move(world, s, wid, migration_ms(s.view))
    return events


def _move(world: StreamWorld, s: SimSession, target: str, cost_ms: float) -> list[Event[StreamWorld]]:
    """Migrate ``s`` now, or at its chunk boundary if its worker's running forward holds its chunk."""
    source = world.workers[s.worker] if s.worker is not None else None
    if s.active and source is not None and s.spec.id in source.inflight and world.in_flight(source):
        s.pending_move = target
        return []
    return world.migrate(s, target, cost_ms)


def place_waiting(world: StreamWorld) -> list[Event[StreamWorld]]:
    """Place sessions waiting for a GPU (arrivals, restores) without rebalancing."""
    if not world.waiting:
        return []
    return _placement(world, replace(world.placement, rebalance=False, offload_idle=False))


def place_resumed(world: StreamWorld, sid: str) -> list[Event[StreamWorld]]:
    """A resident session resumed: with rebalancing, move it now if its worker is the worse place."""
    s = world.sessions[sid]
    if not world.placement.rebalance or s.worker is None:
        return []
    workers = [w for w in world.workers.values() if w.state is WorkerState.UP]
    views = [m.view for w in workers for m in w.sessions.values()]
    move = resume_move(s.view, views, [w.view() for w in workers], world.placement)
    return [] if move is None else world.migrate(s, move.target, move.cost_ms)


def _autoscale(world: StreamWorld) -> list[Event[StreamWorld]]:
    c = world.cluster
    live = [w for w in world.workers.values() if w.state in (WorkerState.UP, WorkerState.WARMING)]
    decision = autoscale(
        len(live),
        world.n_active,
        world.now,
        per_gpu=c.per_gpu,
        min_workers=c.min_gpus,
        max_workers=c.gpus,
        hold_s=c.hold_s,
        below_since=world.below_since,
    )
    world.below_since = decision.below_since
    # GPU memory must hold every resident session too (idle ones are not offloaded without "offload")
    floor = math.ceil((world.n_active + world.n_idle_resident) / c.memory_slots)
    target = min(c.gpus, max(decision.workers, floor))
    events: list[Event[StreamWorld]] = []
    if target > len(live):
        need = target - len(live)
        for w in sorted(world.workers.values(), key=lambda x: x.id):
            if need and w.state is WorkerState.DRAINING and w.billed_to is None and not w.spot:
                w.state = WorkerState.UP  # cancel a drain before renting a new GPU
                need -= 1
        for _ in range(need):
            events += world.add_worker(up=False)
    elif target < len(live):
        up = [w for w in live if w.state is WorkerState.UP]
        for w in sorted(up, key=lambda x: (len(x.sessions), x.id))[: len(live) - target]:
            w.state = WorkerState.DRAINING
    return events


def control_tick(world: StreamWorld) -> list[Event[StreamWorld]]:
    events = _autoscale(world) if world.policy.autoscale else []
    if world.placement.rebalance or world.placement.offload_idle or world.waiting or world.policy.autoscale:
        events += _placement(world, world.placement)
    for w in world.workers.values():
        if w.state is WorkerState.DRAINING and not w.sessions and not world.in_flight(w):
            world.release(w)
    return events
