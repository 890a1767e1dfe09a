"""Step-level continuous batching in the simulator (the ``continuous`` policy)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from reelserve.core.errors import InvalidInput
from reelserve.sim.cluster import ClusterSpec
from reelserve.sim.entities.session import Segment, SessionSpec
from reelserve.sim.policies import resolve_policy
from reelserve.sim.streaming import ChunkCost, run_streaming
from reelserve.sim.streaming.world import StreamWorld
from reelserve.sim.workload import Workload

# step 10 ms alone, 12 ms for two; decode 50 ms for one finished chunk, 80 for two; 3 steps a chunk
COST = ChunkCost((80.0, 116.0), 5.0, 1.0, (10.0, 12.0), (50.0, 80.0), 3)
CLUSTER = ClusterSpec(gpus=1, capacity=2, memory_slots=4, startup_s=0.0, warmup_s=0.0, coalesce_wait_s=0.0)


def run(specs: tuple[SessionSpec, ...], policy: str = "continuous") -> tuple[dict[str, Any], StreamWorld]:
    workload = Workload("t", specs, (), period_s=1e-3, horizon_s=60.0)
    return run_streaming(workload, CLUSTER, resolve_policy(policy), seed=0, cost=COST)


def test_a_lone_session_takes_its_steps_then_decode_then_encode() -> None:
    summary, world = run((SessionSpec("a", 0.0, (Segment(4, 0.0),)),))
    # 3 steps of 10 ms, the last followed by the decode (50 ms), then encode off the worker (5 ms)
    assert world.metrics.chunk_latency_s == pytest.approx([0.085] * 3)
    assert summary["mean_chunk_batch"] == 1.0
    chunked, _ = run((SessionSpec("a", 0.0, (Segment(4, 0.0),)),), "static+coalescing")
    assert chunked["p50_chunk_latency_s"] == pytest.approx(0.085)  # the same cost, chunk by chunk


def test_a_request_joins_the_running_set_at_the_next_step_boundary() -> None:
    a = SessionSpec("a", 0.0, (Segment(3, 0.0),))
    b = SessionSpec("b", 0.015, (Segment(3, 0.0),))  # during a's second step
    _, world = run((a, b))
    ttff = sorted(world.metrics.ttff_s)
    # a: steps at 0, 10 (alone, 10 ms each), 20 (with b: 12 ms, then a's decode 50 ms), +5 ms encode = 87 ms;
    # b joined at 20 ms, not after a's chunk: 20-82, alone 82-92, with a again 92-104 + decode 50, +5
    assert ttff == pytest.approx([0.087, 0.159 - 0.015])
    _, chunked = run((a, b), "static+coalescing")
    assert sorted(chunked.metrics.ttff_s)[1] == pytest.approx(0.165 - 0.015)
    batches = list(world.metrics.chunk_batch)
    assert set(batches) <= {1, 2} and 2 in batches


def test_continuous_needs_step_level_figures() -> None:
    with pytest.raises(InvalidInput, match="continuous"):
        workload = Workload("t", (SessionSpec("a", 0.0, (Segment(2, 0.0),)),), (), 1e-3, 10.0)
        run_streaming(workload, CLUSTER, resolve_policy("continuous"), seed=0, cost=ChunkCost((80.0,), 5.0))
    with pytest.raises(InvalidInput):
        ChunkCost((80.0,), 5.0, 1.0, (), (50.0,), 3)


def test_continuous_batching_loses_nothing_under_migration_offload_and_evictions() -> None:
    from reelserve.sim.workload import StreamingShape, WorkloadParams, build_workload

    shape = StreamingShape(sessions=120, hours=0.1, burstiness=2.0, mean_active_s=90.0)
    workload = build_workload("streaming", WorkloadParams(streaming=shape), seed=5)
    cluster = ClusterSpec(gpus=8, capacity=4, memory_slots=8, spot_share=0.5, evictions_per_h=30.0)
    cost = ChunkCost((300.0, 400.0), 20.0, 1.0, (50.0, 60.0), (100.0, 160.0), 4)  # 0.3-0.4 s a chunk
    summary, world = run_streaming(
        workload, cluster, resolve_policy("closed-loop+offload+continuous"), 1, cost
    )
    assert summary["evictions"] > 0 and summary["migrations"] > 0 and summary["offloads"] > 0
    assert summary["completed"] + summary["unfinished"] == len(workload.sessions)
    for w in world.workers.values():
        assert set(w.steps_left) <= set(w.sessions)  # a running chunk belongs to a session held there
        assert all(0 < left <= 4 for left in w.steps_left.values())
    assert 1.0 <= summary["mean_chunk_batch"] <= 4.0
    again, _ = run_streaming(workload, cluster, resolve_policy("closed-loop+offload+continuous"), 1, cost)
    assert again == summary


def _path(**parts: Any) -> ChunkCost:
    fixed = {"admit_ms": [1.0], "finish_ms": [2.0], "reply_ms": [0.5], "encode_ms": [4.5]}
    fixed["request_ms"] = [3.0]
    raw = {"steps": 3, "step_ms": {"1": [10.0], "2": [12.0]}, "decode_ms": {"1": [50.0], "2": [80.0]}}
    return ChunkCost.from_chunk_path({**raw, **fixed, **parts})


def test_a_measured_chunk_path_adds_the_engines_work_around_the_steps() -> None:
    workload = Workload("t", (SessionSpec("a", 0.0, (Segment(4, 0.0),)),), (), 1e-3, 60.0)
    _, world = run_streaming(workload, CLUSTER, resolve_policy("continuous"), seed=0, cost=_path())
    # request 3 ms to reach the worker, admit 1, 3 steps of 10, decode 50, export + reply 2,
    # then the reply 0.5 and the fMP4 encode 4.5 off the worker: 91 ms from request to segment
    assert world.metrics.chunk_latency_s == pytest.approx([0.091] * 3)
    assert world.metrics.ttff_s == pytest.approx([0.088])  # the first request is the arrival itself


def test_drawn_step_times_are_seeded_and_stay_within_the_samples() -> None:
    cost = _path(step_ms={"1": [5.0, 15.0], "2": [8.0, 16.0]}, decode_ms={"1": [40.0, 60.0], "2": [80.0]})
    specs = tuple(SessionSpec(i, 0.05 * k, (Segment(12, 0.0),)) for k, i in enumerate("abc"))
    workload = Workload("t", specs, (), 1e-3, 60.0)

    def latencies(seed: int) -> list[float]:
        _, world = run_streaming(workload, CLUSTER, resolve_policy("continuous"), seed=seed, cost=cost)
        return list(world.metrics.chunk_latency_s)

    first = latencies(1)
    assert latencies(1) == first  # same seed, same draws
    assert latencies(2) != first  # the draws do vary the run
    assert len(set(first)) > 3  # service-time variance reaches the latencies
    fastest = (3.0 + 1.0 + 3 * 5.0 + 40.0 + 2.0 + 5.0) / 1000.0  # every part at its smallest sample
    assert min(first) >= fastest - 1e-9


def test_a_new_session_is_opened_at_the_next_step_boundary() -> None:
    # the engine's worker answers ``open`` between steps: b arrives at 9 ms, during a's first step
    # (7.5-18.5 ms), is opened at 18.5 ms and its first request reaches the batcher 7.5 ms later
    # (reply 0.5 + request 3 + prompt encoding 4), after a's second step began: b joins at 28.5 ms,
    # one step later than a request made at its arrival would have
    cost = _path(open_ms=[4.0])
    a, b = SessionSpec("a", 0.0, (Segment(1, 0.0),)), SessionSpec("b", 0.009, (Segment(1, 0.0),))
    _, world = run_streaming(
        Workload("t", (a, b), (), 1e-3, 60.0), CLUSTER, resolve_policy("continuous"), 0, cost
    )
    # a: opened at once (idle worker): 7.5 + admit 1 + 10 + 10 + (12 with b) + decode 50 + 2, + 5 off it
    # b: 28.5 + 1 + 12 + a's decode 52 + 10 + 10 + 50 + 2 = 165.5, + 5 = 170.5 ms, from its arrival at 9
    assert sorted(world.metrics.ttff_s) == pytest.approx([0.0985, 0.1615])


def test_a_request_made_during_a_step_is_read_and_starts_its_wait_at_the_steps_end() -> None:
    from reelserve.sched.provision.gpus import gpu_type
    from reelserve.sim.entities import SimSession, SimWorker
    from reelserve.sim.streaming.steps import _seen

    w = SimWorker("g0", gpu_type("B300"), False, 2, 4, 1.0, 0.0)
    s = SimSession.start(SessionSpec("a", 0.0, (Segment(2, 0.0),)))
    w.forward_start, w.busy_until = 0.10, 0.20  # a step (with its decode) ran 100-200 ms
    s.ready_at = 0.15  # asked during it: the worker reads the pipe after the step
    assert _seen(w, s, 0.20) == 0.20
    s.ready_at = 0.05  # asked before the step began: read then
    assert _seen(w, s, 0.20) == 0.05
    w.forward_start = w.busy_until = 0.20  # an idle worker reads at once
    s.ready_at = 0.15
    assert _seen(w, s, 0.25) == 0.15


def test_chunks_finished_together_are_delivered_by_one_measured_hand_back() -> None:
    # hand-backs of 2 measured as (5, 6) and (30, 31) ms: the two chunks of a step come back 1 ms
    # apart (plus the 2-ms export between them), never 25 — whatever the seed
    cost = _path(deliver_ms={"1": [5.0], "2": [5.0, 6.0, 30.0, 31.0]})
    specs = tuple(SessionSpec(i, 0.0, (Segment(2, 0.0),)) for i in "ab")
    workload = Workload("t", specs, (), 1e-3, 60.0)
    cluster = replace(CLUSTER, coalesce_wait_s=0.005)  # both arrive at 0 and start together
    for seed in range(6):
        _, world = run_streaming(workload, cluster, resolve_policy("continuous"), seed=seed, cost=cost)
        first = sorted(world.metrics.ttff_s)
        assert first[1] - first[0] == pytest.approx(0.003)
