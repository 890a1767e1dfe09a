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

from reelserve.core.errors import InvalidInput
from reelserve.sched.latency import Profile
from reelserve.sim.cluster import ClusterSpec
from reelserve.sim.compare import compare, compare_frontiers, interp, lower_envelope
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
    "compare_runs",
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
    frontier_budgets: tuple[int, ...] = ()  #: more budgets (max GPUs) for autoscaled policies, at per_gpu
    frontier_chunk_targets: tuple[float, ...] = ()  #: ``slo``: chunk targets (ms) at each per-GPU target


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
        config = resolve_policy(policy)
        autoscaled = config.autoscale
        knobs: list[ClusterSpec] = []
        if autoscaled:
            knobs = [replace(cfg.cluster, per_gpu=c) for c in cfg.frontier_per_gpu]
            if config.slo and cfg.frontier_chunk_targets:  # every per-GPU target at every chunk target
                knobs = [
                    replace(k, chunk_target_ms=t)
                    for k in knobs or [cfg.cluster]
                    for t in cfg.frontier_chunk_targets
                ]
            knobs += [replace(cfg.cluster, gpus=g) for g in cfg.frontier_budgets]
            knobs = list(dict.fromkeys(knobs))  # a budget sweep may repeat the full-budget point
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
                    "chunk_target_ms": cluster.chunk_target_ms if config.slo else None,
                    "cost_usd": s["cost_usd"],
                    "gpu_hours": s["gpu_hours"],
                    "worst_chunk_latency_s": s["worst_chunk_latency_s"],
                    "p99_chunk_latency_s": s["p99_chunk_latency_s"],
                    "deadline_miss_rate": s["deadline_miss_rate"],
                    "ttff_p50_s": s["ttff_p50_s"],
                    "ttff_p99_s": s["ttff_p99_s"],
                }
            )
    return points


def compare_runs(
    frontier: list[dict[str, Any]], summary: dict[str, Any], deadline_s: float, baseline: str = "static"
) -> list[dict[str, Any]]:
    """Each policy of ``summary`` against the baseline's frontier: its full-budget run and its sweep."""
    comparisons: list[dict[str, Any]] = []
    if not frontier or baseline not in summary:
        return comparisons
    for policy in (p for p in summary if p != baseline and not p.startswith("_")):
        for metric in COMPARED:
            main = {"kind": "main", **compare(frontier, summary[policy], baseline, metric)}
            comparisons.append({"policy": policy, **main})
            sweep = compare_frontiers(frontier, policy, baseline, metric, deadline_s)
            comparisons.append({"policy": policy, **sweep})
    return comparisons


def run_sim(workload: Workload, cfg: SimConfig) -> tuple[dict[str, Any], list[RunOutput]]:
    """Every policy at the full budget, then the frontier sweep; returns summary.json and the runs."""
    if not cfg.policies:
        raise InvalidInput("give at least one policy, e.g. --policies static,closed-loop", param="policies")
    runs = [run_one(workload, cfg.cluster, p, cfg.seed, cfg.profile) for p in cfg.policies]
    summary: dict[str, Any] = {r.policy: r.summary for r in runs}
    sweep = cfg.frontier_gpus or cfg.frontier_per_gpu
    frontier = _frontier(workload, cfg, {r.policy: r for r in runs}) if sweep else []
    comparisons = compare_runs(frontier, summary, cfg.cluster.deadline_ms / 1000.0)
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
