"""``sched.resume_move`` applied live: a session resuming on a worker busy with another active session
moves to the idle worker at once (the control loop is off here, so only the driver's rule can move it)."""

from __future__ import annotations

import asyncio

from reelserve.engine.model.pool import ModelPool
from reelserve.engine.sessions.driver import migrate
from reelserve.engine.sessions.manager import ManagerConfig, SessionManager
from reelserve.engine.sessions.session import Session
from reelserve.engine.sessions.spec import SessionSpec
from reelserve.sched.placement import PlacementParams
from tests.engine.conftest import Server, wait_for


async def _chunks(s: Session, n: int) -> None:
    while len(s.records) < n:
        await asyncio.sleep(0.02)


async def _scenario(pool: ModelPool) -> tuple[str, str, Session, Session]:
    cfg = ManagerConfig(control_interval_s=3600.0, placement=PlacementParams(offload_idle=False))
    mgr = SessionManager(cfg, pool=pool)
    await mgr.start()
    spec = SessionSpec("a kite", width=32, height=32, chunk_frames=4, steps=2, max_chunks=10_000)
    a, b = await mgr.create(spec), await mgr.create(spec)
    try:
        for s in (a, b):  # one chunk each, then idle and resident
            mgr.begin(s)
            await asyncio.wait_for(_chunks(s, 1), 120)
            mgr.pause(s)
        w0 = sorted(pool.live())[0]
        w1 = sorted(pool.live())[1]
        for s in (a, b):  # both on w0
            async with s.lock:
                if s.worker != w0:
                    await migrate(mgr, s, w0)
        moves_before = a.migrations
        mgr.resume(b)  # w0 has only b active: no gain, it stays
        await asyncio.wait_for(_chunks(b, len(b.records) + 2), 120)
        assert b.worker == w0 and b.resume_moves == 0
        mgr.resume(a)  # w0 would batch a with b; w1 is empty: a moves at its resume
        await asyncio.wait_for(_chunks(a, len(a.records) + 1), 120)
        assert a.resume_moves == 1 and a.migrations == moves_before + 1
        return w0, w1, a, b
    finally:
        for s in (a, b):
            await mgr.close(s)
        await mgr.stop()


def test_a_session_resuming_on_a_busy_worker_moves_to_the_idle_one(server: Server) -> None:
    pool = server.manager.pool
    wait_for(lambda: len(pool.live()) == 2, 240, "two model workers")
    w0, w1, a, b = server.run(_scenario(pool), timeout=300)
    assert a.records[-1].worker == w1 and b.records[-1].worker == w0
