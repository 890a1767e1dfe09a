"""The simulator's measured per-chunk cost (``ChunkCost``): forward time by batch, encode off the worker."""

from __future__ import annotations

import numpy as np
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


PATH = {
    "steps": 2,
    "step_ms": {"1": [4.0, 6.0, 5.0], "2": [7.0, 9.0, 8.0]},
    "decode_ms": {"1": [90.0, 110.0, 100.0], "2": [150.0, 170.0, 160.0]},
    "admit_ms": [1.0, 1.0], "finish_ms": [0.5, 0.5], "reply_ms": [0.2, 0.4], "encode_ms": [6.0, 8.0],
    "request_ms": [0.1, 0.1],
}  # fmt: skip


def test_from_chunk_path_takes_medians_and_draws_from_the_samples() -> None:
    cost = ChunkCost.from_chunk_path(PATH)
    # forward = 2 steps + decode + (admit + finish) per chunk, at the medians
    assert cost.forward_ms(1) == pytest.approx(2 * 5 + 100 + 1.5)
    assert cost.forward_ms(2) == pytest.approx(2 * 8 + 160 + 3.0)
    assert cost.encode_ms() == pytest.approx(0.3 + 7.0)  # reply + fMP4 encode
    assert cost.step_ms(2) == 8.0 and cost.decode_ms(1) == 100.0 and cost.decode_ms(0) == 0.0
    rng = np.random.default_rng(7)
    draws = {cost.step_ms(1, rng) for _ in range(200)}
    assert draws == {4.0, 5.0, 6.0}
    assert {round(cost.deliver_ms(rng), 6) for _ in range(200)} == {6.2, 6.4, 8.2, 8.4}
    # beyond the measured sizes: a sample at the largest plus the medians' slope (8 - 5 per chunk)
    assert {cost.step_ms(3, rng) for _ in range(100)} == {10.0, 11.0, 12.0}
    assert cost.admit_ms(rng) == 1.0 and cost.finish_ms(rng) == 0.5 and cost.request_ms(rng) == 0.1


def test_a_cost_without_a_measured_path_has_no_engine_overheads() -> None:
    cost = ChunkCost.from_measurements(ROWS, 64, 64, 9, steps=2)
    rng = np.random.default_rng(0)
    assert cost.step_ms(2, rng) == cost.step_ms(2) == 7.0  # no samples: the figure itself
    assert cost.admit_ms(rng) == cost.finish_ms(rng) == cost.request_ms(rng) == 0.0
    assert cost.deliver_ms(rng) == cost.encode_ms()


def test_a_chunk_path_needs_samples_for_every_part() -> None:
    with pytest.raises(InvalidInput, match="chunk path"):
        ChunkCost.from_chunk_path({**PATH, "reply_ms": []})
    with pytest.raises(InvalidInput, match="chunk path"):
        ChunkCost.from_chunk_path({k: v for k, v in PATH.items() if k != "decode_ms"})


def test_delivery_is_drawn_by_how_many_chunks_were_handed_back_together() -> None:
    cost = ChunkCost.from_chunk_path({**PATH, "deliver_ms": {"1": [5.0], "2": [9.0, 9.0]}})
    rng = np.random.default_rng(1)
    # two at once share the encode pool; beyond the measured sizes the medians' slope (4 ms a chunk)
    assert [cost.deliver_ms(rng, k) for k in (1, 2, 3)] == [5.0, 9.0, 13.0]
    assert cost.deliver_ms(None, 2) == 9.0
    with pytest.raises(InvalidInput, match="deliver"):
        ChunkCost.from_chunk_path({**PATH, "deliver_ms": {"1": []}})


