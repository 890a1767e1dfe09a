"""The ``slo`` policy in the simulator: each chunk's own deadline, admission within the chunk target,
evacuees admitted past capacity move (never sit on two GPUs), and its sweep knobs."""

from __future__ import annotations

import json
from dataclasses import replace
from functools import partial
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reelserve.core.errors import InvalidInput
from reelserve.sim.cluster import ClusterSpec
from reelserve.sim.entities import WorkerState
from reelserve.sim.policies import resolve_policy
from reelserve.sim.profiles import profile_named
from reelserve.sim.runner import SimConfig
from reelserve.sim.seeds import sweep_seeds
from reelserve.sim.streaming import run_streaming
from reelserve.sim.streaming.control import control_tick
from reelserve.sim.streaming.events import Arrive
from reelserve.sim.streaming.world import StreamWorld
from reelserve.sim.workload import StreamingShape, WorkloadParams, build_workload

SHAPE = StreamingShape(sessions=160, hours=0.08, burstiness=2.0)


def specs(n: int, seed: int = 3) -> list:  # type: ignore[type-arg]
    return list(build_workload("streaming", WorkloadParams(SHAPE), seed).sessions[:n])


def test_an_opening_chunk_runs_by_its_own_deadline_among_streaming_chunks() -> None:
    cluster = ClusterSpec(gpus=1, capacity=8, memory_slots=16, chunk_target_ms=3000.0, ttff_target_s=0.5)
    world = StreamWorld(cluster, resolve_policy("closed-loop+slo"), 2.0, 3600.0, 1)
    world.add_worker(up=True)
    streaming, new = specs(2)
    for spec in (streaming, new):
        world.now = spec.arrival
        list(Arrive(spec.arrival, spec).handle(world))
    s, o = world.sessions[streaming.id], world.sessions[new.id]
    s.first_done = s.spec.arrival  # s is streaming: its chunk is due at next_request, deadline + 3 s
    o.first_done = None
    key = world._order_key(o.spec.arrival)
    # the opening's deadline (arrival + 0.5 s) is later than a chunk due 3 s before it: that runs first
    s.next_request = o.spec.arrival - 3.0
    assert key(s) < key(o)
    # a streaming chunk due just now has 3 s of room; the opening's 0.5 s is earlier, so it runs first
    s.next_request = o.spec.arrival
    assert key(o) < key(s)
    # without slo the closed loop's streams-first holds the opening back behind it
    world.policy = resolve_policy("closed-loop")
    plain = world._order_key(o.spec.arrival)
    assert plain(s) < plain(o)


def test_an_evacuee_admitted_past_capacity_moves_at_its_chunk_boundary_and_sits_on_one_gpu() -> None:
    cluster = ClusterSpec(gpus=2, capacity=1, memory_slots=4, per_gpu=4.0, chunk_target_ms=60_000.0)
    world = StreamWorld(cluster, resolve_policy("closed-loop+slo"), 2.0, 3600.0, 1)
    world.add_worker(up=True)
    world.add_worker(up=True)
    for spec in specs(2):
        world.now = spec.arrival
        list(Arrive(spec.arrival, spec).handle(world))
    g0, g1 = world.workers["g0000"], world.workers["g0001"]
    (mover,) = g0.sessions.values()
    world.now = g0.forward_start + 0.01  # during g0's forward of the mover's chunk
    assert len(g1.sessions) == 1 and world.in_flight(g0) and mover.id in g0.inflight
    g0.state = WorkerState.DRAINING  # scaled in: its session must leave; g1 has no batch slot, only memory
    control_tick(world)
    # admitted onto g1 past its capacity: a move at the chunk boundary, not a second copy on g1
    assert mover.pending_move == "g0001"
    assert mover.id in g0.sessions and mover.id not in g1.sessions and mover.worker == "g0000"
    world.now = g0.busy_until
    world.finish_forward(g0)
    assert mover.worker == "g0001" and mover.id in g1.sessions and mover.id not in g0.sessions


def test_admission_within_the_chunk_target_starts_sessions_sooner_on_a_tight_budget() -> None:
    workload = build_workload("streaming", WorkloadParams(SHAPE), 2)
    cluster = ClusterSpec(gpus=3, per_gpu=6.0, warmup_s=30.0, ttff_target_s=1.0)
    base, _ = run_streaming(workload, cluster, resolve_policy("closed-loop+slo"), 2)
    admit, _ = run_streaming(
        workload, replace(cluster, chunk_target_ms=2600.0), resolve_policy("closed-loop+slo"), 2
    )
    assert admit["ttff_p99_s"] < base["ttff_p99_s"]
    assert admit["cost_usd"] <= base["cost_usd"] + 1e-9  # admitted into the budget's slack, not new GPUs
    assert base["worst_chunk_latency_s"] < admit["worst_chunk_latency_s"]  # the slack is used


