"""``PlacementParams.per_session_ms`` / ``contention_ms``: placement's load terms are knobs (the live
engine passes the ones it measured); the defaults are TurboServe's, and ``min_gain_ms`` follows the
per-session term unless set."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from reelserve.core.errors import InvalidInput
from reelserve.sched import (
    PlacementParams,
    SessionView,
    WorkerView,
    plan_placement,
    resume_move,
    worker_chunk_latency_ms,
)
from reelserve.sched.latency import session_base_ms

BASE = session_base_ms(1.0, "480p", 32)  # SessionView's default shape, at compute_units 1
STILL = PlacementParams(rebalance=False, offload_idle=False)  # predict only: nothing moves


def _on_w0(n: int, capacity: int) -> tuple[list[SessionView], list[WorkerView]]:
    return [SessionView(f"s{i}", "w0") for i in range(n)], [WorkerView("w0", capacity, 16)]


def test_the_defaults_are_turboserves_formula_and_its_40_ms_hysteresis() -> None:
    p = PlacementParams()
    assert (p.per_session_ms, p.contention_ms, p.min_gain_ms) == (55.0, 18.0, None)
    assert p.gain_threshold_ms == 40.0  # exactly: the simulator's threshold
    for n, cap in [(1, 1), (3, 2), (7, 4)]:
        sessions, workers = _on_w0(n, cap)
        got = plan_placement(sessions, workers, 0.0, STILL).bottleneck_ms
        assert got == worker_chunk_latency_ms(sessions, cap)  # the same number, not just close


@pytest.mark.parametrize(("n", "cap"), [(1, 1), (2, 1), (3, 2), (5, 4)])
def test_the_predicted_latency_uses_the_given_load_terms(n: int, cap: int) -> None:
    sessions, workers = _on_w0(n, cap)
    params = replace(STILL, per_session_ms=12.0, contention_ms=4.0)
    got = plan_placement(sessions, workers, 0.0, params).bottleneck_ms
    assert got == pytest.approx(BASE + 12.0 * (n - 1) + 4.0 * (n / cap) ** 2)
    sequential = plan_placement(sessions, workers, 0.0, replace(params, sequential=True)).bottleneck_ms
    assert sequential == pytest.approx(n * BASE + 4.0 * n / cap**2)  # per_session_ms is batching's


def test_zero_load_terms_predict_the_base_alone() -> None:
    sessions, workers = _on_w0(4, 2)
    params = replace(STILL, per_session_ms=0.0, contention_ms=0.0)
    assert plan_placement(sessions, workers, 0.0, params).bottleneck_ms == pytest.approx(BASE)


def test_admission_past_capacity_holds_the_given_load_terms_to_the_target() -> None:
    """One session streams on a worker batching 1; a newcomer is admitted iff both active plus one
    forward of its own is within the target. A device where a session costs 12 ms, not 55, admits it
    under a target the reference formula refuses."""
    workers = [WorkerView("w0", 1, 4)]
    sessions = [SessionView("a", "w0", streaming=True), SessionView("new", None)]
    cheap = BASE + 12.0 + 18.0 * 4 + BASE  # load 2 of capacity 1, plus the newcomer's forward
    reference = BASE + 55.0 + 18.0 * 4 + BASE
    target = (cheap + reference) / 2
    params = replace(STILL, admit_ms=target)
    assert plan_placement(sessions, workers, 0.0, params).unplaced == ("new",)
    admitted = plan_placement(sessions, workers, 0.0, replace(params, per_session_ms=12.0))
    assert admitted.place == (("new", "w0"),)
    # the contention term counts too: the same device under heavy contention waits again
    contended = replace(params, per_session_ms=12.0, contention_ms=(target - cheap + 72.0) / 4 + 1.0)
    assert plan_placement(sessions, workers, 0.0, contended).unplaced == ("new",)


def _three_and_one() -> tuple[list[SessionView], list[WorkerView]]:
    """w0 runs 3 active sessions, w1 one: moving one of w0's gains exactly one session's load."""
    workers = [WorkerView("w0", 8, 16), WorkerView("w1", 8, 16)]
    sessions = [SessionView(f"a{i}", "w0", migration_ms=0.0) for i in range(3)]
    return [*sessions, SessionView("b", "w1", migration_ms=0.0)], workers


@pytest.mark.parametrize(
    ("per_session_ms", "min_gain_ms", "moves"),
    [
        (55.0, None, 1),  # the simulator: gains ~55 > 40
        (12.0, None, 1),  # a CPU engine: gains ~12 > 8/11 of 12 (a fixed 40 would never move)
        (12.0, 40.0, 0),  # an explicit threshold is kept as given
    ],
)
def test_the_default_hysteresis_follows_the_per_session_term(
    per_session_ms: float, min_gain_ms: float | None, moves: int
) -> None:
    sessions, workers = _three_and_one()
    params = PlacementParams(offload_idle=False, per_session_ms=per_session_ms, min_gain_ms=min_gain_ms)
    d = plan_placement(sessions, workers, 0.0, params)
    assert len(d.moves) == moves
    if moves:
        assert d.moves[0].gain_ms == pytest.approx(per_session_ms + 18.0 * (9 - 4) / 64, abs=1e-9)
        assert d.moves[0].gain_ms > params.gain_threshold_ms


def test_a_resume_move_weighs_the_given_load_terms() -> None:
    """a3 resumes on w0 (now 4 active) beside an empty w1: worth moving at 55 ms per session and at 12
    by default; with a fixed threshold of 40 ms the 12-ms device keeps it where it is."""
    sessions, workers = _three_and_one()
    me = SessionView("a3", "w0", migration_ms=0.0)
    sessions = [s for s in sessions if s.worker == "w0"] + [me]
    for per_session_ms, min_gain_ms, moved in [(55.0, None, True), (12.0, None, True), (12.0, 40.0, False)]:
        params = PlacementParams(per_session_ms=per_session_ms, min_gain_ms=min_gain_ms)
        move = resume_move(me, sessions, workers, params)
        assert (move is not None) is moved, (per_session_ms, min_gain_ms)
        if move is not None:
            assert move.target == "w1" and move.gain_ms == pytest.approx(per_session_ms + 18.0 * 7 / 64)


@pytest.mark.parametrize("name", ["per_session_ms", "contention_ms", "min_gain_ms"])
@pytest.mark.parametrize("value", [-1.0, -1e-9, math.nan, math.inf, -math.inf, True, "55"])
def test_a_load_term_must_be_a_finite_number_of_ms_at_least_0(name: str, value: object) -> None:
    with pytest.raises(InvalidInput, match=f"PlacementParams.{name} must be a finite number >= 0") as e:
        PlacementParams(**{name: value})  # type: ignore[arg-type]
    assert e.value.param == name


@pytest.mark.parametrize("name", ["per_session_ms", "contention_ms", "min_gain_ms"])
def test_zero_and_integers_are_accepted(name: str) -> None:
    assert getattr(PlacementParams(**{name: 0}), name) == 0  # type: ignore[arg-type]
    assert getattr(PlacementParams(**{name: 7}), name) == 7  # type: ignore[arg-type]
