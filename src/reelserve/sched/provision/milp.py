"""MILP planner (SciPy's ``milp``, i.e. HiGHS): a sweep of makespan caps, up to two solves per cap.

The true objective (cost x TTFF, or cost under a deadline) is bilinear in billing rate and makespan, so
the planner solves a sweep of caps ``T_cap`` and keeps the plan the shared evaluator scores best.
Per cap (the model: ``milp_model.CapModel``):

1. **rate** — the cheapest billing rate whose stage budgets, each from a grid of the cap, fit in
   ``T_cap`` (pools may mix within a stage, which the greedy cannot do);
2. **makespan** — on exactly the servers that solve bought (so at the same rate), the shortest
   makespan: every stage-time breakpoint ``k * tau`` is a budget, so the sum of budgets is the makespan.
   Many plans share the optimal rate; this picks among them by what the evaluator charges for, instead
   of by whichever one HiGHS met first. The rate solve's own plan is one of them, so this never does
   worse than it. Caps are taken best first; a cap is skipped when the LP relaxation's makespan at that
   rate already cannot beat the best plan so far (a bound: the skip never loses the winner).

What stops a solve is work done: a 1e-4 relative gap or ``NODE_LIMIT`` branch-and-bound nodes. The
wall-clock ``time_limit_s`` is each solve's safety net only, far above what the presets need (the
slowest solve takes about 2 s of CPU), so the plan and the gap do not depend on how busy the machine
is. ``mip_gap`` is the larger of the two solves' gaps for the kept plan.
Variants: the cheapest of enough quality (the greedy may pick another).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from reelserve.sched.provision.evaluate import StagePlan, evaluate, unit_time_s
from reelserve.sched.provision.milp_model import CapModel, Objective, Solve, distinct_levels
from reelserve.sched.provision.result import objective_value
from reelserve.sched.provision.workload import PlanWorkload

__all__ = ["NODE_LIMIT", "MilpOutcome", "plan_milp", "solve_for_cap"]

LEVELS = 10
NODE_LIMIT = 1_000  #: branch-and-bound nodes per solve: the deterministic stop (presets need <= 170)
MAX_BREAKPOINTS = 200  #: per stage in the makespan solve; more (a long cap on few GPUs) skips it


@dataclass(frozen=True, slots=True)
class MilpOutcome:
    """The best plan over the sweep."""

    stages: tuple[StagePlan, ...] | None  #: None when no cap was feasible
    mip_gap: float | None  #: HiGHS's relative gap for the kept plan (0 = proven optimal)
    solves: int  #: MILPs solved
    status: str  #: HiGHS's message for the kept plan (or the last one)


def _pools(w: PlanWorkload) -> list[tuple[str, bool]]:
    return [(g, False) for g in w.gpu_types] + ([(g, True) for g in w.gpu_types] if w.allow_spot else [])


def _taus(w: PlanWorkload, pools: list[tuple[str, bool]]) -> list[list[float]]:
    return [[unit_time_s(w, s, s.variant(w.min_quality).name, g, sp) for g, sp in pools] for s in w.stages]


def _grid(t_cap: float, taus: list[float]) -> list[float]:
    """Candidate stage budgets: a linear grid of the cap, plus one and two units on the fastest pool."""
    grid = {t_cap * k / LEVELS for k in range(1, LEVELS + 1)}
    grid |= {min(taus) * k for k in (1, 2) if min(taus) * k <= t_cap}
    return sorted(grid)


def _rate_solve(w: PlanWorkload, t_cap: float, time_limit_s: float) -> Solve:
    pools = _pools(w)
    taus = _taus(w, pools)
    levels = [distinct_levels(_grid(t_cap, t), t, s.units) for t, s in zip(taus, w.stages, strict=True)]
    if not all(levels):
        return Solve(None, (), 0.0, None, "infeasible: a stage cannot finish one unit within the cap", 0)
    # the aggregated model is small: HiGHS's presolve costs more than it saves there (measured, ~25%)
    return CapModel(w, t_cap, pools, taus, levels).solve(
        Objective.RATE, time_limit_s, NODE_LIMIT, presolve=False
    )


@dataclass(frozen=True, slots=True)
class _Servers:
    """The open pools of a rate solve and what they allow: the input of the makespan solve."""

    pools: list[tuple[str, bool]]  #: pools with at least one server
    servers: list[int]  #: their server counts (the makespan solve keeps exactly these)
    taus: list[list[float]]  #: per stage, seconds per unit on each open pool
    shortest: list[float]  #: per stage, a lower bound on its time on these servers

    @classmethod
    def of(cls, w: PlanWorkload, solve: Solve) -> _Servers:
        pools = [p for p, n in zip(_pools(w), solve.servers, strict=True) if n > 0]
        servers = [n for n in solve.servers if n > 0]
        taus = _taus(w, pools)
        shortest = []
        for s, ts in zip(w.stages, taus, strict=True):
            g = s.variant(w.min_quality).gpus_per_instance
            speed = sum(math.floor(w.server_gpus * n / g) / tau for n, tau in zip(servers, ts, strict=True))
            shortest.append(max(min(ts), s.units / speed if speed > 0 else math.inf) * (1 - 1e-9))
        return cls(pools, servers, taus, shortest)

    def bound(self, w: PlanWorkload, rate_usd_h: float, makespan_s: float) -> float:
        """The objective of a plan at this rate and makespan, taking TTFF at its lower bound."""
        cost = rate_usd_h * makespan_s / 3600.0
        if w.objective != "cost_x_ttff":
            return cost
        return cost * max(sum(min(ts) for ts in self.taus), makespan_s - w.video_s)

    def breakpoints(self, w: PlanWorkload, t_cap: float) -> list[list[float]] | None:
        """Per stage, every time ``k * tau`` a stage could end at on these pools within the cap."""
        out = []
        for s, (stage, ts) in enumerate(zip(w.stages, self.taus, strict=True)):
            lo = self.shortest[s]
            hi = t_cap - (sum(self.shortest) - lo)
            cand = {
                k * tau
                for tau in ts
                for k in range(
                    max(1, math.ceil(lo / tau - 1e-9)), min(stage.units, math.floor(hi / tau + 1e-9)) + 1
                )
            }
            levels = distinct_levels(sorted(cand), ts, stage.units)
            if not levels or len(levels) > MAX_BREAKPOINTS:
                return None
            out.append(levels)
        return out


def _makespan_model(w: PlanWorkload, t_cap: float, sv: _Servers) -> CapModel | None:
    levels = sv.breakpoints(w, t_cap)
    if levels is None:
        return None
    return CapModel(w, t_cap, sv.pools, sv.taus, levels, servers=sv.servers, per_level=True)


def solve_for_cap(
    w: PlanWorkload, t_cap: float, time_limit_s: float = 5.0
) -> tuple[tuple[StagePlan, ...] | None, float | None, str]:
    """The cheapest billing rate whose stage budgets fit in ``t_cap`` (the rate solve alone)."""
    out = _rate_solve(w, t_cap, time_limit_s)
    return out.stages, out.gap, out.message


def _caps(w: PlanWorkload) -> list[float]:
    limits = [x for x in (w.deadline_s, None if w.ttff_s is None else w.ttff_s + w.video_s) if x is not None]
    fast = sum(
        min(unit_time_s(w, s, s.variant(w.min_quality).name, g, False) for g in w.gpu_types) for s in w.stages
    )
    if limits:
        top = min(limits)
        return sorted(
            {float(c) for c in np.geomspace(top, max(min(top, fast * 1.5), top / 50), 8)}, reverse=True
        )
    slow = sum(
        s.units * unit_time_s(w, s, s.variant(w.min_quality).name, w.gpu_types[0], False) for s in w.stages
    )
    caps = list(np.geomspace(max(fast, 1e-3), max(slow, fast * 2), 10))
    if fast < w.video_s < slow:
        caps.append(w.video_s + fast)
    return sorted(float(c) for c in caps)


def _max_gap(*gaps: float | None) -> float | None:
    return None if any(g is None for g in gaps) else max(g for g in gaps if g is not None)


def _status(rate: Solve, makespan: Solve) -> str:
    """The message of the solve that stopped short of its gap (the rate solve's when neither or both did)."""
    return makespan.message if not rate.gap and makespan.gap else rate.message


def plan_milp(w: PlanWorkload, time_limit_s: float = 10.0) -> MilpOutcome:
    """Solve the sweep of caps (a rate solve each, then a makespan solve where it can win); keep the best.

    ``time_limit_s`` is each solve's wall-clock safety net; the node limit is what stops a solve.
    """
    caps = _caps(w)
    best: tuple[float, tuple[StagePlan, ...], float | None, str] | None = None
    rated: list[tuple[float, float, Solve]] = []
    status, solves = "no solve", 0
    for cap in caps:
        out = _rate_solve(w, cap, time_limit_s)
        solves += 1
        status = out.message
        if out.stages is None:
            continue
        value = objective_value(w, evaluate(w, out.stages))
        if math.isfinite(value) and (best is None or value < best[0]):
            best = (value, out.stages, out.gap, out.message)
        rated.append((value, cap, out))
    # the most promising caps first, so the bound skips as many of the others as it can
    for _, cap, out in sorted(rated, key=lambda r: (r[0], r[1])):
        servers = _Servers.of(w, out)
        model = _makespan_model(w, cap, servers)
        if model is None:
            continue
        lower = servers.bound(w, out.rate_usd_h, model.relaxation(Objective.MAKESPAN))
        if best is not None and lower >= best[0]:
            continue  # no plan on these servers within this cap can win
        second = model.solve(Objective.MAKESPAN, time_limit_s, NODE_LIMIT)
        solves += 1
        if second.stages is None:
            continue
        value = objective_value(w, evaluate(w, second.stages))
        if math.isfinite(value) and (best is None or value < best[0]):
            best = (value, second.stages, _max_gap(out.gap, second.gap), _status(out, second))
    if best is None:
        return MilpOutcome(None, None, solves, status)
    return MilpOutcome(best[1], best[2], solves, best[3])
