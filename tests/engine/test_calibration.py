"""Placement's latency calibration (``engine.sessions.calibration``): the formula before any
observation, the fitted line after, one fit per chunk shape, bad observations ignored, and the
inputs (bases, ``PlacementParams`` load terms, in engine ms) with which the real ``sched.placement``
predicts the measured latencies."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from reelserve.engine.model.pool import ModelPool, PoolConfig
from reelserve.engine.sessions.calibration import (
    ChunkShape,
    LatencyCalibration,
    ShapeFit,
    calibrated_inputs,
    load_term,
)
from reelserve.engine.sessions.manager import ManagerConfig, SessionManager
from reelserve.engine.sessions.spec import ChunkRecord
from reelserve.sched.latency import chunk_latency_ms
from reelserve.sched.placement import PlacementParams, plan_placement, resume_move
from reelserve.sched.views import SessionView, WorkerView

SHAPE = ChunkShape("tiny-wan", 32, 32, 4, 2)
OTHER = ChunkShape("tiny-wan", 32, 32, 4, 1)  # the same size at another step count: its own key


def _feed(cal: LatencyCalibration, shape: ChunkShape, base: float, slope: float, rounds: int) -> None:
    """Exact measurements on the line ``base + slope · z(n)`` at loads 1, 2, 3 on capacity-1 workers."""
    for _ in range(rounds):
        for n in (1, 2, 3):
            assert cal.observe(shape, n, 1, base + slope * load_term(n, 1))


def test_before_any_observation_a_shape_keeps_the_formula() -> None:
    fit = LatencyCalibration().fit(SHAPE)
    assert (fit.source, fit.slope, fit.observations) == ("formula", 1.0, 0)
    for n in (1, 2, 5):  # the fitted form reproduces the formula exactly
        assert fit.predict_ms(load_term(n, 4)) == pytest.approx(chunk_latency_ms(1.0, "360p", 4, 0, n, 4))


def test_exact_measurements_at_two_loads_give_their_line_and_it_follows_a_change() -> None:
    cal = LatencyCalibration()
    _feed(cal, SHAPE, 30.0, 0.2, 1)
    fit = cal.fit(SHAPE)
    assert fit.source == "fit" and fit.observations == 3
    assert (fit.base_ms, fit.slope) == (pytest.approx(30.0), pytest.approx(0.2))
    _feed(cal, SHAPE, 50.0, 0.5, 200)  # the device got slower: old chunks fade out
    fit = cal.fit(SHAPE)
    assert (fit.base_ms, fit.slope) == (pytest.approx(50.0, rel=1e-6), pytest.approx(0.5, rel=1e-6))


def test_a_long_run_at_one_load_keeps_the_slope_it_learned() -> None:
    cal = LatencyCalibration()
    _feed(cal, SHAPE, 30.0, 0.2, 2)
    for _ in range(300):  # (a ratio of the recent chunks alone would say slope 0.57)
        cal.observe(SHAPE, 1, 1, 30.0 + 0.2 * load_term(1, 1))
    fit = cal.fit(SHAPE)
    assert fit.source == "fit" and fit.slope == pytest.approx(0.2) and fit.base_ms == pytest.approx(30.0)


def test_one_load_only_scales_the_whole_formula_by_observed_over_predicted() -> None:
    cal = LatencyCalibration()
    formula = chunk_latency_ms(1.0, "360p", 4, 0, 1, 1)
    for _ in range(5):
        cal.observe(SHAPE, 1, 1, 0.6 * formula)
    fit = cal.fit(SHAPE)
    assert fit.source == "ratio" and fit.slope == pytest.approx(0.6)
    assert fit.predict_ms(load_term(2, 1)) == pytest.approx(0.6 * chunk_latency_ms(1.0, "360p", 4, 0, 2, 1))


def test_a_line_tilted_the_wrong_way_by_noise_falls_back_to_the_ratio() -> None:
    f = ShapeFit(SHAPE.reference_base_ms)
    f.observe(load_term(1, 1), 90.0)
    f.observe(load_term(2, 1), 40.0)  # two sessions faster than one: not a line to trust
    assert f.fit().source == "ratio"


def test_each_shape_has_its_own_fit() -> None:
    cal = LatencyCalibration()
    _feed(cal, SHAPE, 30.0, 0.2, 3)
    assert cal.fit(OTHER).source == "formula"
    _feed(cal, OTHER, 10.0, 0.1, 3)
    assert cal.fit(SHAPE).base_ms == pytest.approx(30.0) and cal.fit(OTHER).base_ms == pytest.approx(10.0)
    assert set(cal.describe(1)) == {str(SHAPE), str(OTHER)}


@pytest.mark.parametrize(
    ("load", "capacity", "latency_ms"),
    [(1, 1, 0.0), (1, 1, -5.0), (1, 1, math.nan), (1, 1, math.inf), (0, 1, 50.0), (1, 0, 50.0)],
)
def test_bad_observations_are_ignored(load: int, capacity: int, latency_ms: float) -> None:
    cal = LatencyCalibration()
    assert not cal.observe(SHAPE, load, capacity, latency_ms)
    assert cal.fit(SHAPE).source == "formula" and cal.describe(1) == {}


def test_calibration_off_keeps_the_formula() -> None:
    cal = LatencyCalibration(enabled=False)
    assert not cal.observe(SHAPE, 1, 1, 50.0)
    assert cal.fit(SHAPE).source == "formula"


def test_describe_reports_the_fit_per_shape_in_engine_milliseconds() -> None:
    cal = LatencyCalibration()
    _feed(cal, SHAPE, 30.0, 0.2, 2)
    d = cal.describe(1)[str(SHAPE)]
    assert d["source"] == "fit" and d["observations"] == 6
    assert (d["base_ms"], d["per_extra_session_ms"], d["contention_ms"]) == (30.0, 11.0, 3.6)  # 0.2 x 55, 18
    assert d["predicted_ms"] == [round(30.0 + 0.2 * load_term(n, 1), 1) for n in (1, 2)]
    assert d["formula_ms"] == [round(chunk_latency_ms(1.0, "360p", 4, 0, n, 1), 1) for n in (1, 2)]


def _views(n: int) -> list[SessionView]:
    return [SessionView(f"s{i}", "w0", resolution="360p", frames=4) for i in range(n)]


def test_before_any_observation_placement_gets_its_inputs_unchanged() -> None:
    views, params = _views(2), PlacementParams(admit_ms=150.0)
    out, out_params = calibrated_inputs(views, {v.id: SHAPE for v in views}, params, LatencyCalibration())
    assert out == views and out_params == params


STILL = PlacementParams(rebalance=False, offload_idle=False)  # predict only


@pytest.mark.parametrize("n", [1, 2, 3])
def test_placement_predicts_the_fitted_line_in_engine_milliseconds(n: int) -> None:
    cal = LatencyCalibration()
    _feed(cal, SHAPE, 30.0, 0.2, 2)
    views = _views(n)
    out, params = calibrated_inputs(views, {v.id: SHAPE for v in views}, replace(STILL, admit_ms=100.0), cal)
    assert (params.per_session_ms, params.contention_ms) == (pytest.approx(11.0), pytest.approx(3.6))
    assert params.admit_ms == 100.0 and params.min_gain_ms is None  # real ms: nothing converted
    assert params.gain_threshold_ms == pytest.approx(8.0)  # 8/11 of the 11 ms one more session costs
    decision = plan_placement(out, [WorkerView("w0", capacity=1, memory_slots=8)], 0.0, params)
    assert decision.bottleneck_ms == pytest.approx(30.0 + 0.2 * load_term(n, 1))


def test_migration_times_and_explicit_thresholds_pass_through_in_real_milliseconds() -> None:
    cal = LatencyCalibration()
    _feed(cal, SHAPE, 30.0, 0.2, 2)
    views = [replace(v, migration_ms=7.5) for v in _views(2)]
    params = PlacementParams(admit_ms=900.0, min_gain_ms=25.0, lam=0.5)
    out, got = calibrated_inputs(views, {v.id: SHAPE for v in views}, params, cal)
    assert [v.migration_ms for v in out] == [7.5, 7.5]
    assert got == replace(params, per_session_ms=got.per_session_ms, contention_ms=got.contention_ms)


@pytest.mark.parametrize(("margin_ms", "placed"), [(0.5, True), (-0.5, False)])
def test_admission_past_capacity_compares_the_measured_latency_with_the_target(
    margin_ms: float, placed: bool
) -> None:
    """One session streams on a worker batching 1; a new one is admitted iff the fitted all-resident
    latency (2 sessions) plus one forward of its own (the base) is within the target."""
    cal = LatencyCalibration()
    _feed(cal, SHAPE, 30.0, 0.2, 2)
    predicted = 30.0 + 0.2 * load_term(2, 1) + 30.0
    views = [
        SessionView("a", "w0", resolution="360p", frames=4, streaming=True),
        SessionView("b", None, resolution="360p", frames=4),
    ]
    params = replace(STILL, admit_ms=predicted + margin_ms)
    out, params = calibrated_inputs(views, {"a": SHAPE, "b": SHAPE}, params, cal)
    assert params.admit_ms == predicted + margin_ms  # the operator's target, as given
    decision = plan_placement(out, [WorkerView("w0", capacity=1, memory_slots=4)], 0.0, params)
    assert (("b", "w0") in decision.place) is placed
    assert predicted < chunk_latency_ms(1.0, "360p", 4, 0, 2, 1) + SHAPE.reference_base_ms  # the formula's


def test_mixed_shapes_take_the_largest_load_cost_so_no_load_is_under_predicted() -> None:
    cal = LatencyCalibration()
    _feed(cal, SHAPE, 30.0, 0.2, 2)
    _feed(cal, OTHER, 10.0, 0.1, 2)
    views = _views(2)
    out, params = calibrated_inputs(views, {"s0": SHAPE, "s1": OTHER}, PlacementParams(admit_ms=100.0), cal)
    assert (params.per_session_ms, params.contention_ms) == (pytest.approx(0.2 * 55), pytest.approx(0.2 * 18))
    bases = [v.compute_units * SHAPE.reference_base_ms for v in out]  # each its own base, engine ms
    assert bases == [pytest.approx(30.0), pytest.approx(10.0)]


@pytest.mark.parametrize(("own_terms", "expected"), [((55.0, 18.0), (55.0, 18.0)), ((5.0, 1.0), (11.0, 3.6))])
def test_a_shape_not_observed_yet_counts_with_the_params_own_load_terms(
    own_terms: tuple[float, float], expected: tuple[float, float]
) -> None:
    cal = LatencyCalibration()
    _feed(cal, SHAPE, 30.0, 0.2, 2)  # OTHER: never observed
    params = PlacementParams(per_session_ms=own_terms[0], contention_ms=own_terms[1])
    out, got = calibrated_inputs(_views(2), {"s0": SHAPE, "s1": OTHER}, params, cal)
    assert (got.per_session_ms, got.contention_ms) == (pytest.approx(expected[0]), pytest.approx(expected[1]))
    assert out[1].compute_units == 1.0  # the formula's base until it is measured


def _uneven() -> list[SessionView]:
    """w0 streams three sessions, w1 one."""
    on = ["w0", "w0", "w0", "w1"]
    return [SessionView(f"s{i}", w, resolution="360p", frames=4, migration_ms=5.0) for i, w in enumerate(on)]


@pytest.mark.parametrize(("min_gain_ms", "moves"), [(None, 1), (40.0, 0)])
def test_the_rebalancer_moves_for_most_of_one_measured_session(min_gain_ms: float | None, moves: int) -> None:
    """Here one more session costs 11 ms: moving one of w0's three to w1 gains about that, past the
    default hysteresis (8/11 of it); a fixed 40 ms, sized for the formula's 55, would never move."""
    cal = LatencyCalibration()
    _feed(cal, SHAPE, 30.0, 0.2, 2)
    views = _uneven()
    params = PlacementParams(offload_idle=False, min_gain_ms=min_gain_ms)
    out, params = calibrated_inputs(views, {v.id: SHAPE for v in views}, params, cal)
    workers = [WorkerView("w0", capacity=4, memory_slots=8), WorkerView("w1", capacity=4, memory_slots=8)]
    decision = plan_placement(out, workers, 0.0, params)
    assert len(decision.moves) == moves
    if moves:
        m = decision.moves[0]
        assert (m.source, m.target, m.cost_ms) == ("w0", "w1", 5.0)  # the measured migration, as given
        assert m.gain_ms == pytest.approx(11.0 + 3.6 * (9 - 4) / 16 - 0.01 * 5.0)
    # the same rule on a resume (``resume_move``): the fourth session wakes on w0, beside an empty w1
    me = SessionView("s3", "w0", resolution="360p", frames=4, migration_ms=5.0)
    views = [*views[:3], me]
    out, params = calibrated_inputs(views, {v.id: SHAPE for v in views}, params, cal)
    assert (resume_move(out[-1], out, workers, params) is not None) is bool(moves)


