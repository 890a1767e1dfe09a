"""MILP planner (SciPy's ``milp``, i.e. HiGHS): binary time budget per stage, integer replicas per pool.

For a makespan cap ``T_cap`` it chooses, per stage, one time budget ``T_l`` (binary ``y``) with
``sum_s T_l(s) <= T_cap``, and per (stage, GPU type, spot) pool an integer replica count ``n`` so that
``sum_p n_p * floor(T_l / tau_p) >= units`` (each replica does whole units). GPUs of each pool are billed
in whole servers (integer ``m``). It minimises the billing rate (plus a tiny tie-break toward shorter
makespans). Pools may mix within a stage, which the greedy cannot do. The true objective (cost x TTFF,
or cost under a deadline) is bilinear, so the planner solves a sweep of caps and keeps the best plan
by the shared evaluator. ``mip_gap`` is HiGHS's relative gap of the solve that produced the kept plan.
Variants: the cheapest of enough quality (the greedy may pick another).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.optimize import Bounds, LinearConstraint, milp

from reelserve.sched.provision.evaluate import Pool, StagePlan, evaluate, unit_time_s
from reelserve.sched.provision.gpus import gpu_type
from reelserve.sched.provision.result import objective_value
from reelserve.sched.provision.workload import PlanWorkload

__all__ = ["MilpOutcome", "plan_milp", "solve_for_cap"]

LEVELS = 10


@dataclass(frozen=True, slots=True)
class MilpOutcome:
    """The best plan over the sweep."""

    stages: tuple[StagePlan, ...] | None  #: None when no cap was feasible
    mip_gap: float | None  #: HiGHS's relative gap for the kept plan (0 = proven optimal)
    solves: int  #: MILPs solved
    status: str  #: HiGHS's message for the kept plan (or the last one)


def _pools(w: PlanWorkload) -> list[tuple[str, bool]]:
    return [(g, False) for g in w.gpu_types] + ([(g, True) for g in w.gpu_types] if w.allow_spot else [])


def _levels(t_cap: float, taus: list[float]) -> list[float]:
    """Candidate stage budgets: a linear grid of the cap, plus one and two units on the fastest pool."""
    grid = {t_cap * k / LEVELS for k in range(1, LEVELS + 1)}
    grid |= {min(taus) * k for k in (1, 2) if min(taus) * k <= t_cap}
    return sorted(grid)


class _Model:
    """Variable blocks, bounds, costs and rows of one MILP (scratch state of one solve)."""

    def __init__(self) -> None:
        self.nv = 0
        self.rows: list[tuple[dict[int, float], float, float]] = []
        self.ub: dict[int, float] = {}
        self.cost: dict[int, float] = {}

    def block(self, size: int, ub: float = np.inf) -> list[int]:
        idx = list(range(self.nv, self.nv + size))
        self.nv += size
        for j in idx:
            self.ub[j] = ub
        return idx

    def row(self, coefs: dict[int, float], lo: float = -np.inf, hi: float = np.inf) -> None:
        self.rows.append((coefs, lo, hi))

    def solve(self, time_limit_s: float) -> tuple[npt.NDArray[np.float64] | None, float | None, str]:
        a = np.zeros((len(self.rows), self.nv))
        for r, (coefs, _, _) in enumerate(self.rows):
            for j, c in coefs.items():
                a[r, j] += c
        res = milp(
            np.array([self.cost.get(j, 0.0) for j in range(self.nv)]),
            integrality=np.ones(self.nv),
            bounds=Bounds(np.zeros(self.nv), np.array([self.ub[j] for j in range(self.nv)])),
            constraints=LinearConstraint(a, [r[1] for r in self.rows], [r[2] for r in self.rows]),
            options={"time_limit": time_limit_s, "mip_rel_gap": 1e-4},
        )
        gap = getattr(res, "mip_gap", None)
        return res.x, (None if gap is None else float(gap)), str(res.message)


class _StageVars:
    """One stage's variables: y (time budget), n (replicas per pool and budget), f (first-unit pool)."""

    def __init__(
        self, m: _Model, w: PlanWorkload, s: int, pools: list[tuple[str, bool]], t_cap: float
    ) -> None:
        stage = w.stages[s]
        self.variant = stage.variant(w.min_quality)
        self.taus = [unit_time_s(w, stage, self.variant.name, g, spot) for g, spot in pools]
        self.levels = _levels(t_cap, self.taus)
        self.y = m.block(len(self.levels), 1.0)
        self.n = [m.block(len(self.levels)) for _ in pools]
        self.f = m.block(len(pools), 1.0)
        most = w.max_gpus // self.variant.gpus_per_instance
        m.row(dict.fromkeys(self.y, 1.0), 1.0, 1.0)
        m.row(dict.fromkeys(self.f, 1.0), 1.0, 1.0)
        work: dict[int, float] = {}
        for p, tau in enumerate(self.taus):
            for li, t_l in enumerate(self.levels):
                j = self.n[p][li]
                per = math.floor(t_l / tau + 1e-9)
                # more replicas than units / per would idle; the bound keeps the relaxation tight
                m.ub[j] = min(most, math.ceil(stage.units / per)) if per > 0 else 0
                work[j] = float(per)
                m.row({j: 1.0, self.y[li]: -m.ub[j]}, hi=0.0)
            m.row({self.f[p]: 1.0, **dict.fromkeys(self.n[p], -1.0)}, hi=0.0)
        m.row(work, lo=float(stage.units))

    def plan(self, x: npt.NDArray[np.int64], name: str, pools: list[tuple[str, bool]]) -> StagePlan:
        chosen = tuple(Pool(g, sp, int(sum(x[j] for j in self.n[p]))) for p, (g, sp) in enumerate(pools))
        return StagePlan(name, self.variant.name, tuple(p for p in chosen if p.instances > 0))


