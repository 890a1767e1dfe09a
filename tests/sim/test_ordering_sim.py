"""How a simulated worker orders its due chunks: EDF, or ``streams-first`` (``sched.ordering``)."""

from __future__ import annotations

from typing import Any

import pytest

from reelserve.sim.cluster import ClusterSpec
from reelserve.sim.entities import Segment, SessionSpec, SimWorker
from reelserve.sim.policies import resolve_policy
from reelserve.sim.streaming import run_streaming
from reelserve.sim.streaming.world import StreamWorld
from reelserve.sim.workload import Workload


def _late_opener() -> Workload:
    """One GPU, 9 slots: ``z`` arrives when it is full and is placed by the control tick at t = 3 s.

    ``a`` ends after its second chunk (t ≈ 2.2 s), freeing the slot; at t = 3 s the other sessions'
    chunks due at 2 s are still queued, and ``z``'s first chunk is due at its arrival (1.5 s).
    """
    sessions = [SessionSpec("a", 0.0, (Segment(2, 0.0),), compute_units=1.5, resolution="720p")]
    sessions += [
        SessionSpec(f"s{i}", 0.0, (Segment(4, 0.0),), compute_units=1.5, resolution="720p") for i in range(8)
    ]
    sessions.append(SessionSpec("z", 1.5, (Segment(3, 0.0),), compute_units=1.5, resolution="720p"))
    return Workload("trace", tuple(sessions), period_s=2.0, horizon_s=30.0)


CLUSTER = ClusterSpec(gpus=1, capacity=9, memory_slots=9, warmup_s=0.0)


def _run(policy: str) -> dict[str, Any]:
    summary, world = run_streaming(_late_opener(), CLUSTER, resolve_policy(policy), seed=1)
    assert summary["completed"] == 10
    assert world.sessions["z"].history == ["g0000"]
    return summary


def test_streams_first_keeps_a_late_first_chunk_from_pushing_streaming_chunks_back() -> None:
    edf, first = _run("static"), _run("static+streams-first")
    # EDF runs z's first chunk (due 1.5 s) ahead of the eight chunks due at 2 s
    assert first["worst_chunk_latency_s"] < edf["worst_chunk_latency_s"] - 0.1
    # ... and z pays for it in time to first frame, which is reported apart
    assert first["ttff_max_s"] > edf["ttff_max_s"] + 0.1
    assert first["chunks"] == edf["chunks"]


def test_every_forward_delivers_a_chunk_when_sessions_migrate_at_chunk_boundaries(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from reelserve.sim.workload import StreamingShape, WorkloadParams, build_workload

    finish = StreamWorld.finish_forward
    sizes: list[int] = []

    def counted(self: StreamWorld, w: SimWorker) -> Any:
        sizes.append(len(w.inflight))
        return finish(self, w)

    monkeypatch.setattr(StreamWorld, "finish_forward", counted)
    shape = StreamingShape(sessions=150, hours=0.12, burstiness=2.0, mean_active_s=120.0)
    workload = build_workload("streaming", WorkloadParams(streaming=shape), seed=3)
    summary, _ = run_streaming(workload, ClusterSpec(gpus=8, per_gpu=6.0), resolve_policy("closed-loop"), 1)
    assert summary["migrations"] > 0 and sizes
    # a session moved at the boundary of the chunk just finished once wiped its worker's next plan,
    # and the worker ran a forward that delivered nothing
    assert min(sizes) >= 1


def test_closed_loop_is_turboserve_plus_the_four_switches() -> None:
    closed, turbo = resolve_policy("closed-loop"), resolve_policy("turboserve")
    assert (turbo.rebalance, turbo.autoscale) == (closed.rebalance, closed.autoscale) == (True, True)
    assert closed.streams_first and closed.runtime_aware and closed.headroom == 1
    assert not (turbo.streams_first or turbo.runtime_aware or turbo.headroom or closed.overflow)
    static = resolve_policy("static")
    assert not (static.streams_first or static.runtime_aware or static.headroom or static.rebalance)