def _record(latency_ms: float) -> ChunkRecord:
    return ChunkRecord("s", 1, 4, 100, 10.0, 10.0, 10.0, 10.0 + latency_ms / 1000.0, 12.0, "w0", 1)


@pytest.mark.parametrize("on", [True, False])
def test_the_engine_status_reports_what_its_chunks_taught_per_shape(on: bool) -> None:
    cfg = ManagerConfig(pool=PoolConfig(max_batch=1), calibrate_placement=on)
    mgr = SessionManager(cfg, pool=ModelPool(cfg.pool))  # never started: no worker process
    try:
        mgr.observe_chunk(_record(50.0))  # no shape (an opening chunk, a prompt change): counted only
        assert mgr.describe()["latency_calibration"] == {"on": on, "shapes": {}}
        mgr.observe_chunk(_record(50.0), SHAPE, load=1)
        shapes = mgr.describe()["latency_calibration"]["shapes"]
        if not on:
            assert shapes == {}
            return
        d = shapes[str(SHAPE)]
        assert (d["source"], d["observations"], d["predicted_ms"][0]) == ("ratio", 1, 50.0)
        assert d["formula_ms"][0] == round(chunk_latency_ms(1.0, "360p", 4, 0, 1, 1), 1)
    finally:
        mgr.encode_pool.shutdown(wait=False)
