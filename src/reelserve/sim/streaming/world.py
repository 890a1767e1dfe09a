"""The state of a simulated streaming cluster and the mechanics of forwards, sessions and GPUs.

Mechanics only: *where* sessions go and *how many* GPUs run is decided by the ``sched`` policies in
``control.py``. Each GPU iterates on a grid of one chunk period; its sessions fall into lockstep on
that grid (``_next_due``). When chunks are due, the GPU runs them back to back: without the
``coalescing`` policy one chunk per forward (the k-th chunk of an iteration waits for k-1 forwards);
with it, every due chunk in one coalesced forward, and a chunk due just before the GPU's next
iteration waits for it (``coalesce_wait_s``). A forward of ``b`` chunks takes TurboServe's per-chunk
latency with ``load = b``, divided by the GPU's speed relative to the reference GPU. Chunk k+1 of a
session is due a period after chunk k (real-time playback), or at once if it has fallen behind.
Per-chunk latency = completion - due time; a session's first chunk is reported as TTFF instead;
both are measured after ``warmup_s`` (the cold start of an empty cluster is not measured).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from reelserve.sched.latency import CONTENTION_MS, PER_SESSION_MS, session_base_ms
from reelserve.sched.ordering import held_back, slo_deadline
from reelserve.sched.placement import PlacementParams
from reelserve.sched.quality import QualityLevel, admit, build_ladder
from reelserve.sim.cluster import ClusterSpec
from reelserve.sim.entities import SimSession, SimWorker, WorkerState
from reelserve.sim.metrics import Metrics
from reelserve.sim.policies import PolicyConfig
from reelserve.sim.streaming.cost import ChunkCost
from reelserve.sim.streaming.steps import finish_step, kick_step

if TYPE_CHECKING:
    from reelserve.sim.loop import Event

__all__ = ["StreamWorld"]

SIZES = {
    "360p": (640, 360),
    "480p": (854, 480),
    "720p": (1280, 720),
    "1080p": (1920, 1080),
    "4K": (3840, 2160),
}


class StreamWorld:
    """Mutable simulation state; constructing it has no side effects."""

    def __init__(
        self,
        cluster: ClusterSpec,
        policy: PolicyConfig,
        period_s: float,
        horizon_s: float,
        seed: int,
        cost: ChunkCost | None = None,
    ):
        self.now = 0.0
        self.cost = cost  #: per-chunk cost from a measured profile; None = TurboServe's formula
        self.cluster = cluster
        self.policy = policy
        self.period = period_s
        self.horizon = horizon_s
        self.deadline_s = cluster.deadline_ms / 1000.0
        self.sessions: dict[str, SimSession] = {}
        self.workers: dict[str, SimWorker] = {}
        self.waiting: dict[str, SimSession] = {}  #: active sessions with no worker, in arrival order
        self.lost: set[str] = set()  #: idle sessions whose state died with a spot GPU
        self.metrics = Metrics()
        self.rng = np.random.default_rng([seed, 0x5E07])  #: spot eviction times
        self.n_active = 0  #: sessions generating (placed or waiting)
        self.n_idle_resident = 0  #: idle sessions still holding GPU memory
        self.billed = 0  #: GPUs rented now
        self.below_since: float | None = None  #: autoscaler hold timer (passed in and out)
        self.placement = PlacementParams(
            rebalance=policy.rebalance,
            offload_idle=policy.offload,
            headroom=policy.headroom,
            overflow=policy.overflow,
            sequential=policy.runtime_aware and not policy.coalesce,
            admit_ms=cluster.chunk_target_ms if policy.slo else 0.0,
        )
        #: ``slo``: the chunk deadlines its ordering uses (a target of 0 falls back to the deadline)
        self.chunk_target_s = (cluster.chunk_target_ms or cluster.deadline_ms) / 1000.0
        self.ttff_target_s = cluster.ttff_target_s or self.deadline_s
        self._base: dict[str, float] = {}
        self._ladders: dict[str, tuple[QualityLevel, ...]] = {}

    # -- GPUs ---------------------------------------------------------------------------------
    def add_worker(self, up: bool) -> list[Event[StreamWorld]]:
        from reelserve.sim.streaming.events import SpotEvict, SpotNotice, WorkerReady

        index = len(self.workers)
        spot_now = sum(1 for w in self.workers.values() if w.spot and w.state is not WorkerState.GONE)
        spot = spot_now < round(self.cluster.spot_share * max(self.billed + 1, self.cluster.gpus)) - 0.5
        w = SimWorker(
            f"g{index:04d}",
            self.cluster.gpu_type,
            spot,
            self.cluster.capacity,
            self.cluster.memory_slots,
            self.cluster.speedup,
            self.now,
            WorkerState.UP if up else WorkerState.WARMING,
        )
        self.workers[w.id] = w
        self.billed += 1
        self.metrics.gpus_changed(self.now, self.billed)
        events: list[Event[StreamWorld]] = []
        if not up:
            events.append(WorkerReady(self.now + self.cluster.startup_s, w.id))
        if spot and self.cluster.eviction_rate > 0:
            evict_at = self.now + float(self.rng.exponential(3600.0 / self.cluster.eviction_rate))
            if evict_at < self.horizon:
                events.append(SpotNotice(max(self.now, evict_at - self.cluster.notice_s), w.id))
                events.append(SpotEvict(evict_at, w.id))
        return events

    def release(self, w: SimWorker) -> None:
        w.state = WorkerState.GONE
        w.billed_to = self.now
        w.wake_token += 1
        self.billed -= 1
        self.metrics.gpus_changed(self.now, self.billed)

    # -- sessions -----------------------------------------------------------------------------
    def attach(self, s: SimSession, w: SimWorker, delay_s: float) -> list[Event[StreamWorld]]:
        self.waiting.pop(s.id, None)
        s.set(worker=w.id)
        w.sessions[s.id] = s
        s.ready_at = max(s.ready_at, self.now + delay_s)
        s.history.append(w.id)
        return self.kick(w)

    def detach(self, s: SimSession) -> SimWorker | None:
        w = self.workers.get(s.worker) if s.worker is not None else None
        if w is not None:
            w.sessions.pop(s.id, None)
            w.steps_left.pop(s.id, None)  # continuous: a chunk cut off mid-way starts over elsewhere
            w.peak.pop(s.id, None)
        s.set(worker=None)
        return w

    def migrate(self, s: SimSession, target: str, cost_ms: float) -> list[Event[StreamWorld]]:
        source = self.detach(s)
        s.pending_move = None
        self.metrics.migrations += 1
        events = self.attach(s, self.workers[target], cost_ms / 1000.0)
        if source is not None and s.spec.id in source.inflight and not self.in_flight(source):
            events += self.kick(source)  # it was planned into the source's next forward
        return events

    def restore_delay_s(self, s: SimSession) -> float:
        if s.id in self.lost:
            self.lost.discard(s.id)
            return self.cluster.reinit_ms / 1000.0
        return (5.0 + s.spec.state_mb / self.cluster.restore_mb_per_ms) / 1000.0

    # -- forwards -----------------------------------------------------------------------------
    def kick(self, w: SimWorker) -> list[Event[StreamWorld]]:
        """(Re)plan ``w``'s next forward unless one is running: at once if a chunk is due, else when one is.

        A planned forward is one event; anything that changes the worker before it starts re-plans it
        (the token makes the old completion event stale), so no separate wake-up events are needed.
        """
        from reelserve.sim.streaming.events import ForwardDone

        if w.state in (WorkerState.GONE, WorkerState.WARMING) or self.in_flight(w):
            return []
        if self.policy.continuous:
            return kick_step(self, w)
        now = self.now
        soonest = math.inf
        active = []
        for s in w.sessions.values():
            if s.view.active:
                active.append(s)
                if s.ready_at < soonest:
                    soonest = s.ready_at
        w.wake_token += 1
        if not active:
            w.inflight = ()
            w.busy_until = w.forward_start = now
            return []
        start = max(now, soonest)
        if w.anchor is None:
            w.anchor = start
        if self.policy.coalesce:
            start = self._coalesced_start(w.anchor, start, active)
            batch = [s for s in active if s.ready_at <= start]
        else:
            due = [s for s in active if s.ready_at <= start]
            batch = [min(due, key=self._order_key(start))]
        ms, degraded = self._forward_ms(batch, w, start)
        w.forward_start = start
        w.busy_until = start + ms / 1000.0
        w.inflight = tuple(s.spec.id for s in batch)
        w.degraded = len(batch) if degraded else 0
        return [ForwardDone(w.busy_until, w.id, w.wake_token)]

    def _order_key(self, start: float) -> Callable[[SimSession], tuple[int, float, str]]:
        """EDF on due times; with ``streams-first`` an opening chunk yields (``sched.ordering.held_back``);
        with ``slo``, EDF on each chunk's own deadline (``sched.ordering.slo_deadline``)."""
        if self.policy.slo:
            chunk, ttff = self.chunk_target_s, self.ttff_target_s
            return lambda m: (
                0,
                slo_deadline(m.first_done is None, m.next_request, m.spec.arrival, chunk, ttff),
                m.spec.id,
            )
        if not self.policy.streams_first:
            return lambda m: (0, m.next_request, m.spec.id)
        # an opening chunk was queued on this worker when it was attached: ready_at (no chunk delivered yet)
        return lambda m: (held_back(m.first_done is None, m.ready_at, start), m.next_request, m.spec.id)

    def _coalesced_start(self, anchor: float, start: float, active: Sequence[SimSession]) -> float:
        """sched.batching's max-wait rule: a forward waits for chunks ready within ``coalesce_wait_s``."""
        # an off-grid chunk waits for the GPU's next iteration if that is close, so it joins the coalesced
        # forward instead of delaying it
        grid = anchor + math.ceil((start - anchor) / self.period - 1e-9) * self.period
        wait = self.cluster.coalesce_wait_s
        if grid - start <= wait and any(s.ready_at > start for s in active):
            start = grid
        # off the grid too (a period shorter than the wait): chunks ready within the wait join it
        soon = [s.ready_at for s in active if start < s.ready_at <= start + wait]
        return max(soon) if soon else start

    def in_flight(self, w: SimWorker) -> bool:
        """True while a forward runs on ``w`` (started, not finished)."""
        return w.forward_start <= self.now < w.busy_until

    def _forward_ms(self, batch: Sequence[SimSession], w: SimWorker, start: float) -> tuple[float, bool]:
        """Duration of one forward over ``batch`` (ms), and whether adaptive quality degraded it."""
        if self.cost is not None:
            return self.cost.forward_ms(len(batch)) / w.speedup, False
        base = max(self._base_ms(s) for s in batch)
        tokens = max(s.view.prompt_tokens for s in batch)
        b = len(batch)
        rest = 0.015 * tokens + PER_SESSION_MS * (b - 1) + CONTENTION_MS * (b / w.capacity) ** 2  # load = b
        if not self.policy.adaptive_quality:
            return (base + rest) / w.speedup, False
        due = min(s.next_request for s in batch) + self.deadline_s
        ladder = self._ladder(batch[0])
        top = ladder[0].cost
        choice = admit(
            ladder,
            lambda lv: start + (base * lv.cost / top + rest) / w.speedup / 1000.0,
            due,
            allow_late=True,
        )
        level = choice.level or ladder[0]
        return (base * level.cost / top + rest) / w.speedup, choice.degraded

    def _base_ms(self, s: SimSession) -> float:
        base = self._base.get(s.spec.id)
        if base is None:
            base = session_base_ms(s.spec.compute_units, s.spec.resolution, s.spec.frames)
            self._base[s.spec.id] = base
        return base

    def _ladder(self, s: SimSession) -> tuple[QualityLevel, ...]:
        """The session's quality ladder: fewer steps, then a smaller size, then a lower fps."""
        ladder = self._ladders.get(s.spec.resolution)
        if ladder is None:
            width, height = SIZES[s.spec.resolution]
            ladder = build_ladder(QualityLevel(width, height, 20, 16), steps=(15, 10), fps=(12,))
            self._ladders[s.spec.resolution] = ladder
        return ladder

    def finish_forward(self, w: SimWorker) -> list[Event[StreamWorld]]:
        if self.policy.continuous:
            return finish_step(self, w)
        events: list[Event[StreamWorld]] = []
        w.busy_s += w.busy_until - w.forward_start
        self.metrics.degraded += w.degraded
        # a chunk is delivered once encoded; encoding (off the worker) only exists with a measured cost
        delivered = self.now + (self.cost.encode_ms() / 1000.0 if self.cost is not None else 0.0)
        # cleared before delivering: a session migrating at this chunk boundary must not re-plan the
        # finished forward (its re-plan was then wiped, and the worker ran a forward delivering nothing)
        done, w.inflight = w.inflight, ()
        for sid in done:
            events += self.deliver(self.sessions[sid], w, delivered, len(done))
        return events + self.kick(w)

    def deliver(self, s: SimSession, w: SimWorker, delivered: float, batch: int) -> list[Event[StreamWorld]]:
        """A chunk of ``s`` is done (delivered at ``delivered``, in a batch of ``batch``): record and pace."""
        from reelserve.sim.streaming.events import Resume

        if self.now >= self.cluster.warmup_s:
            if s.first_done is None:
                self.metrics.ttff_s.append(delivered - s.spec.arrival)
            else:
                self.metrics.chunk_latency_s.append(delivered - s.next_request)
                self.metrics.chunk_batch.append(batch)
        if s.first_done is None:
            s.first_done = delivered
            s.set(streaming=True)
        s.left -= 1
        s.chunk_index += 1
        s.next_request = self._next_due(w, s.next_request, delivered)
        s.ready_at = max(s.ready_at, s.next_request)
        seg = s.spec.segments[s.segment]
        if s.left > 0:
            tokens = s.spec.prompt_tokens if s.chunk_index in seg.prompt_changes else 0
            if tokens != s.view.prompt_tokens:
                s.set(prompt_tokens=tokens)
            if s.pending_move is not None:
                return self.migrate(s, s.pending_move, self._migration_ms(s))
            return []
        self.n_active -= 1
        s.pending_move = None
        if s.segment + 1 >= len(s.spec.segments):
            s.done = True
            self.detach(s)
            self.metrics.completed += 1
            return []
        s.set(active=False, idle_since=self.now)
        self.n_idle_resident += 1
        return [Resume(self.now + seg.idle_s, s.id)]

    def _next_due(self, w: SimWorker, due: float, delivered: float) -> float:
        """When the next chunk is due: a period after this one, or earlier at the GPU's next iteration.

        Every GPU iterates on a grid ``anchor + k * period``; a session that joined off the grid (new,
        resumed, migrated) snaps to it, so all sessions of a GPU fall into lockstep (buffering < 1 period
        ahead of playback). A session that fell behind asks for its next chunk as soon as this one is
        delivered.
        """
        natural = due + self.period
        anchor = w.anchor if w.anchor is not None else self.now
        grid = anchor + math.ceil((self.now - anchor) / self.period + 1e-9) * self.period
        return max(delivered, min(natural, grid))

    def _migration_ms(self, s: SimSession) -> float:
        return 8.0 + s.spec.state_mb / 32.0
