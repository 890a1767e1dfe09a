"""Placement and min–max rebalancing of streaming sessions (TurboServe's loop).

Objective: minimise ``max_g L_g + λ · migration cost`` over assignments, where ``L_g`` is worker g's
predicted per-chunk latency (``latency.worker_chunk_latency_ms``, with the load terms of
``PlacementParams``; see below). One call of ``plan_placement``:

1. sessions on a worker that stopped accepting (draining, spot notice) are evacuated: moved to the
   least-loaded worker with room (idle ones are offloaded instead when offload is on);
2. idle sessions idle for ``offload_after_s`` or more are offloaded to host memory;
3. unplaced active sessions go to the least-loaded worker with room — sessions already streaming
   (resuming from host memory, evicted) before new ones; active sessions otherwise stay put;
4. up to ``max_rounds`` rebalancing rounds: take the worker with the worst predicted latency; for each of
   its active sessions (smaller state first) and each target with room, gain = L_worst − max(L_worst
   without it, L_target with it) − λ · migration_ms; apply the best move if gain > ``min_gain_ms``
   (``PlacementParams.gain_threshold_ms``).
   The bottleneck "after" is taken over the pair so that ties at the maximum still make progress.

"Room" differs by step. Placement (steps 1 and 3) needs a free batch slot (active load < capacity) and a
memory slot: capacity is admission control, a new session waits rather than overload a worker. A *new*
session (not yet streaming) also leaves ``headroom`` batch slots free on a worker that holds idle
sessions (one per idle session, at most ``headroom``): their resumes need no admission, and a worker
filled to capacity with new sessions runs past it when they come back. With ``overflow``, a session
already streaming (restored from host memory, evicted) that finds no batch slot takes the best worker
with a memory slot instead of waiting, as a resume on its own worker does. With ``admit_ms`` (an
operator's per-chunk latency target, the ``slo`` policy), any session that finds no batch slot takes the
worker with a memory slot whose predicted latency stays within the target *were every resident session
active* (idle ones may resume at any time), instead of waiting: capacity is a cost-efficiency point, the
target is the service promise, so a burst is admitted into the slack between them while new GPUs start
(and the rebalancer spreads it once they are up). A
rebalancing move (step 4, ``resume_move``) needs only a memory slot: the gain rule already guarantees
it lowers the pair's bottleneck. Otherwise a saturated cluster — every worker at capacity, some far
over it because their resident sessions resumed — could not be rebalanced at all, just when it matters.

``sequential`` changes the prediction, not the rules: TurboServe's ``L_g`` assumes a worker batches its
due chunks into one forward (the slowest session sets the base, each more adds ``per_session_ms``). A
runtime that runs each due chunk as its own forward makes the last of them wait for all, so there
``L_g`` is the sum of the active sessions' own chunk times — which also tells a worker of large
(2×-cost) sessions from one of small ones at the same count, where the batched formula sees only the
largest base.

The load terms are parameters: ``L_g = base + 0.015 · prompt tokens + per_session_ms · (n − 1) +
contention_ms · (n / capacity)²`` (sequential: ``Σ own chunks + contention_ms · n / capacity²``). The
defaults are TurboServe's 55 ms and 18 ms (the simulator's, ``latency.chunk_latency_ms``); the live
engine passes the ones it measured on its own device (``engine.sessions.calibration``), in its own
milliseconds, like every other time here. ``min_gain_ms`` is a hysteresis against moving sessions back
and forth; by default it is 8/11 of ``per_session_ms`` (40 ms at 55), so a move must gain most of one
session's load whatever a session costs on the device.

Migrations happen at chunk boundaries; the caller carries them out (prepare/commit, ownership epoch).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from reelserve.core.errors import InvalidInput
from reelserve.sched.latency import (
    CONTENTION_MS,
    PER_SESSION_MS,
    Ms,
    batched_latency_ms,
    migration_ms,
    session_base_ms,
    worker_chunk_latency_ms,
)
from reelserve.sched.views import SessionView, WorkerView

__all__ = ["Move", "PlacementDecision", "PlacementParams", "plan_placement", "resume_move"]

F64 = npt.NDArray[np.float64]


def _check_ms(name: str, value: object) -> None:
    """A load term or threshold is a finite number of milliseconds >= 0; anything else raises."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise InvalidInput(
            f"PlacementParams.{name} must be a finite number >= 0 (ms), not {value!r}", param=name
        )


