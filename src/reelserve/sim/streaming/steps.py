"""Step-level continuous batching on a simulated worker: the live engine's model-worker loop, in events.

The engine's model worker (``engine/model/batcher.py``) asks ``sched.continuous.plan_step`` before every
denoising step: requested chunks join the running set at a step boundary (up to ``max_batch``; an
empty set waits up to ``max_wait_s`` for company, ``sched.batching``'s rule), one batched step runs
for the whole set, and the chunks that took their last step are decoded together (one batched VAE
decode) before the next step starts. Here the same function plans each step of a simulated worker
(the ``continuous`` policy): a step over ``n`` running chunks, ``k`` of them finishing, keeps the worker
busy ``cost.step_ms(n) + cost.decode_ms(k)``; a finished chunk is delivered ``cost.encode_ms()``
later (encoding runs off the worker). So sessions enter and leave batches one step at a time instead
of locking into whole-chunk forwards, which is what makes the engine's batches average below their
maximum when sessions drift apart.

With a measured chunk path (``ChunkCost.from_chunk_path``) a step also carries what the engine's worker
does around it — admitting each new chunk, and after the decode each finished chunk's state export
and reply — and every part is drawn from its measured samples with the world's seeded generator
(``world.rng``), so runs stay deterministic under the seed. The chunks finished at one step are
delivered after one measured hand-back of that many chunks, drawn whole (``ChunkCost.
deliver_group_ms``: their reply and encode times together, in hand-back order; with a profile that
timed them from the step's end, ``handback_group_ms``, a chunk may be encoded before the step ends,
its next request then read at that end as the engine's worker reads it), and each session's
next request reaches the worker a drawn request time after that (the chunk's latency is counted from
the request, as the engine counts it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from reelserve.core.errors import InvalidInput
from reelserve.sched.continuous import plan_step
from reelserve.sched.views import RequestView

if TYPE_CHECKING:
    from reelserve.sim.entities import SimSession, SimWorker
    from reelserve.sim.loop import Event
    from reelserve.sim.streaming.cost import ChunkCost
    from reelserve.sim.streaming.world import StreamWorld

__all__ = ["finish_step", "kick_step", "step_cost"]


def step_cost(world: StreamWorld) -> ChunkCost:
    """The world's measured cost, which must have step-level figures for this policy."""
    cost = world.cost
    if cost is None or not cost.step_level:
        raise InvalidInput(
            "the 'continuous' policy needs a measured per-step cost (ChunkCost.from_measurements or "
            "from_profile), not TurboServe's per-chunk formula"
        )
    return cost


def _request(world: StreamWorld, s: SimSession, steps: int, seen: float | None = None) -> RequestView:
    """A session's requested chunk as the batching policy sees it (every chunk shares one batch key):
    it arrived when the worker read it (``seen``; by default when it was made)."""
    arrival = s.next_request if seen is None else seen
    return RequestView(s.id, arrival, deadline=s.next_request + world.deadline_s, model="chunk", steps=steps)


def _seen(w: SimWorker, s: SimSession, now: float) -> float:
    """When the worker read ``s``'s request: the engine's worker reads its pipe only between steps, so
    a request that came during the step that just ended is read now — and its wait for company (the
    batcher stamps arrival on reading) starts now, not when it was sent."""
    stepped = w.busy_until == now and w.forward_start < now  # called at the end of a step
    return now if stepped and s.ready_at > w.forward_start else s.ready_at


