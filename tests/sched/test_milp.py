"""The MILP planner's sweep: the makespan solve and its skip never lose a plan, and it is repeatable."""

from __future__ import annotations

import itertools
import math

import pytest

from reelserve.sched.provision import milp
from reelserve.sched.provision.evaluate import Pool, StagePlan, evaluate
from reelserve.sched.provision.gpus import GpuType
from reelserve.sched.provision.milp_model import Objective, distinct_levels
from reelserve.sched.provision.result import objective_value
from reelserve.sched.provision.workload import PlanWorkload, Stage, Variant, podcast

CATALOG = {"A": GpuType("A", 1.0, 1.0, 0.4, 80), "B": GpuType("B", 2.5, 3.0, 1.0, 80)}


def two_stage(objective: str) -> PlanWorkload:
    """Two stages that share servers: the plan's makespan depends on how the GPUs are split."""
    stages = (Stage("a", 5, (Variant("va", 1, 60.0),)), Stage("b", 9, (Variant("vb", 1, 30.0),)))
    deadline = 400.0 if objective == "cost_deadline" else None
    return PlanWorkload(
        "two", stages, 60.0, 1, objective, deadline, None, ("A", "B"), True, 0.5, 16, 4, 60.0, CATALOG
    )


def value(w: PlanWorkload, stages: tuple[object, ...] | None) -> float:
    assert stages is not None
    return objective_value(w, evaluate(w, stages))  # type: ignore[arg-type]


def exhaustive(w: PlanWorkload) -> float:
    """The sweep without the skip: every cap's rate plan and its makespan plan, the best of all."""
    best = math.inf
    for cap in milp._caps(w):
        out = milp._rate_solve(w, cap, 30.0)
        if out.stages is None:
            continue
        best = min(best, value(w, out.stages))
        model = milp._makespan_model(w, cap, milp._Servers.of(w, out))
        if model is not None:
            second = model.solve(Objective.MAKESPAN, 30.0, milp.NODE_LIMIT)
            if second.stages is not None:
                best = min(best, value(w, second.stages))
    return best


@pytest.mark.parametrize("objective", ["cost_deadline", "cost_x_ttff"])
def test_the_skip_never_removes_the_best_plan(objective: str) -> None:
    w = two_stage(objective)
    out = milp.plan_milp(w, time_limit_s=30.0)
    assert value(w, out.stages) == pytest.approx(exhaustive(w), rel=1e-12)


@pytest.mark.parametrize("objective", ["cost_deadline", "cost_x_ttff"])
def test_the_makespan_solve_never_loses_to_the_plain_rate_solve(objective: str) -> None:
    w = two_stage(objective)
    plain = min(
        value(w, stages)
        for stages, _, _ in (milp.solve_for_cap(w, cap, 30.0) for cap in milp._caps(w))
        if stages is not None
    )
    out = milp.plan_milp(w, time_limit_s=30.0)
    assert out.mip_gap is not None and out.mip_gap < 1e-3
    assert value(w, out.stages) <= plain + 1e-12


def shortest_on(w: PlanWorkload, pools: list[tuple[str, bool]], servers: list[int], cap: float) -> float:
    """Brute force: the shortest feasible makespan within ``cap`` on exactly these servers."""
    most = [n * w.server_gpus for n in servers]
    best = math.inf
    for counts in itertools.product(*[range(m + 1) for m in most] * len(w.stages)):
        per_stage = [counts[i * len(pools) : (i + 1) * len(pools)] for i in range(len(w.stages))]
        used = [sum(c[p] for c in per_stage) for p in range(len(pools))]
        if any(not (m - w.server_gpus < u <= m) for u, m in zip(used, most, strict=True)):
            continue  # not exactly these servers
        plan = tuple(
            StagePlan(
                st.name,
                st.variants[0].name,
                tuple(Pool(g, sp, n) for (g, sp), n in zip(pools, c, strict=True) if n),
            )
            for st, c in zip(w.stages, per_stage, strict=True)
        )
        if all(sp.pools for sp in plan):
            ev = evaluate(w, plan)
            if ev.feasible and ev.makespan_s <= cap + 1e-9:
                best = min(best, ev.makespan_s)
    return best


def test_the_makespan_solve_finds_the_shortest_plan_on_the_same_servers() -> None:
    w = two_stage("cost_deadline")
    shortened = 0
    for cap in milp._caps(w):
        first = milp._rate_solve(w, cap, 30.0)
        assert first.stages is not None
        servers = milp._Servers.of(w, first)
        if len(servers.pools) > 2:
            continue  # keep the brute force small
        model = milp._makespan_model(w, cap, servers)
        assert model is not None
        second = model.solve(Objective.MAKESPAN, 30.0, milp.NODE_LIMIT)
        assert second.stages is not None
        a, b = evaluate(w, first.stages), evaluate(w, second.stages)
        assert b.usd_per_h == pytest.approx(a.usd_per_h) and b.feasible
        assert b.makespan_s == pytest.approx(shortest_on(w, servers.pools, servers.servers, cap))
        shortened += b.makespan_s < a.makespan_s - 1e-9
    assert shortened >= 1  # the rate solve's own tie is not always the shortest


def test_same_workload_same_plan_and_gap() -> None:
    w = two_stage("cost_x_ttff")
    assert milp.plan_milp(w, time_limit_s=30.0) == milp.plan_milp(w, time_limit_s=30.0)


def test_budgets_with_the_same_capacities_as_a_shorter_one_are_dropped() -> None:
    # capacities per replica (capped at 2 units) on pools of 2 s and 3 s per unit:
    # 1 s (0, 0) none, 2 s (1, 0), 2.5 s (1, 0), 3 s (1, 1), 4 s (2, 1), 5 s (2, 1), 6 s (2, 2), 7 s (2, 2)
    assert distinct_levels([7, 6, 5, 4, 3, 2.5, 2, 1], [2.0, 3.0], units=2) == [2, 3, 4, 6]


def test_a_node_limited_stop_reports_its_gap_and_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(milp, "NODE_LIMIT", 1)  # the low podcast's short caps need 30-170 nodes
    w = podcast(10, "low", 5.0)
    out = milp.plan_milp(w)
    assert out.stages is not None and evaluate(w, out.stages).feasible
    assert out.mip_gap is not None and out.mip_gap > 1e-3
    assert "limit" in out.status