@dataclass(frozen=True, slots=True)
class PlacementParams:
    """Knobs of the placement policy."""

    rebalance: bool = True  #: run the min–max rebalancing rounds
    offload_idle: bool = True  #: offload idle sessions to host memory
    offload_after_s: float = 0.0  #: an idle session is offloaded once idle this long
    lam: float = 0.01  #: λ, ms of bottleneck per ms of migration
    #: apply a move only if it gains more than this, ms; None = 8/11 of ``per_session_ms`` (40 at 55)
    min_gain_ms: float | None = None
    max_rounds: int = 3  #: rebalancing rounds per call
    headroom: int = 0  #: batch slots a new session leaves free for the worker's idle sessions' resumes
    overflow: bool = False  #: a streaming session finding no batch slot takes a memory slot, not a wait
    sequential: bool = False  #: predict for a runtime running one chunk per forward (see the module doc)
    admit_ms: float = 0.0  #: > 0: past capacity, admit where the all-resident latency stays within it (ms)
    per_session_ms: float = PER_SESSION_MS  #: ms one more active session adds to a worker's chunk (55)
    contention_ms: float = CONTENTION_MS  #: ms scale of the (load / capacity)² contention term (18)

    def __post_init__(self) -> None:
        _check_ms("per_session_ms", self.per_session_ms)
        _check_ms("contention_ms", self.contention_ms)
        if self.min_gain_ms is not None:
            _check_ms("min_gain_ms", self.min_gain_ms)

    @property
    def gain_threshold_ms(self) -> float:
        """The gain a move must exceed: ``min_gain_ms``, or by default its share of ``per_session_ms``."""
        if self.min_gain_ms is not None:
            return self.min_gain_ms
        return 8.0 * self.per_session_ms / 11.0  # exactly 40.0 at 55: the simulator's threshold


@dataclass(frozen=True, slots=True)
class Move:
    """Migrate one session's state at its next chunk boundary."""

    session_id: str  #: the session to move
    source: str  #: its current worker
    target: str  #: its new worker
    cost_ms: float  #: predicted migration time
    gain_ms: float  #: predicted bottleneck reduction net of λ·cost (evacuations: 0)


@dataclass(frozen=True, slots=True)
class PlacementDecision:
    """Everything the placement policy wants done now."""

    place: tuple[tuple[str, str], ...]  #: (session, worker) for unplaced active sessions
    moves: tuple[Move, ...]  #: migrations, evacuations first
    offload: tuple[str, ...]  #: idle sessions to offload to host memory
    unplaced: tuple[str, ...]  #: active sessions with no worker that has room (they wait)
    bottleneck_ms: float  #: predicted worst per-chunk latency after the decision