def kick_step(world: StreamWorld, w: SimWorker) -> list[Event[StreamWorld]]:
    """Plan ``w``'s next step (the caller checked it is up and not in a step): admit, then run or wait."""
    from reelserve.sim.streaming.events import ForwardDone

    cost = step_cost(world)
    now = world.now
    w.wake_token += 1
    rng = world.rng if cost.path is not None else None
    if rng is not None:
        _open_new(w, cost, now, rng)
    running = [world.sessions[sid] for sid in w.steps_left]
    waiting = [
        s for s in w.sessions.values() if s.view.active and s.id not in w.steps_left and s.ready_at <= now
    ]
    plan = plan_step(
        [_request(world, s, cost.steps) for s in running],
        [_request(world, s, cost.steps, _seen(w, s, now)) for s in waiting],
        now,
        max_batch=w.capacity,
        max_wait_s=world.cluster.coalesce_wait_s,
        preempt=False,
    )
    ms = sum(cost.admit_ms(rng) for _ in plan.admit)
    for sid in plan.admit:
        w.steps_left[sid] = cost.steps
        w.peak[sid] = 0
    if not w.steps_left:
        w.inflight = ()
        w.busy_until = w.forward_start = now
        # look again when the waiting batch is ready, or when the next chunk is requested
        later = [s.ready_at for s in w.sessions.values() if s.view.active and s.ready_at > now]
        if plan.wake_at is not None:
            later.append(plan.wake_at)
        return [ForwardDone(min(later), w.id, w.wake_token)] if later else []
    n = len(w.steps_left)
    finishing = sum(1 for left in w.steps_left.values() if left == 1)
    ms += cost.step_ms(n, rng) + cost.decode_ms(finishing, rng)
    ms = (ms + sum(cost.finish_ms(rng) for _ in range(finishing))) / w.speedup
    for sid in w.steps_left:
        w.peak[sid] = max(w.peak[sid], n)
    w.forward_start = now
    w.busy_until = now + ms / 1000.0
    w.inflight = tuple(w.steps_left)
    return [ForwardDone(w.busy_until, w.id, w.wake_token)]


def _open_new(w: SimWorker, cost: ChunkCost, now: float, rng: np.random.Generator) -> None:
    """Sessions new on ``w`` are opened now, at a step boundary: the engine's worker answers ``open``
    between steps, so a session that arrives mid-step sends its first request only after the step (a
    long one, with a decode, lines it up with the chunks that step delivers). Its first request then
    reaches the batcher ``cost.open_ms`` later. Not yet opened = first chunk not started and no delay
    pending (``ready_at`` not past its request time)."""
    for s in w.sessions.values():
        new = s.first_done is None and s.chunk_index == 0 and s.id not in w.steps_left
        if new and s.view.active and s.ready_at <= s.next_request:
            s.ready_at = now + cost.open_ms(rng) / 1000.0


def finish_step(world: StreamWorld, w: SimWorker) -> list[Event[StreamWorld]]:
    """A step ended (or a wake-up came): count it, deliver the chunks it finished, plan the next one."""
    w.busy_s += w.busy_until - w.forward_start
    cost = step_cost(world)
    rng = world.rng if cost.path is not None else None
    events: list[Event[StreamWorld]] = []
    stepped, w.inflight = w.inflight, ()  # cleared first: a pending move out of w must not re-plan it mid-way
    # the worker hands finished chunks back one after another (export, reply): the j-th of k leaves
    # (k - 1 - j) hand-backs before the step's end
    finished = [sid for sid in stepped if w.steps_left.get(sid) == 1]
    # their deliveries: one measured hand-back of that many chunks, drawn whole (in hand-back order),
    # timed from this step's end when the profile has it (a chunk may be encoded before the end)
    handback = cost.handback_group_ms(len(finished), rng) if rng is not None and finished else None
    deliver = cost.deliver_group_ms(len(finished), rng) if rng is not None and finished else ()
    for sid in stepped:
        left = w.steps_left.get(sid)
        if left is None:  # detached mid-chunk (evicted)
            continue
        if left > 1:
            w.steps_left[sid] = left - 1
            continue
        del w.steps_left[sid]
        s = world.sessions[sid]
        j = finished.index(sid)
        left_at = world.now - (len(finished) - 1 - j) * cost.finish_ms() / 1000.0
        delivered = left_at + (deliver[j] if deliver else cost.deliver_ms(None, len(finished))) / 1000.0
        if handback is not None:
            delivered = world.now + handback[j] / 1000.0
        events += world.deliver(s, w, delivered, w.peak.pop(sid))
        # the next request reaches the worker after its way there; latency still counts from the request
        s.ready_at = max(s.ready_at, s.next_request + cost.request_ms(rng) / 1000.0)
    return events + world.kick(w)
