"""Simulator and scheduler benchmarks: rebalancer decision time, simulation speed, planners.

    .venv/bin/python -m benchmarks.sim_bench            # everything (a few minutes on 2 cores)
    .venv/bin/python -m benchmarks.sim_bench --quick    # decision times and planners only

Prints one line per figure; ``--json PATH`` also writes them as JSON.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from dataclasses import replace
from typing import Any

from reelserve.sched import PlacementParams, SessionView, WorkerView, plan_placement
from reelserve.sched.provision import (
    GpuType,
    PlanWorkload,
    Stage,
    Variant,
    ad_variants,
    evaluate,
    plan_greedy,
    plan_milp,
    podcast,
)
from reelserve.sim.cluster import ClusterSpec
from reelserve.sim.policies import resolve_policy
from reelserve.sim.streaming import run_streaming
from reelserve.sim.workload import StreamingShape, WorkloadParams, build_workload


def cluster_views(gpus: int, per_gpu: float, seed: int) -> tuple[list[SessionView], list[WorkerView]]:
    """A skewed snapshot: ``per_gpu`` sessions per GPU on average, some GPUs twice as loaded, 20% idle."""
    rng = random.Random(seed)
    workers = [WorkerView(f"g{i:04d}", capacity=8, memory_slots=16) for i in range(gpus)]
    sessions = []
    for i in range(int(gpus * per_gpu)):
        w = workers[min(gpus - 1, int(rng.random() ** 1.6 * gpus))]  # skew toward low ids
        active = rng.random() > 0.2
        sessions.append(
            SessionView(
                f"s{i:05d}",
                w.id,
                active,
                state_mb=rng.choice([128.0, 256.0, 512.0]),
                resolution=rng.choice(["480p", "720p"]),
                idle_since=None if active else 0.0,
            )
        )
    return sessions, workers


#: the closed loop with ``slo`` at a crowded moment: no offload, runtime-aware, admission within 2.6 s
SLO_PARAMS = PlacementParams(offload_idle=False, headroom=1, sequential=True, admit_ms=2600.0)


def decision_time_ms(
    gpus: int,
    repeats: int = 30,
    per_gpu: float = 4.0,
    params: PlacementParams = PlacementParams(offload_idle=True),
    arrivals: float = 0.0,
) -> dict[str, Any]:
    """One control decision (offload + place + 3 rebalancing rounds) on skewed snapshots.

    ``arrivals`` new sessions per GPU wait to be placed (with ``per_gpu`` near the batch capacity they
    take the admission path). CPU time is the figure to compare (the process's own time); wall time is
    also reported because on a shared machine it includes waiting for a core.
    """
    cpu, wall, moves = [], [], []
    for r in range(repeats):
        sessions, workers = cluster_views(gpus, per_gpu, seed=r)
        sessions += [SessionView(f"n{i:05d}", None) for i in range(int(gpus * arrivals))]
        c0, w0 = time.process_time(), time.perf_counter()
        decision = plan_placement(sessions, workers, 10.0, params)
        cpu.append((time.process_time() - c0) * 1000)
        wall.append((time.perf_counter() - w0) * 1000)
        moves.append(len(decision.moves))
    return {
        "gpus": gpus,
        "cpu_p50_ms": round(statistics.median(cpu), 3),
        "cpu_max_ms": round(max(cpu), 3),
        "wall_p50_ms": round(statistics.median(wall), 3),
        "mean_moves": round(statistics.mean(moves), 2),
    }


def sim_speed(gpus: int, sessions: int, hours: float, policy: str) -> dict[str, Any]:
    wl = build_workload(
        "streaming", WorkloadParams(streaming=StreamingShape(sessions=sessions, hours=hours)), 1
    )
    cluster = ClusterSpec(gpus=gpus)
    if resolve_policy(policy).slo:  # the sweep of record's middle point: c = 7, 2.6 s, TTFF 1 s
        cluster = replace(cluster, per_gpu=7.0, chunk_target_ms=2600.0, ttff_target_s=1.0)
    start, c0 = time.perf_counter(), time.process_time()
    summary, _ = run_streaming(wl, cluster, resolve_policy(policy), 1)
    wall = time.perf_counter() - start
    return {
        "cpu_s": round(time.process_time() - c0, 2),
        "policy": policy,
        "gpus": gpus,
        "sessions": sessions,
        "hours": hours,
        "wall_s": round(wall, 2),
        "events": int(summary["events"]),
        "chunks": summary["chunks"],
    }


def mixed_catalog_workload() -> PlanWorkload:
    cat = {"A": GpuType("A", 1.0, 1.0, 0.4, 80), "B": GpuType("B", 2.5, 3.0, 1.0, 80)}
    stage = Stage("g", 13, (Variant("v", 1, 100.0),))
    return PlanWorkload("tiny-13x100s-by-500s", (stage,), 0.0, 1, "cost_deadline", 500.0, None, ("A", "B"),
                        True, 0.5, 16, 4, 60.0, cat)  # fmt: skip


def _greedy_ms(w: PlanWorkload, repeats: int) -> tuple[Any, float, float, float]:
    """The greedy's plan and its CPU time p50 / max and wall p50 over ``repeats`` runs (ms)."""
    cpu, wall = [], []
    g = None
    for _ in range(repeats):
        c0, w0 = time.process_time(), time.perf_counter()
        g = plan_greedy(w)
        cpu.append((time.process_time() - c0) * 1000)
        wall.append((time.perf_counter() - w0) * 1000)
    return g, statistics.median(cpu), max(cpu), statistics.median(wall)


def planners(repeats: int = 7) -> list[dict[str, Any]]:
    rows = []
    for w in (
        podcast(10, "low", 5.0),
        podcast(10, "medium", 5.0),
        podcast(10, "high", None),
        ad_variants(5_000, 12.0),
        ad_variants(10_000, 12.0),
        mixed_catalog_workload(),
    ):
        g, g_cpu, g_cpu_max, g_wall = _greedy_ms(w, repeats)
        start, c0 = time.perf_counter(), time.process_time()
        m = plan_milp(w, time_limit_s=20.0)
        m_ms = (time.perf_counter() - start) * 1000
        m_cpu_ms = (time.process_time() - c0) * 1000
        ge = evaluate(w, g.stages)
        me = evaluate(w, m.stages) if m.stages else None
        rows.append(
            {
                "workload": w.name,
                "objective": w.objective,
                "greedy_cpu_p50_ms": round(g_cpu, 1),
                "greedy_cpu_max_ms": round(g_cpu_max, 1),
                "greedy_wall_p50_ms": round(g_wall, 1),
                "greedy_cost_usd": round(ge.cost_usd, 3),
                "greedy_ttff_s": round(ge.ttff_s, 2),
                "milp_ms": round(m_ms, 1),
                "milp_cpu_ms": round(m_cpu_ms, 1),
                "milp_solves": m.solves,
                "milp_cost_usd": None if me is None else round(me.cost_usd, 3),
                "milp_ttff_s": None if me is None else round(me.ttff_s, 2),
                "milp_gap": m.mip_gap,
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="skip the one-hour simulations")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    report: dict[str, Any] = {"rebalancer": [], "simulator": [], "planners": []}
    for case in ("closed loop", "slo: 7/GPU + 1 arrival/GPU"):
        for gpus in (4, 64, 256):
            if case == "closed loop":
                row = decision_time_ms(gpus)
            else:
                row = decision_time_ms(gpus, per_gpu=7.0, params=SLO_PARAMS, arrivals=1.0)
            row["case"] = case
            label = "" if case == "closed loop" else f" ({case})"
            report["rebalancer"].append(row)
            print(
                f"rebalancer decision at {gpus:>4} GPUs{label}: CPU p50 {row['cpu_p50_ms']:.2f} ms "
                f"(max {row['cpu_max_ms']:.2f}), wall p50 {row['wall_p50_ms']:.2f} ms, "
                f"{row['mean_moves']} moves"
            )
    for row in planners():
        report["planners"].append(row)
        print(
            f"planner {row['workload']}: greedy ${row['greedy_cost_usd']} "
            f"in {row['greedy_cpu_p50_ms']} ms CPU "
            f"(max {row['greedy_cpu_max_ms']}, wall p50 {row['greedy_wall_p50_ms']}); "
            f"MILP ${row['milp_cost_usd']} in {row['milp_ms']} ms wall, {row['milp_cpu_ms']} ms CPU, "
            f"{row['milp_solves']} solves (gap {row['milp_gap']})"
        )
    if not args.quick:
        for policy in ("static", "closed-loop", "closed-loop+slo"):
            row = sim_speed(64, 5000, 1.0, policy)
            report["simulator"].append(row)
            print(
                f"simulated 1 h, 64 GPUs, 5000 sessions, {policy}: {row['cpu_s']} s CPU, "
                f"{row['wall_s']} s wall ({row['events']} events)"
            )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(report, fh, indent=2)


if __name__ == "__main__":
    main()