def test_a_tighter_ttff_target_gives_a_lower_ttff() -> None:
    workload = build_workload("streaming", WorkloadParams(SHAPE), 2)
    cluster = ClusterSpec(gpus=6, per_gpu=7.0, warmup_s=30.0, chunk_target_ms=2000.0)
    loose, _ = run_streaming(
        workload, replace(cluster, ttff_target_s=3.0), resolve_policy("closed-loop+slo"), 2
    )
    tight, _ = run_streaming(
        workload, replace(cluster, ttff_target_s=0.4), resolve_policy("closed-loop+slo"), 2
    )
    assert tight["ttff_p99_s"] < loose["ttff_p99_s"]


def test_targets_must_not_be_negative() -> None:
    with pytest.raises(InvalidInput):
        ClusterSpec(chunk_target_ms=-1.0)
    with pytest.raises(InvalidInput):
        ClusterSpec(ttff_target_s=-0.5)
    for bad in (float("nan"), float("inf")):  # the engine's rule (sched.ordering.check_target)
        with pytest.raises(InvalidInput, match="chunk-target-ms"):
            ClusterSpec(chunk_target_ms=bad)


def test_a_sweep_crosses_per_gpu_and_chunk_targets_and_parallel_seeds_match_serial() -> None:
    cluster = ClusterSpec(gpus=5, warmup_s=10.0, per_gpu=6.0, chunk_target_ms=2000.0)
    cfg = SimConfig(
        cluster,
        ("static", "closed-loop+slo"),
        1,
        profile_named("wan-14b"),
        frontier_gpus=(3, 5),
        frontier_per_gpu=(4.0, 6.0),
        frontier_chunk_targets=(2000.0, 3000.0),
    )
    build = partial(build_workload, "streaming", WorkloadParams(SHAPE))
    doc, summaries = sweep_seeds(build, cfg, (1, 2))
    slo = {
        (p["per_gpu"], p["chunk_target_ms"])
        for p in summaries[0]["_run"]["frontier"]
        if p["policy"] == "closed-loop+slo"
    }
    assert slo == {(4.0, 2000.0), (4.0, 3000.0), (6.0, 2000.0), (6.0, 3000.0)}
    static = [p for p in summaries[0]["_run"]["frontier"] if p["policy"] == "static"]
    assert {p["chunk_target_ms"] for p in static} == {None}
    # points that differ only in their chunk target are aggregated apart
    keys = {(p["policy"], p["per_gpu"], p["chunk_target_ms"]) for p in doc["points"]}
    assert ("closed-loop+slo", 6.0, 2000.0) in keys and ("closed-loop+slo", 6.0, 3000.0) in keys
    parallel, _ = sweep_seeds(build, cfg, (1, 2), jobs=2)
    assert parallel == doc


def test_cli_takes_the_targets_and_rejects_bad_ones(tmp_path: Path) -> None:
    from reelserve.sim.cli import app

    runner = CliRunner()
    args = [
        "sim",
        "--gpus",
        "4",
        "--sessions",
        "60",
        "--hours",
        "0.05",
        "--policies",
        "static,closed-loop+slo",
    ]
    ok = runner.invoke(
        app,
        [*args, "--chunk-target-ms", "2500", "--ttff-target-s", "1", "--out", str(tmp_path), "--no-plots"],
    )
    assert ok.exit_code == 0, ok.output
    run = json.loads((tmp_path / "summary.json").read_text())["_run"]
    assert run["cluster"]["chunk_target_ms"] == 2500.0 and run["cluster"]["ttff_target_s"] == 1.0
    for extra in (["--chunk-target-ms", "-1"], ["--ttff-target-s", "-2"], ["--frontier-chunk-targets", "x"]):
        bad = runner.invoke(app, [*args, *extra, "--out", str(tmp_path / "bad"), "--no-plots"])
        assert bad.exit_code == 2, (extra, bad.output)
        assert "error" in bad.output and "Traceback" not in bad.output
    bad = runner.invoke(
        app, [*args, "--frontier", "2,4", "--seeds", "1,2", "--jobs", "0", "--out", str(tmp_path / "j")]
    )
    assert bad.exit_code == 2 and "--jobs" in bad.output
