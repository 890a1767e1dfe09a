"""The same sweep over several seeds: mean and spread of every frontier point and every comparison.

One seed's worst-case latency is one maximum over ~400,000 chunks, and one hour of a bursty workload
can be light or heavy; a claim about a policy should hold across seeds. ``sweep_seeds`` runs
``run_sim`` once per seed (the workload rebuilt from that seed) and returns ``seeds.json``:

- ``points``: each frontier point (policy, budget, per-GPU target, ``slo`` chunk target) with mean /
  std / min / max over the seeds of its cost, worst and p99 per-chunk latency, deadline-miss rate and
  TTFF p50 / p99;
- ``comparisons``: for each policy other than the baseline and each compared figure, the per-seed
  values of ``compare_frontiers`` (cut at equal cost, cost cut at equal target — latency only, and at
  equal service: ``sim.compare``) and their spread;
- ``per_point``: each of our points' cut against the baseline's envelope at its cost, per seed (the
  frontier comparison keeps the best point of a seed, which flatters a noisy frontier);
- ``mean_frontier``: ``compare_frontiers`` on the seed-averaged points.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from statistics import fmean, pstdev
from typing import Any

from reelserve.core.errors import InvalidInput
from reelserve.sim.compare import compare_frontiers, latency_at
from reelserve.sim.runner import COMPARED, SimConfig, compare_runs, run_sim
from reelserve.sim.workload import Workload

__all__ = ["aggregate", "recompare", "spread", "sweep_seeds"]

FIGURES = ("cost_usd", "gpu_hours", *COMPARED, "ttff_p50_s", "ttff_p99_s")
Key = tuple[str, int, float | None, float | None]


def spread(values: Sequence[float | None]) -> dict[str, Any]:
    """Mean, population std, min and max of the defined values, and how many there were."""
    xs = [float(v) for v in values if v is not None]
    if not xs:
        return {"n": 0, "mean": None, "std": None, "min": None, "max": None}
    return {
        "n": len(xs),
        "mean": round(fmean(xs), 4),
        "std": round(pstdev(xs), 4),
        "min": round(min(xs), 4),
        "max": round(max(xs), 4),
    }


def _key(p: dict[str, Any]) -> Key:
    return (p["policy"], p["gpus"], p["per_gpu"], p.get("chunk_target_ms"))


def _cut_at_cost(points: list[dict[str, Any]], p: dict[str, Any], baseline: str, metric: str) -> float | None:
    at = latency_at([q for q in points if q["policy"] == baseline], metric, p["cost_usd"])
    return None if at is None or at <= 0 else 1 - p[metric] / at


def sweep_seeds(
    build: Callable[[int], Workload],
    cfg: SimConfig,
    seeds: Sequence[int],
    baseline: str = "static",
    jobs: int = 1,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Run the sweep once per seed; returns ``seeds.json`` and each seed's ``summary.json``."""
    if not seeds or len(set(seeds)) != len(seeds):
        raise InvalidInput("--seeds takes distinct integers, e.g. 1,2,3,4,5", param="seeds")
    if not (cfg.frontier_gpus or cfg.frontier_per_gpu) or baseline not in cfg.policies:
        raise InvalidInput(f"a seed sweep compares frontiers: give --frontier and the {baseline!r} policy")
    configs = [replace(cfg, seed=seed) for seed in seeds]
    if jobs > 1 and len(seeds) > 1:  # seeds are independent: one process each (``build`` must pickle)
        with ProcessPoolExecutor(min(jobs, len(seeds))) as pool:
            summaries = list(pool.map(_summary, [build] * len(seeds), configs))
    else:
        summaries = [_summary(build, c) for c in configs]
    return aggregate(summaries, cfg.policies, baseline), summaries


def _summary(build: Callable[[int], Workload], cfg: SimConfig) -> dict[str, Any]:
    return run_sim(build(cfg.seed), cfg)[0]


def recompare(summary: dict[str, Any], baseline: str = "static") -> dict[str, Any]:
    """``summary`` with its comparisons recomputed from its own frontier (no simulation is re-run)."""
    run = summary["_run"]
    deadline = run["cluster"]["deadline_ms"] / 1000.0
    return {
        **summary,
        "_run": {**run, "comparison": compare_runs(run["frontier"], summary, deadline, baseline)},
    }


def aggregate(
    summaries: Sequence[dict[str, Any]], policies: Sequence[str], baseline: str = "static"
) -> dict[str, Any]:
    """``seeds.json`` from each seed's ``summary.json`` (its seed, cluster and frontier)."""
    seeds = [s["_run"]["seed"] for s in summaries]
    frontiers = [s["_run"]["frontier"] for s in summaries]
    by_key: dict[Key, list[dict[str, Any]]] = {}
    for frontier in frontiers:
        for p in frontier:
            by_key.setdefault(_key(p), []).append(p)
    points = [
        {"policy": k[0], "gpus": k[1], "per_gpu": k[2], "chunk_target_ms": k[3]}
        | {f: spread([p[f] for p in ps]) for f in FIGURES}
        for k, ps in by_key.items()
    ]
    mean_points = [
        {"policy": k[0], "gpus": k[1], "per_gpu": k[2], "chunk_target_ms": k[3]}
        | {f: fmean(p[f] for p in ps) for f in FIGURES}
        for k, ps in by_key.items()
    ]
    comparisons: list[dict[str, Any]] = []
    per_point: list[dict[str, Any]] = []
    deadline = summaries[0]["_run"]["cluster"]["deadline_ms"] / 1000.0
    for policy in (p for p in policies if p != baseline):
        for metric in COMPARED:
            runs = [compare_frontiers(f, policy, baseline, metric, deadline) for f in frontiers]
            service = [(r["equal_service"] or {}).get("cost_reduction") for r in runs]
            comparisons.append(
                {
                    "policy": policy,
                    "metric": metric,
                    "cut_at_equal_cost": spread([r["latency_reduction_at_equal_cost"] for r in runs]),
                    "cost_cut_at_equal_target": spread([r["cost_reduction_at_equal_latency"] for r in runs]),
                    "cost_cut_at_equal_service": spread(service),
                    "per_seed": {
                        str(seed): [
                            r["latency_reduction_at_equal_cost"],
                            r["cost_reduction_at_equal_latency"],
                            cut,
                        ]
                        for seed, r, cut in zip(seeds, runs, service, strict=True)
                    },
                    "per_seed_target": {
                        str(seed): r["equal_service"] for seed, r in zip(seeds, runs, strict=True)
                    },
                    "mean_frontier": compare_frontiers(mean_points, policy, baseline, metric, deadline),
                }
            )
            for k in (k for k in by_key if k[0] == policy):
                cuts = [_cut_at_cost(f, p, baseline, metric) for f in frontiers for p in f if _key(p) == k]
                per_point.append(
                    {
                        "policy": policy,
                        "gpus": k[1],
                        "per_gpu": k[2],
                        "chunk_target_ms": k[3],
                        "metric": metric,
                        "cut": spread(cuts),
                    }
                )
    return {
        "seeds": list(seeds),
        "baseline": baseline,
        "points": points,
        "comparisons": comparisons,
        "per_point": per_point,
    }
