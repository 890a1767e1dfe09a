"""The control tick: the ``sched`` policies applied to live sessions and model workers.

Order (TurboServe): scale out, then place and rebalance; rebalance, then scale in. Decisions come
from ``sched.autoscale.autoscale`` and ``sched.placement.plan_placement``; this module only carries
them out:

- offload: idle sessions' state goes to host memory (``driver.offload``);
- moves of active sessions become ``pending_move``, done by the session's driver at its next chunk
  boundary; idle residents (e.g. on a draining worker) move at once under the session lock;
- scale out starts workers in a thread (the event loop keeps running); scale in marks the emptiest
  worker draining, placement evacuates it, and it stops (SIGTERM) once it holds no session;
- lost workers (SIGKILL, crash) are forgotten and replaced up to ``min_workers``; their sessions are
  resumed elsewhere by their drivers from their last checkpoint.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from reelserve.engine.sessions.driver import migrate, offload
from reelserve.sched.autoscale import autoscale
from reelserve.sched.placement import plan_placement

if TYPE_CHECKING:
    from reelserve.engine.sessions.manager import SessionManager

__all__ = ["ControlState", "control_tick"]


@dataclass
class ControlState:
    below_since: float | None = None  #: the autoscaler's hold timer (its input and output)
    scaling: bool = False  #: a scale-out is starting workers
    task: asyncio.Task[None] | None = None  #: the running scale-out
    last_action: str = "steady"


async def _scale_out(mgr: SessionManager, n: int) -> None:
    try:
        await asyncio.to_thread(mgr.pool.start, n)
    finally:
        mgr.control.scaling = False


def _autoscale(mgr: SessionManager, now: float) -> None:
    pool, c = mgr.pool, mgr.control
    live = [w for w in pool.live() if pool.accepting.get(w)]
    active = sum(s.active for s in mgr.sessions.values())
    d = autoscale(
        len(live), active, now, per_gpu=pool.cfg.max_batch, min_workers=pool.cfg.min_workers,
        max_workers=pool.max_workers, hold_s=mgr.cfg.hold_s, below_since=c.below_since,
    )  # fmt: skip
    c.below_since, c.last_action = d.below_since, d.action
    if d.workers > len(live) and not c.scaling:
        c.scaling = True
        c.task = asyncio.create_task(_scale_out(mgr, d.workers - len(live)))
    elif d.workers < len(live):
        load = {w: 0 for w in live}
        for s in mgr.sessions.values():
            if s.worker in load:
                load[s.worker] += 1
        for w in sorted(live, key=lambda w: (load[w], w))[: len(live) - d.workers]:
            pool.mark_draining(w)


async def _apply_moves(mgr: SessionManager, moves: list[tuple[str, str]]) -> None:
    for sid, target in moves:
        s = mgr.sessions[sid]
        if s.active:
            s.pending_move = target
            continue
        async with s.lock:
            if s.worker is not None and not s.active and target in mgr.pool.workers:
                await migrate(mgr, s, target)


async def _retire_drained(mgr: SessionManager) -> None:
    held = {s.worker for s in mgr.sessions.values() if s.worker is not None}
    for w in [w for w in mgr.pool.live() if not mgr.pool.accepting.get(w) and w not in held]:
        await asyncio.to_thread(mgr.pool.remove, w, True)


def _replace_lost(mgr: SessionManager) -> None:
    pool, c = mgr.pool, mgr.control
    pool.forget_lost()
    need = pool.cfg.min_workers - pool.size()  # workers still loading their model count too
    if need > 0 and not c.scaling:
        c.scaling = True
        c.task = asyncio.create_task(_scale_out(mgr, need))


async def control_tick(mgr: SessionManager) -> None:
    now = time.monotonic()
    _replace_lost(mgr)
    if mgr.cfg.autoscale:
        _autoscale(mgr, now)
    views, params = mgr.placement_inputs(mgr.session_views(), mgr.cfg.placement)  # measured latency
    decision = plan_placement(views, mgr.pool.views(), now, params)
    for sid in decision.offload:
        await offload(mgr, mgr.sessions[sid])
    await _apply_moves(mgr, [(m.session_id, m.target) for m in decision.moves])
    await _retire_drained(mgr)
    mgr.purge(time.time())
    mgr.metrics.refresh()
