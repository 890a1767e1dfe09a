"""Placement's per-chunk latency: TurboServe's formula vs the engine's calibration vs measured, tiny-wan.

    nice -n 10 .venv/bin/python -m benchmarks.calibration_bench [--caps 1,2] [--chunks 16]

For each worker capacity (``max_batch``), one real model worker (tiny-wan on CPU, 32x32, 4 frames per
chunk, 2 steps) runs 1, 2, then 3 sessions at once (every one admitted), and one ``LatencyCalibration``
learns from all their chunks, as a ``SessionManager`` does. Printed per load n: the measured median
per-chunk latency (request to encoded segment, each session's first 3 chunks left out), the formula's
prediction (``sched.latency.chunk_latency_ms``), the calibrated one after every run, and the admission
prediction of a session joining n − 1 resident ones (all-resident latency + one forward of its own:
measured as the median at n + the median at 1), formula vs calibrated — the number
``--chunk-target-ms`` is compared with. Also printed: what ``calibrated_inputs`` hands placement for this
shape, in engine ms (the fitted base, ``per_session_ms``, ``contention_ms`` and the rebalancer's default
gain threshold, 8/11 of ``per_session_ms``), and that placement's own prediction (``plan_placement``'s
bottleneck with n sessions on the worker) equals the calibrated line.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics

from reelserve.engine.model.pool import ModelPool, PoolConfig
from reelserve.engine.sessions.calibration import (
    ChunkShape,
    LatencyCalibration,
    calibrated_inputs,
    load_term,
)
from reelserve.engine.sessions.manager import ManagerConfig, SessionManager
from reelserve.engine.sessions.session import Session
from reelserve.engine.sessions.spec import SessionSpec
from reelserve.sched.latency import chunk_latency_ms
from reelserve.sched.placement import PlacementParams, plan_placement
from reelserve.sched.views import SessionView, WorkerView

__all__ = ["main", "measure"]

SPEC = SessionSpec("a kite", width=32, height=32, chunk_frames=4, steps=2, max_chunks=100_000)
SKIP = 3  #: each session's first chunks (opening, load changing) are left out of the medians


async def _wait(s: Session, n: int) -> None:
    while len(s.records) < n:
        await asyncio.sleep(0.02)


async def _run(pool: ModelPool, n: int, chunks: int, calibration: LatencyCalibration) -> list[float]:
    """``n`` sessions stream at once on the pool's one worker; their steady chunk latencies, ms."""
    placement = PlacementParams(rebalance=False, offload_idle=False, admit_ms=600_000.0)
    mgr = SessionManager(
        ManagerConfig(pool=pool.cfg, placement=placement, control_interval_s=3600.0), pool=pool
    )
    mgr.latency = calibration
    await mgr.start()
    sessions = [await mgr.create(SPEC) for _ in range(n)]
    try:
        for s in sessions:
            mgr.begin(s)
        await asyncio.wait_for(asyncio.gather(*(_wait(s, SKIP + chunks) for s in sessions)), 600)
        return [r.latency_ms for s in sessions for r in s.records[SKIP : SKIP + chunks]]
    finally:
        for s in sessions:
            await mgr.close(s)
        await mgr.stop()


def placement_ms(shape: ChunkShape, calibration: LatencyCalibration, n: int, capacity: int) -> float:
    """``sched.placement``'s predicted chunk latency of ``n`` sessions of ``shape`` on one worker, with
    the inputs the engine hands it (``calibrated_inputs``)."""
    views = [SessionView(f"s{i}", "w0", resolution=shape.resolution, frames=shape.frames) for i in range(n)]
    still = PlacementParams(rebalance=False, offload_idle=False)
    views, params = calibrated_inputs(views, {v.id: shape for v in views}, still, calibration)
    return plan_placement(views, [WorkerView("w0", capacity, n)], 0.0, params).bottleneck_ms


def measure(
    capacity: int, chunks: int, loads: tuple[int, ...] = (1, 2, 3)
) -> list[tuple[int, float, float, float]]:
    """Per load: (n, measured median ms, formula ms, calibrated ms); printed with the admission figures."""
    pool = ModelPool(PoolConfig(devices=("cpu",), max_batch=capacity, max_wait_s=0.0, memory_slots=8))
    pool.start()
    cal = LatencyCalibration()
    measured: dict[int, float] = {}
    try:
        for n in loads:
            measured[n] = statistics.median(asyncio.run(_run(pool, n, chunks, cal)))
    finally:
        pool.stop(drain=False)
    shape = ChunkShape.of(SPEC)
    fit = cal.fit(shape)
    _, params = calibrated_inputs([], {"": shape}, PlacementParams(), cal)  # what placement is handed
    print(
        f"capacity {capacity}: fit {fit.source} over {fit.observations} chunks; placement gets base "
        f"{fit.base_ms:.1f} ms, per_session_ms {params.per_session_ms:.1f} (formula 55), contention_ms "
        f"{params.contention_ms:.1f} (18), min gain {params.gain_threshold_ms:.1f} ms (40)"
    )
    print("  n  measured  formula  calibrated  placement | admit: measured  formula  calibrated")
    rows = []
    for n in loads:
        formula = chunk_latency_ms(1.0, shape.resolution, shape.frames, 0, n, capacity)
        calibrated = fit.predict_ms(load_term(n, capacity))
        placed = placement_ms(shape, cal, n, capacity)
        admit_f = formula + shape.reference_base_ms
        admit_c = calibrated + fit.base_ms
        admit_m = measured[n] + measured[loads[0]]  # all n resident and active, plus a lone forward
        chunk = f"{measured[n]:8.1f}  {formula:7.1f}  {calibrated:10.1f}  {placed:9.1f}"
        print(f"  {n}  {chunk} | {admit_m:15.1f}  {admit_f:7.1f}  {admit_c:10.1f}")
        rows.append((n, measured[n], formula, calibrated))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--caps", default="1,2", help="worker capacities (max_batch), comma-separated")
    ap.add_argument("--chunks", type=int, default=16, help="steady chunks per session per load")
    args = ap.parse_args()
    for cap in (int(c) for c in args.caps.split(",")):
        measure(cap, args.chunks)


if __name__ == "__main__":
    main()
