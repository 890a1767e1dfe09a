"""``slo`` admission in the live engine: with a chunk target, a new session that finds no batch slot is
admitted past a worker's capacity while the predicted latency stays within the target, never beyond it,
and never past the worker's memory slots.

The boundary: the real driver's ``_choose_worker`` with the real ``SessionManager`` and
``sched.placement`` over one worker's view (no process). Live: a real model worker process (tiny-wan
on CPU, batches of 1) and real sessions; the second session streams beside the first only when the
target admits it — by TurboServe's reference formula (calibration off), and by the latency the engine
measured on this worker (calibration on, ``calibration.py``).
"""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from reelserve.engine.model.pool import ModelPool, PoolConfig
from reelserve.engine.sessions.calibration import ChunkShape, LatencyCalibration, load_term
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


@dataclass
class _Run:
    streamed_a: int  #: a's chunks after b opened
    chunks_b: int  #: b's chunks
    placed: str | None  #: the worker b was on while a streamed 3 chunks; None = it waited
    latency_a_ms: list[float]  #: a's chunk latencies alone, its opening chunk left out
    latency_b_ms: list[float]  #: b's chunk latencies (both sessions active on the worker)
    calibration: LatencyCalibration  #: the manager's, after the run


async def _two_sessions(
    pool: ModelPool,
    admit_ms: float,
    calibrate: bool = True,
    calibration: LatencyCalibration | None = None,
    chunks: int = 4,
) -> _Run:
    """a streams ``chunks`` chunks alone; b opens beside it and, admitted, streams ``chunks`` too
    (``calibration``: what an earlier manager measured)."""
    cfg = ManagerConfig(
        pool=pool.cfg,
        placement=PlacementParams(rebalance=False, offload_idle=False, admit_ms=admit_ms),
        control_interval_s=3600.0,
        calibrate_placement=calibrate,
    )
    mgr = SessionManager(cfg, pool=pool)
    if calibration is not None:
        mgr.latency = calibration
    await mgr.start()
    a, b = await mgr.create(SPEC), await mgr.create(SPEC)
    try:
        mgr.begin(a)
        await asyncio.wait_for(_chunks(a, chunks), 120)
        mgr.begin(b)
        before = len(a.records)
        await asyncio.wait_for(_chunks(a, before + 3), 120)
        placed = b.worker
        if placed is not None:  # admitted: it streams beside a on the one worker
            await asyncio.wait_for(_chunks(b, chunks), 120)
        assert a.status is SessionStatus.RUNNING  # a kept streaming either way
        latency_a = [r.latency_ms for r in a.records[1:before]]
        latency_b = [r.latency_ms for r in b.records]
        return _Run(len(a.records) - before, len(b.records), placed, latency_a, latency_b, mgr.latency)
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


def test_a_second_session_streams_past_capacity_only_within_the_formulas_target(
    one_worker: ModelPool,
) -> None:
    (worker,) = one_worker.live()
    run = asyncio.run(_two_sessions(one_worker, PREDICTED_MS, calibrate=False))
    assert run.chunks_b >= 2 and run.placed == worker  # admitted onto the full worker
    run = asyncio.run(_two_sessions(one_worker, PREDICTED_MS - 0.5, calibrate=False))
    assert run.streamed_a >= 3 and run.chunks_b == 0 and run.placed is None  # waited while a streamed


def test_admission_past_capacity_predicts_the_latency_this_worker_measured(one_worker: ModelPool) -> None:
    """Calibrated on a's chunks alone and on both sessions' chunks, a target between the measured
    all-resident latency and the formula's prediction admits the second session (the formula refuses
    it); a target below the measured latency still refuses it."""
    (worker,) = one_worker.live()
    # any target: b streams too. Both loads' averages over 10 chunks each (opening chunks left out)
    learned_run = asyncio.run(_two_sessions(one_worker, 60_000.0, chunks=11))
    learned = learned_run.calibration
    shape = ChunkShape.of(SPEC)
    fit = learned.fit(shape)
    assert fit.source == "fit" and fit.observations >= 20  # a alone (load 1) and beside b (load 2)
    # the driver's admission test: both resident and active, plus one forward of b's own (the base)
    calibrated_ms = fit.predict_ms(load_term(2, 1)) + fit.base_ms
    measured_ms = statistics.median(learned_run.latency_b_ms) + statistics.median(learned_run.latency_a_ms)
    if measured_ms >= PREDICTED_MS:  # a CPU this busy leaves no target between the two
        pytest.skip(f"measured {measured_ms:.0f} ms for the formula's {PREDICTED_MS:.0f}: CPU too busy")
    assert calibrated_ms < PREDICTED_MS, f"calibrated {calibrated_ms:.0f} ms, measured {measured_ms:.0f} ms"
    between = (calibrated_ms + PREDICTED_MS) / 2

    today = asyncio.run(_two_sessions(one_worker, between, calibrate=False))
    assert today.chunks_b == 0 and today.placed is None  # the formula predicts past the target

    admitted = asyncio.run(_two_sessions(one_worker, between, calibration=learned))
    assert admitted.placed == worker and admitted.chunks_b >= 4
    assert statistics.median(admitted.latency_b_ms) < between  # the target is above the real latency

    below = min(admitted.latency_b_ms) * 0.9  # below every all-resident latency it measured
    refused = asyncio.run(_two_sessions(one_worker, below, calibration=learned))
    assert refused.streamed_a >= 3 and refused.chunks_b == 0 and refused.placed is None

    # GET /v1/engine's view of it: per shape, from measured chunks, in engine milliseconds
    status = SessionManager(ManagerConfig(pool=one_worker.cfg), pool=one_worker)
    status.latency = learned
    try:
        reported = status.describe()["latency_calibration"]
    finally:
        status.encode_pool.shutdown(wait=False)
    assert reported["on"] and reported["shapes"][str(shape)]["source"] == "fit"
    assert reported["shapes"][str(shape)]["predicted_ms"][1] < reported["shapes"][str(shape)]["formula_ms"][1]