class _Cluster:
    """Per-worker aggregates as numpy arrays, updated move by move (internal scratch state)."""

    def __init__(
        self, workers: Sequence[WorkerView], sessions: Sequence[SessionView], params: PlacementParams
    ) -> None:
        self.sequential = params.sequential
        self.per_session_ms = params.per_session_ms
        self.contention_ms = params.contention_ms
        self.ids = [w.id for w in workers]
        self.index = {w: i for i, w in enumerate(self.ids)}
        n = len(workers)
        self.cap = np.array([max(1, w.capacity) for w in workers], dtype=np.float64)
        self.slots = np.array([w.memory_slots for w in workers], dtype=np.float64)
        self.accepting = np.array([w.accepting for w in workers], dtype=bool)
        self.members: list[list[SessionView]] = [[] for _ in range(n)]
        load = [0] * n
        base = [0.0] * n
        tokens = [0] * n
        work = [0.0] * n
        index = self.index
        members = self.members
        for s in sessions:  # one pass; this runs every control tick and on every resume (hot: no calls)
            i = index.get(s.worker) if s.worker is not None else None
            if i is None:
                continue
            members[i].append(s)
            if s.active:
                load[i] += 1
                b = session_base_ms(s.compute_units, s.resolution, s.frames)
                if b > base[i]:
                    base[i] = b
                if s.prompt_tokens > tokens[i]:
                    tokens[i] = s.prompt_tokens
                work[i] += b + 0.015 * s.prompt_tokens
        #: idle residents' largest base, largest prompt and summed forwards (``admit_ms``: they may resume);
        #: built on first use — admission past capacity is rare and this constructor is hot
        self._idle: F64 | None = None
        self.load = np.array(load, dtype=np.float64)
        self.resident = np.array([len(m) for m in self.members], dtype=np.float64)
        self.base = np.array(base, dtype=np.float64)
        self.tokens = np.array(tokens, dtype=np.float64)
        self.work = np.array(work, dtype=np.float64)  #: sequential: the active sessions' forwards, summed
        self.has_room = self.accepting & (self.load < self.cap) & (self.resident < self.slots)

    def refresh(self, i: int) -> None:
        act = [s for s in self.members[i] if s.active]
        self.resident[i] = len(self.members[i])
        self.load[i] = len(act)
        self.base[i] = max((session_base_ms(s.compute_units, s.resolution, s.frames) for s in act), default=0)
        self.tokens[i] = max((s.prompt_tokens for s in act), default=0)
        self.work[i] = sum(_own_ms(s) for s in act)
        if self._idle is not None:
            self._idle[i] = self._idle_row(i)
        self.has_room[i] = (
            self.accepting[i] and self.load[i] < self.cap[i] and self.resident[i] < self.slots[i]
        )

    def batched(self, base: Ms, tokens: Ms, load: Ms, cap: Ms) -> Ms:
        """``latency.batched_latency_ms`` with this call's load terms (``load`` >= 1)."""
        return batched_latency_ms(base, tokens, load, cap, self.per_session_ms, self.contention_ms)

    def one_by_one(self, work: Ms, load: Ms, cap: Ms) -> Ms:
        """``sequential``: ``load`` forwards of ``work`` ms in all, plus the contention term."""
        return work + self.contention_ms * load / cap**2

    def latency(self) -> F64:
        if self.sequential:  # the last of the load chunks due together waits for all load forwards
            return np.where(self.load > 0, self.one_by_one(self.work, self.load, self.cap), 0.0)
        lat = self.batched(self.base, self.tokens, self.load, self.cap)
        return np.where(self.load > 0, lat, 0.0)

    def with_session(self, s: SessionView) -> F64:
        """Every worker's latency if ``s`` joined it."""
        if self.sequential:
            return self.one_by_one(self.work + _own_ms(s), self.load + 1, self.cap)
        base = np.maximum(self.base, session_base_ms(s.compute_units, s.resolution, s.frames))
        return self.batched(base, np.maximum(self.tokens, s.prompt_tokens), self.load + 1, self.cap)

    def _idle_row(self, i: int) -> tuple[float, float, float]:
        asleep = [s for s in self.members[i] if not s.active]
        return (
            max((session_base_ms(s.compute_units, s.resolution, s.frames) for s in asleep), default=0.0),
            max((s.prompt_tokens for s in asleep), default=0),
            sum(_own_ms(s) for s in asleep),
        )

    @property
    def idle(self) -> F64:
        if self._idle is None:
            self._idle = np.array([self._idle_row(i) for i in range(len(self.ids))], dtype=np.float64)
            self._idle = self._idle.reshape(len(self.ids), 3)
        return self._idle

    def with_all_resident(self, s: SessionView) -> F64:
        """Every worker's latency if ``s`` joined it and every resident session were active."""
        n = self.resident + 1
        if self.sequential:
            return self.one_by_one(self.work + self.idle[:, 2] + _own_ms(s), n, self.cap)
        own = session_base_ms(s.compute_units, s.resolution, s.frames)
        base = np.maximum(np.maximum(self.base, self.idle[:, 0]), own)
        tokens = np.maximum(np.maximum(self.tokens, self.idle[:, 1]), s.prompt_tokens)
        return self.batched(base, tokens, n, self.cap)

    def admit_target(self, s: SessionView, target_ms: float) -> int:
        """``admit_ms``: the worker with a memory slot whose all-resident latency with ``s`` is lowest and
        within ``target_ms``; -1 if none."""
        # + one forward: a chunk due while another worker-iteration's forward runs waits for it too
        lat = np.where(self.room(), self.with_all_resident(s) + _own_ms(s), np.inf)
        if not lat.size:
            return -1
        t = int(np.argmin(lat + 1e-6 * self.resident))
        return t if lat[t] <= target_ms else -1

    def room(self) -> npt.NDArray[np.bool_]:
        """Workers a rebalancing move may target: accepting, with a free memory slot (see the module doc)."""
        return self.accepting & (self.resident < self.slots)

    def add(self, i: int, s: SessionView) -> None:
        self.members[i].append(s)
        self.refresh(i)

    def remove(self, i: int, s: SessionView) -> None:
        self.members[i] = [m for m in self.members[i] if m.id != s.id]
        self.refresh(i)

    def best_target(
        self, s: SessionView, exclude: int = -1, headroom: int = 0, memory_only: bool = False
    ) -> int:
        """The worker with room whose latency with ``s`` is lowest (ties: fewest resident, order)."""
        room = self.room() if memory_only else self.has_room
        if headroom > 0:  # keep a batch slot per idle resident session (up to headroom) for its resume
            room = room & (self.load < self.cap - np.minimum(headroom, self.resident - self.load))
        if exclude >= 0:
            room = room.copy()
            room[exclude] = False
        if not room.any():
            return -1
        score = np.where(room, self.with_session(s) + 1e-6 * self.resident, np.inf)
        return int(np.argmin(score))


