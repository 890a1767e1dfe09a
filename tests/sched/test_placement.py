"""Placement and min–max rebalancing: nothing lost, bottleneck never worse, thresholds respected."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from reelserve.sched import (
    PlacementParams,
    SessionView,
    WorkerView,
    chunk_latency_ms,
    migration_ms,
    plan_placement,
    worker_chunk_latency_ms,
)
from reelserve.sched.latency import Profile


def bottleneck(sessions: list[SessionView], workers: list[WorkerView]) -> float:
    return max(
        worker_chunk_latency_ms([s for s in sessions if s.worker == w.id], w.capacity) for w in workers
    )


def apply(sessions: list[SessionView], decision: object) -> list[SessionView]:
    from dataclasses import replace

    where = {s.id: s.worker for s in sessions}
    for sid, wid in decision.place:  # type: ignore[attr-defined]
        where[sid] = wid
    for m in decision.moves:  # type: ignore[attr-defined]
        assert where[m.session_id] == m.source
        where[m.session_id] = m.target
    for sid in decision.offload:  # type: ignore[attr-defined]
        where[sid] = None
    return [replace(s, worker=where[s.id]) for s in sessions]


def random_cluster(
    rng: random.Random, n_workers: int, n_sessions: int
) -> tuple[list[SessionView], list[WorkerView]]:
    workers = [
        WorkerView(f"w{i:02d}", capacity=8, memory_slots=16, accepting=rng.random() > 0.1)
        for i in range(n_workers)
    ]
    sessions = []
    for i in range(n_sessions):
        active = rng.random() > 0.2
        worker = rng.choice(workers).id if rng.random() > 0.15 else None
        sessions.append(
            SessionView(
                f"s{i:03d}",
                worker,
                active,
                state_mb=rng.choice([128.0, 256.0, 512.0]),
                resolution=rng.choice(["480p", "720p"]),
                idle_since=None if active else 0.0,
            )
        )
    return sessions, workers


def test_no_session_is_lost_and_moves_are_consistent_on_random_clusters() -> None:
    rng = random.Random(7)
    for trial in range(40):
        sessions, workers = random_cluster(rng, rng.randint(2, 12), rng.randint(0, 80))
        params = PlacementParams(offload_idle=trial % 2 == 0)
        d = plan_placement(sessions, workers, now=10.0, params=params)
        touched = [sid for sid, _ in d.place] + [m.session_id for m in d.moves] + list(d.offload)
        rebalanced = [m.session_id for m in d.moves if m.gain_ms > 0]
        assert len(set(rebalanced)) == len(rebalanced)
        ids = {s.id for s in sessions}
        assert set(touched) <= ids and set(d.unplaced) <= ids
        after = apply(sessions, d)
        by_id = {s.id: s for s in after}
        assert set(by_id) == ids  # nothing dropped
        accepting = {w.id for w in workers if w.accepting}
        for s in after:
            if s.active and s.id not in d.unplaced:
                assert s.worker is not None  # every active session has a worker unless reported unplaced
            if s.id in {sid for sid, _ in d.place} or s.id in {m.session_id for m in d.moves}:
                assert s.worker in accepting
        assert len([m for m in d.moves if m.gain_ms > 0]) <= params.max_rounds


def test_rebalancing_lowers_the_bottleneck_and_respects_the_gain_threshold() -> None:
    workers = [WorkerView("a", 8, 16), WorkerView("b", 8, 16), WorkerView("c", 8, 16)]
    sessions = [SessionView(f"s{i}", "a") for i in range(7)] + [SessionView("t0", "b")]
    before = bottleneck(sessions, workers)
    d = plan_placement(sessions, workers, 0.0, PlacementParams(offload_idle=False))
    assert len(d.moves) == 3 and all(m.source == "a" and m.gain_ms > 40 for m in d.moves)
    after = bottleneck(apply(sessions, d), workers)
    assert after < before and d.bottleneck_ms == pytest.approx(after)
    # a threshold above any possible gain stops every move
    none = plan_placement(sessions, workers, 0.0, PlacementParams(min_gain_ms=10_000))
    assert none.moves == ()
    off = plan_placement(sessions, workers, 0.0, PlacementParams(rebalance=False))
    assert off.moves == ()


def test_new_sessions_go_to_the_least_loaded_worker_and_idle_ones_are_offloaded() -> None:
    workers = [WorkerView("a", 8, 16), WorkerView("b", 8, 16)]
    sessions = [
        SessionView("busy1", "a"),
        SessionView("busy2", "a"),
        SessionView("sleepy", "b", active=False, idle_since=0.0),
        SessionView("new", None),
    ]
    d = plan_placement(sessions, workers, 5.0, PlacementParams(rebalance=False, offload_after_s=2.0))
    assert d.place == (("new", "b"),) and d.offload == ("sleepy",)
    kept = plan_placement(sessions, workers, 1.0, PlacementParams(rebalance=False, offload_after_s=2.0))
    assert kept.offload == ()  # not idle long enough


def test_sessions_leave_a_worker_that_stops_accepting() -> None:
    workers = [WorkerView("doomed", 8, 16, accepting=False), WorkerView("ok", 8, 16)]
    sessions = [SessionView("x", "doomed"), SessionView("y", "doomed", active=False, idle_since=0.0)]
    d = plan_placement(sessions, workers, 0.0, PlacementParams(offload_idle=False))
    assert {(m.session_id, m.target) for m in d.moves} == {("x", "ok"), ("y", "ok")}
    d2 = plan_placement(sessions, workers, 0.0, PlacementParams(offload_idle=True, offload_after_s=100))
    assert d2.offload == ("y",) and [m.session_id for m in d2.moves] == ["x"]


def test_full_cluster_leaves_sessions_unplaced() -> None:
    workers = [WorkerView("a", 1, 1)]
    d = plan_placement([SessionView("x", "a"), SessionView("new", None)], workers, 0.0, PlacementParams())
    assert d.unplaced == ("new",) and d.place == ()


def test_latency_model_matches_the_turboserve_formula() -> None:
    # 180 * 1 * 1.0 * max(0.5, sqrt(64/64)) + 0.015*100 + 55*3 + 18*(4/8)^2
    assert chunk_latency_ms(1.0, "720p", 64, 100, 4, 8) == pytest.approx(180 + 1.5 + 165 + 4.5)
    assert chunk_latency_ms(1.0, "360p", 8, 0, 1, 8) == pytest.approx(180 * 0.45 * 0.5 + 18 / 64)
    assert migration_ms(SessionView("s", None, state_mb=320)) == pytest.approx(18.0)
    assert migration_ms(SessionView("s", None, migration_ms=3.0)) == 3.0
    p = Profile("m", "H100", 10.0, 2.0, 1.0, 1.0, 0.5)
    assert p.clip_ms(1000, 1000, 1, steps=4, batch=2) == pytest.approx(4 * (10 + 2 * 2) + 1.5 * 2)


def test_sessions_already_streaming_are_placed_before_new_ones() -> None:
    workers = [WorkerView("a", 2, 4)]
    sessions = [
        SessionView("a-new", None),
        SessionView("z-resumed", None, streaming=True),
        SessionView("x", "a"),
    ]
    d = plan_placement(sessions, workers, 0.0, PlacementParams(rebalance=False))
    assert d.place == (("z-resumed", "a"),) and d.unplaced == ("a-new",)


def test_a_resume_onto_a_busy_worker_moves_when_the_gain_passes_the_threshold() -> None:
    from reelserve.sched.placement import resume_move
    from reelserve.sched.views import SessionView, WorkerView

    def sess(sid: str, worker: str) -> SessionView:
        return SessionView(sid, worker, True, 16.0, 1.0, "720p", 32, 0, None, None)

    busy = [sess(f"b{i}", "w0") for i in range(5)]
    quiet = [sess("q0", "w1")]
    workers = [WorkerView("w0", 8, 16, True), WorkerView("w1", 8, 16, True)]
    params = PlacementParams()
    move = resume_move(busy[0], busy + quiet, workers, params)
    assert move is not None and (move.source, move.target) == ("w0", "w1") and move.gain_ms > 40
    assert resume_move(quiet[0], busy + quiet, workers, params) is None  # it is where it should be
    assert resume_move(busy[0], busy + quiet, workers, PlacementParams(rebalance=False)) is None


def test_a_saturated_cluster_still_rebalances_into_free_memory() -> None:
    """Every worker at its batch capacity, one far over it: moves go where memory is free."""

    def sess(sid: str, worker: str) -> SessionView:
        return SessionView(sid, worker, True, 16.0, 1.0, "720p", 32, 0, None, None)

    over = [sess(f"o{i}", "w0") for i in range(12)]
    full = [sess(f"f{i}", "w1") for i in range(8)]
    workers = [WorkerView("w0", 8, 16, True), WorkerView("w1", 8, 16, True)]
    d = plan_placement(over + full, workers, 0.0, PlacementParams(offload_idle=False))
    assert d.moves and all((m.source, m.target) == ("w0", "w1") for m in d.moves)
    after = apply(over + full, d)
    assert bottleneck(after, workers) < bottleneck(over + full, workers)
    # nothing moves when the other worker's memory is full (idle residents hold it)
    idle = [SessionView(f"i{i}", "w1", False, 16.0, idle_since=0.0) for i in range(8)]
    held = plan_placement(over + full + idle, workers, 0.0, PlacementParams(offload_idle=False))
    assert held.moves == ()
    # a new session still waits: placement needs a free batch slot, not only memory
    new = plan_placement(
        [*over, *full, SessionView("n", None)], workers, 0.0, PlacementParams(rebalance=False)
    )
    assert new.unplaced == ("n",)


def test_no_worker_up_leaves_everything_unplaced_without_failing() -> None:
    sessions = [SessionView("a", None), SessionView("b", None, streaming=True)]
    d = plan_placement(sessions, [], 0.0, PlacementParams())
    assert d.unplaced == ("b", "a") and d.moves == () and d.bottleneck_ms == 0.0


def test_a_decision_names_each_session_at_most_once() -> None:
    """A session placed by a call is not also moved by it (the caller applies both lists)."""
    rng = random.Random(7)
    for _ in range(200):
        sessions, workers = random_cluster(rng, rng.randint(2, 6), rng.randint(10, 60))
        workers = [w.__class__(w.id, 4, 8, True) for w in workers]  # small and saturated: moves are many
        d = plan_placement(sessions, workers, 5.0, PlacementParams(offload_idle=False))
        named = [sid for sid, _ in d.place] + [m.session_id for m in d.moves]
        assert len(named) == len(set(named))


def test_headroom_keeps_batch_slots_for_idle_sessions_and_overflow_seats_restores() -> None:
    workers = [WorkerView("a", 4, 8), WorkerView("b", 4, 8)]
    # a: 1 active + 2 idle residents (their resumes need 2 batch slots); b: 3 active, no idle residents
    sessions = [SessionView("a0", "a")]
    sessions += [SessionView(f"i{i}", "a", False, idle_since=0.0) for i in range(2)]
    sessions += [SessionView(f"b{i}", "b") for i in range(3)]
    new = [SessionView("n1", None), SessionView("n2", None), SessionView("n3", None)]
    params = PlacementParams(rebalance=False, offload_idle=False)
    # without headroom a (the least loaded) takes two and b the third: both end at capacity
    d = plan_placement(sessions + new, workers, 0.0, params)
    assert d.place == (("n1", "a"), ("n2", "a"), ("n3", "b"))
    # headroom 2: a keeps two slots for its idle sessions' resumes; b (no idle residents) keeps none
    d = plan_placement(sessions + new, workers, 0.0, replace(params, headroom=2))
    assert d.place == (("n1", "a"), ("n2", "b")) and d.unplaced == ("n3",)
    # a restored session (already streaming) ignores headroom; with every batch slot taken it waits,
    # unless overflow lets it take a memory slot on the better of the full workers
    full = [SessionView(f"f{i}", w.id) for w in workers for i in range(4)]
    restore = SessionView("r", None, streaming=True)
    assert plan_placement([*full, restore], workers, 0.0, params).unplaced == ("r",)
    d = plan_placement([*full, restore], workers, 0.0, replace(params, overflow=True))
    assert d.place == (("r", "a"),) and d.unplaced == ()
    # a new session never overflows
    assert plan_placement([*full, new[0]], workers, 0.0, replace(params, overflow=True)).unplaced == ("n1",)


def test_sequential_prediction_sums_forwards_and_balances_work_not_counts() -> None:
    """Four 2×-cost sessions on a, four 1×-cost on b: only the runtime-aware prediction moves one."""

    def sess(sid: str, worker: str, cu: float) -> SessionView:
        return SessionView(sid, worker, True, 16.0, cu, "720p", 32, 0, None, None)

    sessions = [sess(f"big{i}", "a", 3.0) for i in range(4)] + [sess(f"small{i}", "b", 1.5) for i in range(4)]
    workers = [WorkerView("a", 8, 16), WorkerView("b", 8, 16)]
    params = PlacementParams(offload_idle=False)
    # batched (TurboServe's formula): a's base is the big model's whichever way, and b gains 55 ms
    assert plan_placement(sessions, workers, 0.0, params).moves == ()
    d = plan_placement(sessions, workers, 0.0, replace(params, sequential=True))
    assert [(m.source, m.target) for m in d.moves] == [("a", "b")]
    one = chunk_latency_ms(1.5, "720p", 32, 0, 1, 8)  # a 1×-cost chunk in a forward of its own
    # after the move a runs 3 big chunks, b 4 small + 1 big: 6 small chunks' worth each, b in 5 forwards
    assert d.bottleneck_ms == pytest.approx(6 * (one - 18.0 / 64) + 18.0 * 5 / 64)
