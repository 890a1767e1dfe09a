"""The session driver places a new session with the manager's ``headroom``; a streaming one ignores it.

The real ``SessionManager`` and ``sched.placement``; the pool's two workers are views only (no
processes): w0 batches 2 and holds an active and an idle session, w1 is full with two active ones.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from reelserve.engine.model.pool import ModelPool, PoolConfig
from reelserve.engine.sessions.driver import _choose_worker
from reelserve.engine.sessions.manager import ManagerConfig, SessionManager
from reelserve.engine.sessions.session import Session, SessionStatus
from reelserve.engine.sessions.spec import SessionSpec
from reelserve.sched.placement import PlacementParams

SPEC = SessionSpec("a kite", width=32, height=32, chunk_frames=4)
RUNNING, PAUSED = SessionStatus.RUNNING, SessionStatus.PAUSED


class _UpPool(ModelPool):
    """Workers w0 and w1, up and accepting, without processes: placement reads their views alone."""

    def live(self) -> list[str]:
        return ["w0", "w1"]


def _session(sid: str, status: SessionStatus, worker: str | None, next_index: int) -> Session:
    return Session(sid, "default", SPEC, status=status, worker=worker, next_index=next_index)


@pytest.fixture()
def manager() -> Iterator[SessionManager]:
    cfg = ManagerConfig(pool=PoolConfig(max_batch=2), placement=PlacementParams(headroom=0))
    pool = _UpPool(cfg.pool)
    pool.accepting = {"w0": True, "w1": True}
    mgr = SessionManager(cfg, pool=pool)
    resident = [("a", RUNNING, "w0"), ("b", PAUSED, "w0"), ("c", RUNNING, "w1"), ("d", RUNNING, "w1")]
    for sid, status, worker in resident:
        mgr.sessions[sid] = _session(sid, status, worker, 3)
    yield mgr
    mgr.encode_pool.shutdown(wait=False)


def _place(mgr: SessionManager, s: Session, headroom: int) -> str | None:
    mgr.cfg = ManagerConfig(pool=mgr.cfg.pool, placement=PlacementParams(headroom=headroom))
    mgr.sessions[s.id] = s
    try:
        return _choose_worker(mgr, s)
    finally:
        del mgr.sessions[s.id]


def test_a_new_session_leaves_w0_s_last_slot_to_its_idle_session_with_headroom(
    manager: SessionManager,
) -> None:
    new = _session("new", RUNNING, None, 0)
    assert _place(manager, new, headroom=0) == "w0"
    assert _place(manager, new, headroom=1) is None  # it waits for room; b's resume needs none


def test_a_streaming_session_being_restored_is_not_held_back_by_headroom(manager: SessionManager) -> None:
    restored = _session("back", RUNNING, None, 5)  # offloaded after chunk 4, resumed
    assert _place(manager, restored, headroom=1) == "w0"
    assert manager.session_view(restored, worker=None, active=True).streaming
