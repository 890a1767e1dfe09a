"""Events of the streaming simulation; each handler returns the events it causes."""

from __future__ import annotations

from collections.abc import Iterable

from reelserve.sim.entities import SessionSpec, SimSession, WorkerState
from reelserve.sim.loop import Event
from reelserve.sim.streaming.control import control_tick, place_resumed, place_waiting
from reelserve.sim.streaming.world import StreamWorld

__all__ = ["Arrive", "Control", "ForwardDone", "Resume", "SpotEvict", "SpotNotice", "WorkerReady"]

Out = Iterable[Event[StreamWorld]]


class Arrive(Event[StreamWorld]):
    """A session opens; it waits for a GPU and its first chunk is due at once."""

    __slots__ = ("spec",)

    def __init__(self, time: float, spec: SessionSpec) -> None:
        super().__init__(time)
        self.spec = spec

    def handle(self, world: StreamWorld) -> Out:
        s = SimSession.start(self.spec)
        world.sessions[s.id] = s
        world.waiting[s.id] = s
        world.n_active += 1
        return place_waiting(world)


class ForwardDone(Event[StreamWorld]):
    """A forward finished: its chunks are delivered and the worker plans the next one.

    Stale (ignored) if the worker re-planned or was evicted since it was scheduled.
    """

    __slots__ = ("token", "worker")

    def __init__(self, time: float, worker: str, token: int) -> None:
        super().__init__(time)
        self.worker = worker
        self.token = token

    def handle(self, world: StreamWorld) -> Out:
        w = world.workers[self.worker]
        if w.wake_token != self.token or w.state is WorkerState.GONE:
            return ()
        return world.finish_forward(w)


class Resume(Event[StreamWorld]):
    """An idle session becomes active again (on its GPU, or restored from host memory)."""

    __slots__ = ("session",)

    def __init__(self, time: float, session: str) -> None:
        super().__init__(time)
        self.session = session

    def handle(self, world: StreamWorld) -> Out:
        s = world.sessions[self.session]
        s.segment += 1
        s.left = s.spec.segments[s.segment].chunks
        s.chunk_index = 0
        s.next_request = world.now
        s.ready_at = world.now
        s.set(active=True, idle_since=None, prompt_tokens=s.spec.prompt_tokens)  # a resume re-prompts
        world.n_active += 1
        if s.worker is not None:
            world.n_idle_resident -= 1
            home = world.workers[s.worker]
            # the placement controller acts on the resume itself, before its chunk queues at home
            return [*place_resumed(world, s.id), *world.kick(home)]
        s.ready_at = world.now + world.restore_delay_s(s)
        world.waiting[s.id] = s
        return place_waiting(world)


class Control(Event[StreamWorld]):
    """The control loop: autoscale, place, offload, rebalance, release drained GPUs."""

    __slots__ = ()

    def handle(self, world: StreamWorld) -> Out:
        events = control_tick(world)
        if world.now + world.cluster.control_s <= world.horizon:
            events.append(Control(world.now + world.cluster.control_s))
        return events


class WorkerReady(Event[StreamWorld]):
    """A new GPU finished loading its model."""

    __slots__ = ("worker",)

    def __init__(self, time: float, worker: str) -> None:
        super().__init__(time)
        self.worker = worker

    def handle(self, world: StreamWorld) -> Out:
        w = world.workers[self.worker]
        if w.state is WorkerState.WARMING:
            w.state = WorkerState.UP
        return place_waiting(world)


class SpotNotice(WorkerReady):
    """A spot GPU will be evicted in ``notice_s``: policies that react stop sending work there."""

    __slots__ = ()

    def handle(self, world: StreamWorld) -> Out:
        w = world.workers[self.worker]
        if w.state is WorkerState.UP and (world.policy.rebalance or world.policy.autoscale):
            w.state = WorkerState.DRAINING  # the control loop evacuates it
        return ()


class SpotEvict(WorkerReady):
    """A spot GPU is gone: sessions still on it lose their state and start over elsewhere."""

    __slots__ = ()

    def handle(self, world: StreamWorld) -> Out:
        w = world.workers[self.worker]
        if w.state is WorkerState.GONE:
            return ()
        world.metrics.evictions += 1
        for s in list(w.sessions.values()):
            world.detach(s)
            s.pending_move = None
            if s.active:
                s.ready_at = world.now + world.cluster.reinit_ms / 1000.0
                world.waiting[s.id] = s
            else:
                world.n_idle_resident -= 1
                world.lost.add(s.id)
        w.inflight = ()
        world.release(w)
        events = [] if world.policy.autoscale else world.add_worker(up=False)  # static keeps its budget
        return [*events, *place_waiting(world)]
