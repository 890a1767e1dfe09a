"""``slo`` admission in the live engine: with a chunk target, a new session that finds no batch slot is
admitted past a worker's capacity while the predicted latency stays within the target, never beyond it,
and never past the worker's memory slots.

The boundary: the real driver's ``_choose_worker`` with the real ``SessionManager`` and
``sched.placement`` over one worker's view (no process). Live: a real model worker process (tiny-wan
on CPU, batches of 1) and real sessions; the second session streams beside the first only when the
target admits it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from reelserve.engine.model.pool import ModelPool, PoolConfig
from reelserve.engine.sessions.driver import _choose_worker
from reelserve.engine.sessions.manager import ManagerConfig, SessionManager
from reelserve.engine.sessions.session import Session, SessionStatus
from reelserve.engine.sessions.spec import SessionSpec
from reelserve.sched.latency import chunk_latency_ms, session_base_ms
from reelserve.sched.placement import PlacementParams

SPEC = SessionSpec("a kite", width=32, height=32, chunk_frames=4, steps=2, max_chunks=10_000)

#: The prediction ``admit_ms`` is held to when one streaming session of SPEC is resident on a worker
#: batching 1 and another joins: both active (2 of capacity 1), plus one forward of the newcomer's own
#: (a chunk due while another forward runs waits for it). SPEC is "360p" for the latency model.
PREDICTED_MS = chunk_latency_ms(1.0, "360p", 4, 0, load=2, capacity=1) + session_base_ms(1.0, "360p", 4)


class _OneWorker(ModelPool):
    """Worker w0, up and accepting, without a process: placement reads its view alone."""

    def live(self) -> list[str]:
        return ["w0"]


def _manager(admit_ms: float, memory_slots: int) -> SessionManager:
    """w0 batches 1 and streams session a; session "new" opened and waits for a worker."""
    pool_cfg = PoolConfig(max_batch=1, memory_slots=memory_slots)  # the views' capacity and memory slots
    pool = _OneWorker(pool_cfg)
    pool.accepting = {"w0": True}
    mgr = SessionManager(
        ManagerConfig(pool=pool_cfg, placement=PlacementParams(admit_ms=admit_ms)), pool=pool
    )
    running = SessionStatus.RUNNING
    mgr.sessions["a"] = Session("a", "default", SPEC, status=running, worker="w0", next_index=3)
    mgr.sessions["new"] = Session("new", "default", SPEC, status=running)
    return mgr


@pytest.mark.parametrize(
    ("admit_ms", "memory_slots", "placed"),
    [
        (0.0, 2, None),  # no target: w0's one batch slot is taken, it waits
        (PREDICTED_MS, 2, "w0"),  # within the target (the prediction equals it): admitted past capacity
        (PREDICTED_MS - 0.5, 2, None),  # just beyond it: waits
        (60_000.0, 1, None),  # any target: w0 holds no more sessions
    ],
)
def test_a_new_session_is_admitted_past_capacity_within_the_chunk_target_only(
    admit_ms: float, memory_slots: int, placed: str | None
) -> None:
    mgr = _manager(admit_ms, memory_slots)
    try:
        assert _choose_worker(mgr, mgr.sessions["new"]) == placed
    finally:
        mgr.encode_pool.shutdown(wait=False)


async def _chunks(s: Session, n: int) -> None:
    while len(s.records) < n:
        await asyncio.sleep(0.02)


async def _two_sessions(pool: ModelPool, admit_ms: float) -> tuple[int, int, str | None]:
    """a streams; b opens beside it. Returns (a's chunks after b opened, b's chunks, the worker b was
    placed on while a streamed 3 chunks, None if it waited)."""
    cfg = ManagerConfig(
        pool=pool.cfg,
        placement=PlacementParams(rebalance=False, offload_idle=False, admit_ms=admit_ms),
        control_interval_s=3600.0,
    )
    mgr = SessionManager(cfg, pool=pool)
    await mgr.start()
    a, b = await mgr.create(SPEC), await mgr.create(SPEC)
    try:
        mgr.begin(a)
        await asyncio.wait_for(_chunks(a, 1), 120)
        mgr.begin(b)
        before = len(a.records)
        await asyncio.wait_for(_chunks(a, before + 3), 120)
        placed = b.worker
        if placed is not None:  # admitted: it streams beside a on the one worker
            await asyncio.wait_for(_chunks(b, 2), 120)
        assert a.status is SessionStatus.RUNNING  # a kept streaming either way
        return len(a.records) - before, len(b.records), placed
    finally:
        for s in (a, b):
            await mgr.close(s)
        await mgr.stop()


@pytest.fixture(scope="module")
def one_worker() -> Iterator[ModelPool]:
    """One real model worker process that batches 1 (capacity 1)."""
    pool = ModelPool(PoolConfig(devices=("cpu",), max_batch=1, max_wait_s=0.0, memory_slots=4))
    pool.start()
    yield pool
    pool.stop(drain=False)


def test_a_second_session_streams_past_capacity_only_within_the_target(one_worker: ModelPool) -> None:
    (worker,) = one_worker.live()
    streamed_a, chunks_b, where = asyncio.run(_two_sessions(one_worker, PREDICTED_MS))
    assert chunks_b >= 2 and where == worker  # admitted onto the full worker
    streamed_a, chunks_b, where = asyncio.run(_two_sessions(one_worker, PREDICTED_MS - 0.5))
    assert streamed_a >= 3 and chunks_b == 0 and where is None  # waited while a streamed