def test_a_hand_back_of_k_chunks_is_drawn_whole_in_reply_order() -> None:
    # two measured hand-backs of 2 chunks: (9, 10) and (20, 21); never one of each
    cost = ChunkCost.from_chunk_path({**PATH, "deliver_ms": {"1": [5.0], "2": [9.0, 10.0, 20.0, 21.0]}})
    rng = np.random.default_rng(3)
    drawn = {cost.deliver_group_ms(2, rng) for _ in range(100)}
    assert drawn == {(9.0, 10.0), (20.0, 21.0)}
    assert cost.deliver_group_ms(1, rng) == (5.0,)
    # beyond the measured sizes: one ``deliver_ms`` draw each (a 2-chunk sample + the medians' slope, 10)
    assert {v for _ in range(50) for v in cost.deliver_group_ms(3, rng)} == {19.0, 20.0, 30.0, 31.0}
    assert cost.deliver_group_ms(2) == (15.0, 15.0)  # without a generator: the median each


def test_both_chunk_path_versions_load_and_an_unknown_one_says_to_re_measure() -> None:
    one = ChunkCost.from_chunk_path(PATH)  # version 1: no "version" key
    two = ChunkCost.from_chunk_path({**PATH, "version": 2})
    assert one.path == two.path and one.forward_by_batch == two.forward_by_batch
    with pytest.raises(InvalidInput, match=r"version 3 .*re-measure"):
        ChunkCost.from_chunk_path({**PATH, "version": 3})


def test_a_chunk_path_missing_a_size_in_between_is_refused() -> None:
    with pytest.raises(InvalidInput, match="chunk path"):
        ChunkCost.from_chunk_path({**PATH, "step_ms": {"1": [4.0], "3": [9.0]}})
    with pytest.raises(InvalidInput, match=r"deliver_ms needs whole hand-backs of 1\.\.k"):
        ChunkCost.from_chunk_path({**PATH, "deliver_ms": {"1": [5.0], "3": [9.0, 9.0, 9.0]}})
    with pytest.raises(InvalidInput, match=r"handback_ms needs whole hand-backs"):
        ChunkCost.from_chunk_path({**PATH, "handback_ms": {"1": [5.0], "2": [9.0, 9.0, 9.0]}})


STEPPED = {
    **PATH, "steps": 3, "step_ms": {"1": [10.0], "2": [12.0]}, "decode_ms": {"1": [50.0], "2": [80.0]},
    "admit_ms": [1.0], "finish_ms": [2.0], "reply_ms": [0.5], "encode_ms": [4.5], "request_ms": [3.0],
}  # fmt: skip


def _one_session(cost: ChunkCost) -> list[float]:
    workload = Workload("t", (SessionSpec("a", 0.0, (Segment(4, 0.0),)),), (), 1e-3, 60.0)
    cluster = ClusterSpec(
        gpus=1, capacity=2, memory_slots=4, startup_s=0.0, warmup_s=0.0, coalesce_wait_s=0.0
    )
    _, world = run_streaming(workload, cluster, resolve_policy("continuous"), seed=0, cost=cost)
    return list(world.metrics.chunk_latency_s)


def test_a_hand_back_timed_from_the_steps_end_may_end_before_it() -> None:
    # request 3, admit 1, 3 steps of 10, decode 50, export + reply 2: the step ends 86 ms after the
    # request; reply + encode 5 ms after the reply left: 91 ms (the previous profiles' way)
    assert _one_session(ChunkCost.from_chunk_path(STEPPED)) == pytest.approx([0.091] * 3)
    # measured from the step's end, the segment was encoded 1 ms before it: 85 ms, and never 91
    early = ChunkCost.from_chunk_path({**STEPPED, "handback_ms": {"1": [-1.0]}})
    assert _one_session(early) == pytest.approx([0.085] * 3)
    assert early.handback_group_ms(1, np.random.default_rng(0)) == (-1.0,)
    assert early.handback_group_ms(2, np.random.default_rng(0)) is None  # no hand-back of 2 measured


def test_a_hand_back_of_k_from_the_steps_end_is_drawn_whole() -> None:
    cost = ChunkCost.from_chunk_path({**STEPPED, "handback_ms": {"1": [3.0], "2": [-2.0, 6.0, 1.0, 9.0]}})
    rng = np.random.default_rng(5)
    assert {cost.handback_group_ms(2, rng) for _ in range(60)} == {(-2.0, 6.0), (1.0, 9.0)}
