"""Provisioning: greedy and MILP against brute force on tiny instances, gaps, bad input."""

from __future__ import annotations

import itertools
import time

import pytest

from reelserve.core.errors import InvalidInput, UnknownName
from reelserve.sched.provision import (
    PLANNERS,
    GpuType,
    PlanWorkload,
    Pool,
    Stage,
    StagePlan,
    Variant,
    ad_variants,
    evaluate,
    make_result,
    plan_greedy,
    plan_milp,
    podcast,
)
from reelserve.sched.provision.evaluate import stage_time_s

CATALOG = {"A": GpuType("A", 1.0, 1.0, 0.4, 80), "B": GpuType("B", 2.5, 3.0, 1.0, 80)}


def tiny(units: int, deadline: float, spot: bool) -> PlanWorkload:
    stage = Stage("g", units, (Variant("v", 1, 100.0),))
    return PlanWorkload(
        "tiny", (stage,), 0.0, 1, "cost_deadline", deadline, None, ("A", "B"), spot, 0.5, 16, 4, 60.0, CATALOG
    )


def brute_force(w: PlanWorkload, most: int = 6) -> float:
    kinds = [(g, s) for g in ("A", "B") for s in ((False, True) if w.allow_spot else (False,))]
    best = float("inf")
    for counts in itertools.product(range(most + 1), repeat=len(kinds)):
        pools = tuple(Pool(g, s, n) for (g, s), n in zip(kinds, counts, strict=True) if n)
        if pools:
            ev = evaluate(w, (StagePlan("g", "v", pools),))
            if ev.feasible:
                best = min(best, ev.cost_usd)
    return best


@pytest.mark.parametrize(
    ("units", "deadline", "spot"), [(7, 300.0, False), (13, 500.0, False), (7, 300.0, True)]
)
def test_planners_against_brute_force(units: int, deadline: float, spot: bool) -> None:
    w = tiny(units, deadline, spot)
    optimum = brute_force(w)
    greedy = evaluate(w, plan_greedy(w).stages)
    milp = plan_milp(w, time_limit_s=5)
    assert milp.stages is not None and milp.mip_gap is not None and 0 <= milp.mip_gap < 1e-3
    mcost = evaluate(w, milp.stages).cost_usd
    assert greedy.feasible and greedy.cost_usd >= optimum - 1e-9
    assert mcost == pytest.approx(optimum, rel=1e-6)  # the MILP finds the brute-force optimum here


def test_milp_beats_greedy_when_a_stage_must_mix_spot_and_reserved() -> None:
    w = tiny(13, 500.0, spot=True)  # at most half the GPUs spot: only a mix of pools can use spot
    greedy = make_result("greedy", w, plan_greedy(w).stages, 0.0)
    out = plan_milp(w, time_limit_s=5)
    assert out.stages is not None
    milp = make_result("milp", w, out.stages, 0.0, out.mip_gap)
    assert milp.objective < 0.7 * greedy.objective
    assert milp.to_config()["spot_share"] == pytest.approx(0.5, abs=0.15)
    assert milp.to_config()["mip_gap"] is not None


def test_greedy_plans_the_podcast_within_100_ms_and_meets_ttff() -> None:
    w = podcast(10, "medium", ttff_s=5.0)
    start = time.perf_counter()
    out = plan_greedy(w)
    elapsed = time.perf_counter() - start
    ev = evaluate(w, out.stages)
    assert ev.feasible and ev.ttff_s <= 5.0
    assert elapsed < 0.1 * 3  # 100 ms target, slack for a loaded CI machine


def test_stage_time_splits_whole_units_by_speed() -> None:
    assert stage_time_s(10, [(2.0, 3)]) == 8.0  # ceil(10/3) * 2
    assert stage_time_s(10, [(1.0, 1), (2.0, 1)]) == pytest.approx(7.0)  # 7 + 3 units
    assert stage_time_s(5, []) == float("inf")


def test_bad_input_is_rejected_with_clear_messages() -> None:
    with pytest.raises(UnknownName, match="valid GPU types"):
        PlanWorkload("x", (Stage("g", 1, (Variant("v", 1, 1.0),)),), gpu_types=("A100", "TPU9"))
    with pytest.raises(InvalidInput, match="empty"):
        PlanWorkload("x", ())
    with pytest.raises(InvalidInput, match="empty"):
        PlanWorkload("x", (Stage("g", 0, (Variant("v", 1, 1.0),)),))
    with pytest.raises(InvalidInput):
        ad_variants(100, deadline_h=-1)
    with pytest.raises(InvalidInput, match="quality"):
        podcast(10, "ultra")


def test_impossible_deadline_is_infeasible_for_both_methods() -> None:
    w = tiny(10, 50.0, spot=False)  # one unit takes 40 s on the fastest GPU; 10 units need > 1 per GPU
    w = PlanWorkload(**{**{f: getattr(w, f) for f in w.__dataclass_fields__}, "deadline_s": 10.0})
    assert not evaluate(w, plan_greedy(w).stages).feasible
    stages, _, _ = PLANNERS.get("milp")(w)
    assert stages is None
