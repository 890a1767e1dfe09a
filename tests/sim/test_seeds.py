"""The seed sweep: one sweep per seed, spread of every point and comparison, clean errors."""

from __future__ import annotations

from dataclasses import replace

import pytest

from reelserve.core.errors import InvalidInput
from reelserve.sim.cluster import ClusterSpec
from reelserve.sim.profiles import profile_named
from reelserve.sim.runner import SimConfig
from reelserve.sim.seeds import spread, sweep_seeds
from reelserve.sim.workload import StreamingShape, Workload, WorkloadParams, build_workload

SHAPE = StreamingShape(sessions=80, hours=0.06, burstiness=2.0)


def build(seed: int) -> Workload:
    return build_workload("streaming", WorkloadParams(SHAPE), seed)


def config() -> SimConfig:
    cluster = ClusterSpec(gpus=5, warmup_s=10.0)
    return SimConfig(cluster, ("static", "closed-loop"), 1, profile_named("wan-14b"), (3, 5), (3.0, 6.0))


def test_spread_ignores_missing_values() -> None:
    assert spread([1.0, None, 3.0]) == {"n": 2, "mean": 2.0, "std": 1.0, "min": 1.0, "max": 3.0}
    assert spread([None])["mean"] is None


def test_each_seed_is_its_own_run_and_points_aggregate_over_seeds() -> None:
    doc, summaries = sweep_seeds(build, config(), (1, 2, 3))
    assert [s["_run"]["seed"] for s in summaries] == [1, 2, 3]
    # different seeds, different hours: the static 3-GPU point's worst case is not the same everywhere
    worst = [
        next(p for p in s["_run"]["frontier"] if p["gpus"] == 3)["worst_chunk_latency_s"] for s in summaries
    ]
    assert len(set(worst)) > 1
    point = next(p for p in doc["points"] if p["policy"] == "static" and p["gpus"] == 3)
    assert point["worst_chunk_latency_s"]["n"] == 3
    assert point["worst_chunk_latency_s"]["min"] == pytest.approx(min(worst), abs=1e-4)
    metrics = {c["metric"] for c in doc["comparisons"]}
    assert metrics == {"worst_chunk_latency_s", "p99_chunk_latency_s", "deadline_miss_rate"}
    for c in doc["comparisons"]:
        assert set(c["per_seed"]) == {"1", "2", "3"}
    assert {(p["gpus"], p["per_gpu"]) for p in doc["per_point"]} == {(5, 3.0), (5, 6.0)}
    again, _ = sweep_seeds(build, config(), (1, 2, 3))
    assert again == doc  # deterministic under its seeds


def test_a_seed_sweep_needs_distinct_seeds_a_frontier_and_the_baseline() -> None:
    with pytest.raises(InvalidInput):
        sweep_seeds(build, config(), (1, 1))
    with pytest.raises(InvalidInput):
        sweep_seeds(build, replace(config(), frontier_gpus=(), frontier_per_gpu=()), (1, 2))
    with pytest.raises(InvalidInput):
        sweep_seeds(build, replace(config(), policies=("closed-loop",)), (1, 2))
