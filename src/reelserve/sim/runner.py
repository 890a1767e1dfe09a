"""Run a workload under several policies (and a sweep of budgets), and compare them.

``run_sim`` returns the content of ``summary.json``: one entry per policy name (the fields of
``metrics.summarize``) plus ``"_run"`` with the configuration, the frontier points and the
closed-loop-vs-static comparison. Wall-clock times live only under ``"_run"."timing"``, so two
runs with the same seed give identical policy entries.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from reelserve.core.errors import InvalidInput
from reelserve.sched.latency import Profile
from reelserve.sim.cluster import ClusterSpec
from reelserve.sim.jobs import run_jobs
from reelserve.sim.metrics import Metrics
from reelserve.sim.policies import resolve_policy
from reelserve.sim.streaming import run_streaming
from reelserve.sim.workload import Workload

__all__ = [
    "COMPARED",
    "RunOutput",
    "SimConfig",
    "compare",
    "compare_frontiers",
    "interp",
    "lower_envelope",
    "run_one",
    "run_sim",
]

#: the figures every policy is compared with the static baseline on (lower is better for each)
COMPARED = ("worst_chunk_latency_s", "p99_chunk_latency_s", "deadline_miss_rate")


@dataclass(frozen=True, slots=True)
class SimConfig:
    """One ``reelserve sim`` invocation after validation."""

    cluster: ClusterSpec  #: the cluster at the full budget
    policies: tuple[str, ...]  #: policy expressions, e.g. ("static", "closed-loop")
    seed: int  #: seeds the workload and spot evictions
    profile: Profile  #: model cost profile (job workloads)
    frontier_gpus: tuple[int, ...] = ()  #: budgets to sweep for policies without autoscaling
    frontier_per_gpu: tuple[float, ...] = ()  #: per-GPU targets to sweep for autoscaling policies


@dataclass(slots=True)
class RunOutput:
    """One simulated run: its summary and the raw measurements the report plots."""

    policy: str
    summary: dict[str, Any]
    metrics: Metrics
    wall_s: float


def run_one(workload: Workload, cluster: ClusterSpec, policy: str, seed: int, profile: Profile) -> RunOutput:
    config = resolve_policy(policy)
    start = time.perf_counter()
    if workload.kind == "streaming":
        summary, sworld = run_streaming(workload, cluster, config, seed)
        metrics = sworld.metrics
    else:
        summary, jworld = run_jobs(workload, cluster, config, profile)
        metrics = jworld.metrics
    return RunOutput(policy, summary, metrics, time.perf_counter() - start)


def _frontier(workload: Workload, cfg: SimConfig, done: dict[str, RunOutput]) -> list[dict[str, Any]]:
    """Every policy at every knob of the sweep; ``done`` holds runs at the full budget (not redone)."""
    points: list[dict[str, Any]] = []
    for policy in cfg.policies:
        autoscaled = resolve_policy(policy).autoscale
        knobs: list[ClusterSpec] = []
        if autoscaled:
            knobs = [replace(cfg.cluster, per_gpu=c) for c in cfg.frontier_per_gpu]
        else:
            knobs = [
                replace(cfg.cluster, gpus=g, min_gpus=min(cfg.cluster.min_gpus, g)) for g in cfg.frontier_gpus
            ]
        for cluster in knobs:
            same = cluster == cfg.cluster and policy in done
            out = done[policy] if same else run_one(workload, cluster, policy, cfg.seed, cfg.profile)
            s = out.summary
            points.append(
                {
                    "policy": policy,
                    "gpus": cluster.gpus,
                    "per_gpu": cluster.per_gpu if autoscaled else None,
                    "cost_usd": s["cost_usd"],
                    "gpu_hours": s["gpu_hours"],
                    "worst_chunk_latency_s": s["worst_chunk_latency_s"],
                    "p99_chunk_latency_s": s["p99_chunk_latency_s"],
                    "deadline_miss_rate": s["deadline_miss_rate"],
                }
            )
    return points


def lower_envelope(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """(cost, latency) points -> the lower envelope: best latency reachable at or below each cost."""
    out: list[tuple[float, float]] = []
    for cost, lat in sorted(points):
        if not out or lat < out[-1][1]:
            out.append((cost, lat))
    return out


def interp(x: float, xs: list[float], ys: list[float]) -> float | None:
    if not xs or x < min(xs) or x > max(xs):
        return None
    return float(np.interp(x, xs, ys))


def compare(points: list[dict[str, Any]], ours: dict[str, Any], baseline: str, metric: str) -> dict[str, Any]:
    """Our run against the baseline's frontier: latency cut at equal cost, cost cut at equal latency.

    Equal cost: the baseline's best ``metric`` at our cost (interpolated along its lower envelope).
    Equal latency: the baseline's cost to reach our ``metric`` (interpolated the other way).
    ``None`` when our point lies outside the baseline's swept range.
    """
    env = lower_envelope([(p["cost_usd"], p[metric]) for p in points if p["policy"] == baseline])
    costs, lats = [c for c, _ in env], [latency for _, latency in env]
    base_lat = interp(ours["cost_usd"], costs, lats)
    base_cost = interp(ours[metric], lats[::-1], costs[::-1])
    return {
        "metric": metric,
        "baseline": baseline,
        "our_cost_usd": ours["cost_usd"],
        "our_latency_s": ours[metric],
        "baseline_latency_at_equal_cost_s": base_lat,
        "latency_reduction_at_equal_cost": None
        if base_lat is None
        else round(1 - ours[metric] / base_lat, 4),
        "baseline_cost_at_equal_latency_usd": base_cost,
        "cost_reduction_at_equal_latency": None
        if base_cost is None
        else round(1 - ours["cost_usd"] / base_cost, 4),
    }


def compare_frontiers(
    points: list[dict[str, Any]], policy: str, baseline: str, metric: str
) -> dict[str, Any]:
    """``policy``'s swept points against ``baseline``'s, both ways.

    Equal cost: the largest latency cut of any of our points against the baseline's envelope at that
    point's cost. Equal latency target: the target is the baseline's latency at its largest budget
    (its own operating point); compare the cheapest cost of ours that reaches it with the baseline's
    cost to reach it (interpolated along its envelope).
    """
    base = [p for p in points if p["policy"] == baseline]
    ours = [p for p in points if p["policy"] == policy]
    env = lower_envelope([(p["cost_usd"], p[metric]) for p in base])
    costs, lats = [c for c, _ in env], [latency for _, latency in env]
    best_cut: tuple[float, dict[str, Any], float] | None = None
    for p in ours:
        at = interp(p["cost_usd"], costs, lats)
        if at is not None and (best_cut is None or 1 - p[metric] / at > best_cut[0]):
            best_cut = (1 - p[metric] / at, p, at)
    full = max(base, key=lambda p: (p["gpus"], p["cost_usd"])) if base else None
    target = None if full is None else full[metric]
    reaching = [p for p in ours if target is not None and p[metric] <= target]
    cheapest = min(reaching, key=lambda p: p["cost_usd"]) if reaching else None
    base_cost = None if target is None else interp(target, lats[::-1], costs[::-1])
    return {
        "kind": "frontier",
        "metric": metric,
        "baseline": baseline,
        "latency_reduction_at_equal_cost": None if best_cut is None else round(best_cut[0], 4),
        "at_point": None
        if best_cut is None
        else {**best_cut[1], "baseline_latency_s": round(best_cut[2], 6)},
        "latency_target_s": target,
        "our_cost_at_target_usd": None if cheapest is None else cheapest["cost_usd"],
        "our_point_at_target": cheapest,
        "baseline_cost_at_target_usd": base_cost,
        "cost_reduction_at_equal_latency": None
        if cheapest is None or not base_cost
        else round(1 - cheapest["cost_usd"] / base_cost, 4),
    }


def run_sim(workload: Workload, cfg: SimConfig) -> tuple[dict[str, Any], list[RunOutput]]:
    """Every policy at the full budget, then the frontier sweep; returns summary.json and the runs."""
    if not cfg.policies:
        raise InvalidInput("give at least one policy, e.g. --policies static,closed-loop", param="policies")
    runs = [run_one(workload, cfg.cluster, p, cfg.seed, cfg.profile) for p in cfg.policies]
    summary: dict[str, Any] = {r.policy: r.summary for r in runs}
    sweep = cfg.frontier_gpus or cfg.frontier_per_gpu
    frontier = _frontier(workload, cfg, {r.policy: r for r in runs}) if sweep else []
    comparisons = []
    if frontier and "static" in cfg.policies:
        for r in runs:
            if r.policy != "static":
                for metric in COMPARED:
                    main = {"kind": "main", **compare(frontier, r.summary, "static", metric)}
                    comparisons.append({"policy": r.policy, **main})
                    comparisons.append(
                        {"policy": r.policy, **compare_frontiers(frontier, r.policy, "static", metric)}
                    )
    summary["_run"] = {
        "workload": workload.name,
        "kind": workload.kind,
        "sessions": len(workload.sessions),
        "jobs": len(workload.jobs),
        "horizon_s": workload.horizon_s,
        "seed": cfg.seed,
        "cluster": asdict(cfg.cluster),
        "profile": asdict(cfg.profile),
        "frontier": frontier,
        "comparison": comparisons,
        "timing": {"wall_s": {r.policy: round(r.wall_s, 3) for r in runs}},
    }
    return summary, runs