def _evacuate_and_offload(
    c: _Cluster, p: PlacementParams, now: float, moves: list[Move], offload: list[str]
) -> list[SessionView]:
    """Steps 1–2; returns sessions that must be placed like new ones."""
    pending: list[SessionView] = []
    for i in range(len(c.ids)):
        accepting = bool(c.accepting[i])
        drop = []
        for s in c.members[i]:
            idle_long = not s.active and s.idle_since is not None and now - s.idle_since >= p.offload_after_s
            if p.offload_idle and (idle_long or (not s.active and not accepting)):
                drop.append(s)
                offload.append(s.id)
            elif not accepting:
                drop.append(s)
        if not drop:
            continue
        gone = {s.id for s in drop}
        c.members[i] = [m for m in c.members[i] if m.id not in gone]
        c.refresh(i)
        for s in sorted(drop, key=lambda m: m.id):
            if s.id in offload:
                continue
            t = c.best_target(s)
            if t < 0:
                pending.append(s)
            else:
                c.add(t, s)
                moves.append(Move(s.id, c.ids[i], c.ids[t], migration_ms(s), 0.0))
    offload.sort()
    return pending


def _own_ms(s: SessionView) -> float:
    """One chunk of ``s`` in a forward of its own, less the capacity term (sequential runtime)."""
    return session_base_ms(s.compute_units, s.resolution, s.frames) + 0.015 * s.prompt_tokens


def _without_ms(c: _Cluster, w: int, s: SessionView) -> float:
    """Worker ``w``'s latency once ``s`` leaves it."""
    if c.sequential:
        load = c.load[w] - 1
        return 0.0 if load <= 0 else float(c.one_by_one(c.work[w] - _own_ms(s), load, c.cap[w]))
    rest = [m for m in c.members[w] if m.id != s.id]
    return worker_chunk_latency_ms(rest, int(c.cap[w]), c.per_session_ms, c.contention_ms)


def _rebalance_round(c: _Cluster, p: PlacementParams, moved: set[str]) -> Move | None:
    lat = c.latency()
    if not lat.size:  # no worker up (e.g. every spot GPU evicted at once)
        return None
    w = int(np.argmax(lat))
    worst = float(lat[w])
    if worst <= 0:
        return None
    best: tuple[float, SessionView, int] | None = None
    room = c.room()
    room[w] = False
    if not room.any():
        return None
    movable = (m for m in c.members[w] if m.active and m.id not in moved)  # one move per session per call
    tried: set[tuple[float, int, float]] = set()
    for s in sorted(movable, key=lambda m: (m.state_mb, m.id)):
        # sessions alike in cost and migration time give the same gains: evaluate one of each kind
        kind = (session_base_ms(s.compute_units, s.resolution, s.frames), s.prompt_tokens, migration_ms(s))
        if kind in tried:
            continue
        tried.add(kind)
        after = np.maximum(c.with_session(s), _without_ms(c, w, s))
        gain = np.where(room, worst - after, -np.inf) - p.lam * kind[2]
        t = int(np.argmax(gain))
        if best is None or gain[t] > best[0]:
            best = (float(gain[t]), s, t)
    if best is None or best[0] <= p.gain_threshold_ms:
        return None
    best_gain, mover, t = best
    c.remove(w, mover)
    c.add(t, mover)
    return Move(mover.id, c.ids[w], c.ids[t], migration_ms(mover), best_gain)


