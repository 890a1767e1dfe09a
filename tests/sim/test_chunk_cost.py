"""The simulator's measured per-chunk cost (``ChunkCost``): forward time by batch, encode off the worker."""

from __future__ import annotations

import pytest

from reelserve.core.errors import InvalidInput
from reelserve.sched.latency import Profile
from reelserve.sim.cluster import ClusterSpec
from reelserve.sim.entities.session import Segment, SessionSpec
from reelserve.sim.policies import resolve_policy
from reelserve.sim.streaming import ChunkCost, run_streaming
from reelserve.sim.workload import Workload

ROWS = [
    {"width": 64, "height": 64, "frames": 9, "batch": b, "step_ms": 5.0 + b, "vae_decode_ms": 60.0 * b + 30,
     "encode_ms": 8.0 * b}
    for b in (1, 2, 3)
]  # fmt: skip


def test_from_measurements_uses_the_rows_at_the_chunk_size_and_extrapolates_linearly() -> None:
    cost = ChunkCost.from_measurements(ROWS, 64, 64, 9, steps=2)
    assert cost.forward_ms(1) == pytest.approx(2 * 6 + 90)
    assert cost.forward_ms(3) == pytest.approx(2 * 8 + 210)
    assert cost.forward_ms(4) - cost.forward_ms(3) == pytest.approx(cost.forward_ms(3) - cost.forward_ms(2))
    assert cost.encode_ms() == pytest.approx(8.0)
    with pytest.raises(InvalidInput):
        ChunkCost.from_measurements(ROWS, 128, 128, 9, steps=2)


def test_from_profile_matches_the_profile_formula() -> None:
    prof = Profile("m", "cpu", 4.0, 100.0, 0.8, 500.0, 50.0)
    cost = ChunkCost.from_profile(prof, 64, 64, 9, steps=3, max_batch=4)
    mvox = 64 * 64 * 9 / 1e6
    assert cost.forward_ms(2) == pytest.approx(3 * prof.step_ms(64, 64, 9, 2) + 500.0 * mvox * 2)
    assert cost.encode_ms() == pytest.approx(50.0 * mvox)


def test_a_lone_session_on_one_worker_streams_at_forward_plus_encode() -> None:
    cost = ChunkCost((100.0, 150.0), encode=10.0, scale=2.0)
    spec = SessionSpec("a", 0.0, (Segment(6, 0.0),))
    workload = Workload("t", (spec,), (), period_s=1e-3, horizon_s=60.0)
    cluster = ClusterSpec(gpus=1, capacity=2, memory_slots=2, startup_s=0.0, warmup_s=0.0)
    _, world = run_streaming(workload, cluster, resolve_policy("static+coalescing"), seed=0, cost=cost)
    assert world.metrics.chunk_latency_s == pytest.approx([0.22] * 5)  # 2 × (100 + 10) ms each
    assert world.metrics.ttff_s == pytest.approx([0.22])


def test_two_sessions_in_lockstep_share_a_batch_of_two() -> None:
    cost = ChunkCost((100.0, 150.0), encode=10.0)
    specs = tuple(SessionSpec(i, 0.0, (Segment(4, 0.0),)) for i in ("a", "b"))
    workload = Workload("t", specs, (), period_s=1e-3, horizon_s=60.0)
    cluster = ClusterSpec(gpus=1, capacity=2, memory_slots=2, startup_s=0.0, warmup_s=0.0)
    _, world = run_streaming(workload, cluster, resolve_policy("static+coalescing"), seed=0, cost=cost)
    # b's first chunk waits for a's (then joins a's second): lockstep from there; b's last runs alone
    assert world.metrics.ttff_s == pytest.approx([0.11, 0.27])
    assert world.metrics.chunk_latency_s == pytest.approx([0.16] * 5 + [0.11])
