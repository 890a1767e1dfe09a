"""Simulator fidelity: one small streaming trace through the live engine and through the simulator.

Each round, back to back so both sides see the same minute's machine:

1. profile tiny-wan on this machine's CPU (1 torch thread, as the engine's worker) with the code behind
   ``reelserve profile --chunk-path`` (``engine.model.chunk_profile``): the engine's own per-chunk path
   — its ``Batcher`` (admit, ``step_many``, batched decode), the worker's state export and pickled
   reply, the reply over a pipe to the driver's event loop, the fMP4 ``encode_segment``, the next
   request — as samples, at the trace's chunk size, running sets 1..max_batch; plus the bare
   ``measure_point`` rows (``reelserve profile`` without ``--chunk-path``) for comparison;
2. run the trace on the live engine: a ``SessionManager`` with one CPU model worker (max batch 4, no
   rebalancing, no offload), sessions created and subscribed at their arrival times through its Python
   API (no HTTP), each asking for its next chunk as soon as the last is delivered; latency = chunk
   requested → segment encoded. The worker's batcher reports its own step and decode times (``stats``);
3. profile again; the simulator draws from the samples of both profiles together;
4. run the same trace through the simulator, ``--sim-seeds`` times: one worker, ``static+continuous``
   (step-level continuous batching with the engine's own ``sched.continuous.plan_step``); every step,
   decode, admission, export, reply, encode and request time drawn from the measured samples with the
   run's seeded generator. Nothing of the engine run feeds the simulator. For comparison: the same
   policy on the bare profile's medians, the chunk-level model (``static+coalescing``), and a
   *diagnostic* (not a calibration): the chunk-path cost scaled so the simulated worker is as busy as
   the engine's was — how far the machine's speed under the engine run moved from the profile's;
5. compare per-chunk latency p50 and p99 (first chunks excluded on both sides: they are TTFF); with
   several simulator seeds, the median of their percentiles.

A round is "steady" (``is_steady``) when the profile after the engine run is within ±15% of the one
before and the engine's model worker had its core (CPU ≥ 85% of its busy wall time). The goal is
agreement within 10% at p50 and p99. Prints one JSON line per round, then the median ratios.

    .venv/bin/python -m benchmarks.sim_fidelity [--repeats 3] [--sessions 4] [--chunks 16]
        [--stagger-s 1] [--size 64x64] [--chunk-frames 8] [--steps 2] [--path-rounds 8]
        [--sim-seeds 5] [--json OUT]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from dataclasses import replace
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from reelserve.sim.cluster import ClusterSpec
from reelserve.sim.entities.session import Segment
from reelserve.sim.entities.session import SessionSpec as SimSpec
from reelserve.sim.policies import resolve_policy
from reelserve.sim.streaming import ChunkCost, run_streaming
from reelserve.sim.workload import Workload

TraceRow = tuple[str, float, int]  #: session id, arrival (s), chunks
COLUMNS = ("continuous_chunk_path", "continuous_bare_profile", "chunk_level", "diagnostic_busy_scale")


def make_trace(sessions: int, chunks: int, stagger_s: float) -> list[TraceRow]:
    """Staggered arrivals, growing lengths: the batch on the worker grows 1 → n and shrinks back to 1."""
    return [(f"s{i}", i * stagger_s, chunks + 4 * i) for i in range(sessions)]


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q * 100, method="linear"))


class Profiler:
    """tiny-wan loaded once in this process (1 torch thread, as the engine's worker): measure on demand."""

    def __init__(self, args: argparse.Namespace) -> None:
        import torch

        from reelserve.models.registry import load_model

        torch.set_num_threads(1)
        self.args = args
        self.model = load_model("tiny-wan", device="cpu")

    def measure(self, repeats: int = 5) -> list[dict[str, Any]]:
        """The rows ``reelserve profile`` writes, at the trace's chunk size, batch 1..max_batch."""
        from reelserve.models.profile import Point, measure_point

        a = self.args
        points = [Point(a.width, a.height, a.chunk_frames + 1, b) for b in range(1, a.max_batch + 1)]
        with tempfile.TemporaryDirectory(prefix="fidelity-") as tmp:
            measure_point(self.model, points[0], steps=2, repeats=1, workdir=Path(tmp))  # warm-up
            return [
                measure_point(self.model, p, steps=max(2, a.steps), repeats=repeats, workdir=Path(tmp))
                for p in points
            ]

    def measure_path(self) -> dict[str, Any]:
        """What ``reelserve profile --chunk-path`` writes: samples of the engine's per-chunk path."""
        from reelserve.engine.model.chunk_profile import measure_chunk_path
        from reelserve.engine.sessions.spec import SessionSpec

        a = self.args
        spec = SessionSpec("fidelity profile", width=a.width, height=a.height, chunk_frames=a.chunk_frames,
                           steps=a.steps)  # fmt: skip
        return measure_chunk_path(self.model, spec, max_batch=a.max_batch, rounds=a.path_rounds)


def mean_rows(*runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Row-wise mean of the timing fields of several measurements of the same points."""
    out = []
    for rows in zip(*runs, strict=True):
        row = dict(rows[0])
        for key in ("step_ms", "vae_decode_ms", "encode_ms", "text_ms"):
            row[key] = round(float(np.mean([r[key] for r in rows])), 3)
        out.append(row)
    return out


async def _engine(args: argparse.Namespace, trace: list[TraceRow]) -> dict[str, Any]:
    from reelserve.engine.model.pool import PoolConfig
    from reelserve.engine.sessions.manager import ManagerConfig, SessionManager
    from reelserve.engine.sessions.session import SessionStatus
    from reelserve.engine.sessions.spec import SessionSpec
    from reelserve.sched.placement import PlacementParams

    cfg = ManagerConfig(
        pool=PoolConfig(devices=("cpu",), max_batch=args.max_batch, max_wait_s=args.max_wait_s, threads=1),
        placement=PlacementParams(rebalance=False, offload_after_s=3600.0),
    )
    mgr = SessionManager(cfg)
    await mgr.start()
    try:
        (client,) = mgr.pool.workers.values()
        pid = int((await asyncio.wrap_future(client.call("stats")))["pid"])
        cpu0 = _proc_cpu_s(pid)
        t0, t0_wall = time.monotonic(), time.time()
        sessions: list[Any] = []
        for sid, arrival, chunks in trace:
            await asyncio.sleep(max(0.0, t0 + arrival - time.monotonic()))
            spec = SessionSpec(
                prompt=f"fidelity session {sid}", width=args.width, height=args.height,
                chunk_frames=args.chunk_frames, max_chunks=chunks, steps=args.steps, seed=len(sessions),
                deadline_ms=args.deadline_ms,
            )  # fmt: skip
            s = await mgr.create(spec)
            mgr.subscribe(s)
            sessions.append(s)
        while any(not s.status.terminal for s in sessions):
            await asyncio.sleep(0.05)
        assert all(s.status is SessionStatus.FINISHED for s in sessions), [s.status for s in sessions]
        records = [r for s in sessions for r in s.records]
        worker_cpu = _proc_cpu_s(pid) - cpu0
        # the batcher's own step timings (per running-set size: steps, mean wall and CPU ms)
        stats = await asyncio.wrap_future(client.call("stats"))
        worker_steps = {"step_ms": stats["step_ms"], "decode_ms": stats["decode_ms"]}
        gaps = [b.requested - a.encoded for s in sessions for a, b in pairwise(s.records)]
    finally:
        await mgr.stop()
    return {
        "latency_s": [r.latency_ms / 1000.0 for r in records if r.index > 0],
        "ttff_s": [r.latency_ms / 1000.0 for r in records if r.index == 0],
        "mean_batch": round(float(np.mean([r.batch_size for r in records if r.index > 0])), 2),
        "busy_s": _union_s([(r.started, r.generated) for r in records]),
        "worker_cpu_s": worker_cpu,
        # where the engine's time goes (ms): waiting to join a batch, steps + decode (+ state export),
        # and the way back (reply, encode on the API process's threads)
        "parts_ms": {
            name: {q: round(1000.0 * pct([f(r) for r in records if r.index > 0], q), 1) for q in (0.5, 0.99)}
            for name, f in (
                ("queue", lambda r: r.started - r.requested),
                ("model", lambda r: r.generated - r.started),
                ("deliver", lambda r: r.encoded - r.generated),
            )
        },
        "by_batch": [(r.batch_size, r.latency_ms / 1000.0) for r in records if r.index > 0],
        "chunks": len(records),
        "worker_steps": worker_steps,
        # every chunk's timeline (s from the first arrival): session, index, requested, started,
        # generated, encoded, batch — metadata only, for offline comparison with the simulator
        "timeline": [_timeline(r, t0_wall) for r in records],
        # encoded → next requested (the driver's own bookkeeping; not part of any chunk's latency)
        "gap_ms": {q: round(1000.0 * pct(gaps, q), 2) for q in (0.5, 0.99)},
    }


def _timeline(r: Any, t0: float) -> tuple[Any, ...]:
    """(session, index, requested, started, generated, encoded, batch), times in s from ``t0``."""
    times = (r.requested, r.started, r.generated, r.encoded)
    return (r.session_id[-6:], r.index, *(round(t - t0, 4) for t in times), r.batch_size)


def _proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _union_s(spans: list[tuple[float, float]]) -> float:
    """Length of the union of [start, end] spans: the time the worker had a chunk in progress."""
    total, reach = 0.0, -np.inf
    for start, end in sorted(spans):
        if end > reach:
            total += end - max(start, reach)
            reach = end
    return total


def pooled_path(*paths: dict[str, Any]) -> dict[str, Any]:
    """Several chunk-path profiles of the same point as one: their samples together."""
    out = dict(paths[0])
    for key, value in paths[0].items():
        if isinstance(value, list):
            out[key] = [v for p in paths for v in p[key]]
        elif isinstance(value, dict):
            out[key] = {b: [v for p in paths for v in p[key][b]] for b in value}
    return out


def path_medians(path: dict[str, Any]) -> dict[str, Any]:
    """The medians (ms) of a chunk-path profile, for the log."""
    out: dict[str, Any] = {}
    for key, value in path.items():
        if isinstance(value, list):
            out[key] = round(pct(value, 0.5), 2)
        elif isinstance(value, dict):
            out[key] = {b: round(pct(v, 0.5), 2) for b, v in value.items()}
    return out


def simulate(
    args: argparse.Namespace, trace: list[TraceRow], cost: ChunkCost, policy: str, seed: int = 0
) -> dict[str, Any]:
    specs = tuple(
        SimSpec(sid, arrival, (Segment(chunks, 0.0),), frames=args.chunk_frames, state_mb=0.01)
        for sid, arrival, chunks in trace
    )
    # a tiny period: engine sessions ask for their next chunk as soon as the last one is delivered
    workload = Workload("fidelity", specs, (), period_s=1e-3, horizon_s=3600.0)
    cluster = ClusterSpec(
        gpus=1, gpu="B300", capacity=args.max_batch, memory_slots=16, startup_s=0.0, warmup_s=0.0,
        coalesce_wait_s=args.max_wait_s, deadline_ms=args.deadline_ms,
    )  # fmt: skip
    summary, world = run_streaming(workload, cluster, resolve_policy(policy), seed=seed, cost=cost)
    return {
        "latency_s": list(world.metrics.chunk_latency_s),
        "ttff_s": list(world.metrics.ttff_s),
        "chunks": summary["chunks"],
        "mean_batch": summary["mean_chunk_batch"],
        "by_batch": list(zip(world.metrics.chunk_batch, world.metrics.chunk_latency_s, strict=True)),
        "busy_s": world.metrics.busy_gpu_s,
    }


def by_batch(pairs: list[tuple[int, float]]) -> dict[int, float]:
    """Median latency (ms) of the chunks whose largest batch was b."""
    out = {}
    for b in sorted({b for b, _ in pairs}):
        out[b] = round(1000.0 * pct([lat for k, lat in pairs if k == b], 0.5), 1)
    return out


def compare(engine: dict[str, Any], sims: list[dict[str, Any]]) -> dict[str, Any]:
    """Sim over engine at p50 and p99; with several seeded sim runs, the median of their percentiles."""
    out: dict[str, Any] = {}
    for name, q in (("p50", 0.5), ("p99", 0.99)):
        e = pct(engine["latency_s"], q)
        s = float(np.median([pct(sim["latency_s"], q) for sim in sims]))
        out[name] = {"engine_s": round(e, 4), "sim_s": round(s, 4), "ratio": round(s / e, 3)}
    out["mean_batch"] = {
        "engine": engine["mean_batch"],
        "sim": round(float(np.mean([sim["mean_batch"] for sim in sims])), 2),
    }
    out["sim_p50_ms_by_batch"] = by_batch(sims[0]["by_batch"])
    out["within_10pct"] = all(abs(out[k]["ratio"] - 1.0) <= 0.10 for k in ("p50", "p99"))
    return out


def one_round(args: argparse.Namespace, trace: list[TraceRow], profiler: Profiler) -> dict[str, Any]:
    """Profile, run the engine, profile again (the same minute's load on both sides); simulate; compare."""
    load0 = os.getloadavg()[0]
    before, path0 = profiler.measure(), profiler.measure_path()
    cpu0 = time.process_time()
    engine = asyncio.run(_engine(args, trace))
    load1 = os.getloadavg()[0]
    after, path1 = profiler.measure(), profiler.measure_path()
    rows = mean_rows(before, after)
    bare = ChunkCost.from_measurements(rows, args.width, args.height, args.chunk_frames + 1, args.steps)
    path = pooled_path(path0, path1)
    measured = ChunkCost.from_chunk_path(path)
    seeds = range(args.sim_seeds)
    # the simulator's prediction: step-level continuous batching on the engine's chunk path as
    # profiled (every step, decode, export, reply, encode and request drawn from its samples)
    step = [simulate(args, trace, measured, "static+continuous", seed) for seed in seeds]
    # a diagnostic, not a calibration (it reads the engine run): one scalar that makes the simulated
    # worker as busy as the engine's worker was — how far the machine's speed under the engine run
    # moved from the profile's
    busy = engine["busy_s"] / float(np.mean([x["busy_s"] for x in step]))
    m0, m1 = path_medians(path0), path_medians(path1)
    return {
        "load_avg_1min": [round(load0, 2), round(load1, 2), round(os.getloadavg()[0], 2)],
        "bench_process_cpu_s": round(time.process_time() - cpu0, 2),
        "profile_drift": {  # after / before, batch 1: how much the machine's speed moved during the run
            "step_ms": round(m1["step_ms"]["1"] / m0["step_ms"]["1"], 3),
            "vae_decode_ms": round(m1["decode_ms"]["1"] / m0["decode_ms"]["1"], 3),
            "encode_ms": round(m1["encode_ms"] / m0["encode_ms"], 3),
        },
        "chunk_path_ms": path_medians(path),
        "chunk_path": path,  # the samples the simulator drew from (both profiles of the round)
        "forward_ms": {b: round(measured.forward_ms(b), 1) for b in range(1, args.max_batch + 1)},
        "engine": {
            "chunks": engine["chunks"],
            "p50_ms_by_batch": by_batch(engine["by_batch"]),
            "parts_ms": engine["parts_ms"],
            "worker_steps": engine["worker_steps"],
            "gap_ms": engine["gap_ms"],
            "timeline": engine["timeline"],
        },
        "worker": {  # the engine's worker in this run, against the simulated worker's busy time
            "busy_s": round(engine["busy_s"], 3),
            "cpu_s": round(engine["worker_cpu_s"], 3),
            "sim_busy_s": round(float(np.mean([x["busy_s"] for x in step])), 3),
        },
        "continuous_chunk_path": compare(engine, step),
        "continuous_bare_profile": compare(engine, [simulate(args, trace, bare, "static+continuous")]),
        "chunk_level": compare(engine, [simulate(args, trace, bare, "static+coalescing")]),
        "diagnostic_busy_scale": {
            "scale": round(busy, 3),
            **compare(
                engine,
                [simulate(args, trace, replace(measured, scale=busy), "static+continuous", s) for s in seeds],
            ),
        },
    }


def is_steady(x: dict[str, Any]) -> bool:
    """Declared before looking at any ratio: the chunk-path profile after the engine run is within ±15%
    of the one before (the machine's speed did not move), and the engine's model worker had its core
    (CPU time ≥ 85% of its busy wall time — on a loaded 2-core machine it gets half of one)."""
    drift_ok = all(0.85 <= v <= 1.15 for v in x["profile_drift"].values())
    return drift_ok and x["worker"]["cpu_s"] >= 0.85 * x["worker"]["busy_s"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=4)
    ap.add_argument("--chunks", type=int, default=16)
    ap.add_argument("--stagger-s", type=float, default=1.0)
    ap.add_argument("--size", default="64x64")
    ap.add_argument("--chunk-frames", type=int, default=8)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--max-batch", type=int, default=4)
    ap.add_argument("--deadline-ms", type=float, default=2000.0)
    ap.add_argument("--max-wait-s", type=float, default=0.01, help="the engine batcher's wait for company")
    ap.add_argument("--path-rounds", type=int, default=8, help="chunk-path profile rounds per batch size")
    ap.add_argument("--sim-seeds", type=int, default=5, help="seeded simulator runs per round (median)")
    ap.add_argument("--repeats", type=int, default=3, help="profile → engine → profile rounds")
    ap.add_argument("--json", default=None, help="write the figures here too")
    args = ap.parse_args()
    args.width, args.height = (int(v) for v in args.size.lower().split("x"))
    trace = make_trace(args.sessions, args.chunks, args.stagger_s)
    profiler = Profiler(args)
    rounds = []
    for r in range(args.repeats):
        rounds.append(one_round(args, trace, profiler))
        brief = {k: v for k, v in rounds[-1].items() if k != "chunk_path"}
        brief["engine"] = {k: v for k, v in brief["engine"].items() if k != "timeline"}
        print(f"round {r + 1}:", json.dumps(brief), flush=True)
    steady = [x for x in rounds if is_steady(x)]
    summary = {
        f"{name}{suffix}": {
            q: round(float(np.median([x[name][q]["ratio"] for x in group])), 3) for q in ("p50", "p99")
        }
        for name in COLUMNS
        for suffix, group in (("", rounds), (" (steady rounds)", steady))
        if group
    }
    result = {
        "trace": trace,
        "rounds_steady": f"{len(steady)}/{len(rounds)}",
        "median_ratio_sim_over_engine": summary,
        "rounds": rounds,
    }
    print(json.dumps({"rounds_steady": result["rounds_steady"], **summary}, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