def _place_pending(
    c: _Cluster, pending: Sequence[SessionView], params: PlacementParams
) -> tuple[list[tuple[str, str]], list[str]]:
    """Step 3: streaming sessions first (protect running streams), then new ones, each in id order."""
    place: list[tuple[str, str]] = []
    unplaced: list[str] = []
    full: set[bool] = set()  # classes (streaming or not) that found no worker: the rest of them will not
    over: set[float] = set()  # admit_ms: own forward times that found no worker within the target
    for s in sorted(pending, key=lambda m: (not m.streaming, m.id)):
        # which workers have room depends on the class, not the session, and placing only takes room
        t = -1
        if s.streaming not in full and c.has_room.any():
            t = c.best_target(s, headroom=0 if s.streaming else params.headroom)
        if t < 0 and s.streaming and params.overflow and s.streaming not in full:
            t = c.best_target(s, memory_only=True)
        if t < 0 and params.admit_ms > 0 and (kind := _own_ms(s)) not in over:
            t = c.admit_target(s, params.admit_ms)
            if t < 0:
                over.add(kind)
        if t < 0:
            full.add(s.streaming)
            unplaced.append(s.id)
        else:
            c.add(t, s)
            place.append((s.id, c.ids[t]))
    return place, unplaced


def plan_placement(
    sessions: Sequence[SessionView], workers: Sequence[WorkerView], now: float, params: PlacementParams
) -> PlacementDecision:
    """Decide placements, offloads and migrations for one snapshot of sessions and workers."""
    c = _Cluster(workers, sessions, params)
    moves: list[Move] = []
    offload: list[str] = []
    pending = _evacuate_and_offload(c, params, now, moves, offload)
    known = set(c.index)
    pending += [s for s in sessions if s.active and (s.worker is None or s.worker not in known)]
    place, unplaced = _place_pending(c, pending, params)
    # a session placed or evacuated by this call is not moved again by it: a decision names each session
    # at most once (the caller applies places and moves independently)
    moved = {m.session_id for m in moves} | {sid for sid, _ in place}
    for _ in range(params.max_rounds if params.rebalance else 0):
        move = _rebalance_round(c, params, moved)
        if move is None:
            break
        moves.append(move)
        moved.add(move.session_id)
    lat = c.latency()
    return PlacementDecision(
        tuple(place), tuple(moves), tuple(offload), tuple(unplaced), float(lat.max()) if lat.size else 0.0
    )


def resume_move(
    session: SessionView,
    sessions: Sequence[SessionView],
    workers: Sequence[WorkerView],
    params: PlacementParams,
) -> Move | None:
    """The rebalancing rule applied to one session as it resumes on its worker (idle → active).

    ``sessions`` holds it already active. It moves to the worker with room that would give the lower
    predicted bottleneck of the pair, if that gains more than ``gain_threshold_ms`` net of λ · migration ms;
    else it stays (None). Rebalancing rounds only look at the worst worker, so without this a resume
    onto a busy worker waits a control tick or more while its chunks queue there.
    """
    if not params.rebalance or session.worker is None:
        return None
    c = _Cluster(workers, sessions, params)
    w = c.index.get(session.worker)
    if w is None:
        return None
    worst = float(c.latency()[w])
    room = c.room()
    room[w] = False
    if not room.any():
        return None
    after = np.maximum(c.with_session(session), _without_ms(c, w, session))
    cost = migration_ms(session)
    gain = np.where(room, worst - after, -np.inf) - params.lam * cost
    t = int(np.argmax(gain))
    if float(gain[t]) <= params.gain_threshold_ms:
        return None
    return Move(session.id, c.ids[w], c.ids[t], cost, float(gain[t]))