def solve_for_cap(
    w: PlanWorkload, t_cap: float, time_limit_s: float = 5.0
) -> tuple[tuple[StagePlan, ...] | None, float | None, str]:
    """One MILP: the cheapest billing rate whose stage budgets fit in ``t_cap``."""
    pools = _pools(w)
    m = _Model()
    stages = [_StageVars(m, w, s, pools, t_cap) for s in range(len(w.stages))]
    m.row({sv.y[li]: t for sv in stages for li, t in enumerate(sv.levels)}, hi=t_cap)
    if w.ttff_s is not None:
        m.row({sv.f[p]: tau for sv in stages for p, tau in enumerate(sv.taus)}, hi=w.ttff_s)
    servers = m.block(len(pools))
    gpus_of = [
        {j: float(sv.variant.gpus_per_instance) for sv in stages for j in sv.n[p]} for p in range(len(pools))
    ]
    for p, (g, spot) in enumerate(pools):
        m.row({**gpus_of[p], servers[p]: -float(w.server_gpus)}, hi=0.0)
        m.cost[servers[p]] = gpu_type(g, w.catalog).price(spot) * w.server_gpus
    m.row({j: c for g in gpus_of for j, c in g.items()}, hi=float(w.max_gpus))
    share = w.max_spot_share
    m.row({j: c * (float(pools[p][1]) - share) for p, g in enumerate(gpus_of) for j, c in g.items()}, hi=0.0)
    eps = 1e-4 * min(m.cost[j] for j in servers) / t_cap  # tie-break toward shorter stage budgets
    for sv in stages:
        for li, t in enumerate(sv.levels):
            m.cost[sv.y[li]] = eps * t
    x, gap, msg = m.solve(time_limit_s)
    if x is None:
        return None, None, msg
    xi = np.round(x).astype(np.int64)
    return tuple(sv.plan(xi, st.name, pools) for sv, st in zip(stages, w.stages, strict=True)), gap, msg


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


def plan_milp(w: PlanWorkload, time_limit_s: float = 10.0) -> MilpOutcome:
    """Solve a sweep of makespan caps and keep the plan the shared evaluator scores best."""
    caps = _caps(w)
    best: tuple[float, tuple[StagePlan, ...], float | None, str] | None = None
    status = "no solve"
    for cap in caps:
        plan, gap, status = solve_for_cap(w, cap, time_limit_s / len(caps))
        if plan is None:
            continue
        value = objective_value(w, evaluate(w, plan))
        if math.isfinite(value) and (best is None or value < best[0]):
            best = (value, plan, gap, status)
    if best is None:
        return MilpOutcome(None, None, len(caps), status)
    return MilpOutcome(best[1], best[2], len(caps), best[3])
