"""One provisioning MILP for a makespan cap: variables, rows, and its solve with SciPy's ``milp`` (HiGHS).

Per stage: a binary ``y_l`` per candidate time budget ``T_l`` (exactly one chosen; ``sum_s T_l(s) <=
T_cap``), integer replicas per pool, and a binary ``f`` per pool (where the first unit runs, for the TTFF
row). Per pool an integer server count ``m`` (GPUs are billed in whole servers). Replicas come in two
forms, each the faster one for its use (measured on the presets):

* aggregated (the rate solve): one count ``n_p`` per (stage, pool) and, per budget ``l``,
  ``sum_p n_p * floor(T_l / tau_p) >= units * sum_{l' <= l} y_l'`` (a shorter budget chosen means the
  capacity at every longer one suffices too) — few variables;
* ``per_level`` (the makespan solve, with many budgets): a count ``n_pl`` per (pool, budget), zero unless
  ``y_l``, and ``sum_p n_pl * floor(T_l / tau_p) >= units * y_l`` — the disaggregated form, whose LP
  relaxation is the convex hull of each stage's choices.

Both add ``sum_p n_p * c_p >= sum_l y_l * units / T_l`` (throughput, ``c_p`` the pool's best units per
second over the budgets) and ``m_p >= f_p`` (a pool running a first unit has a whole server): valid rows
that only tighten the LP relaxation (at a 37-s cap of the low podcast: root bound 69 -> 114, optimum 142).
A pool's capacity per replica is capped at ``units`` (more never helps), and budgets whose capacities
all equal a shorter one's are dropped (``distinct_levels``): none of this changes the optimum.
The caller picks the budgets, the pools, optionally the exact servers, and the objective:
``Objective.RATE`` minimises the billing rate; ``Objective.MAKESPAN`` minimises the sum of the budgets
(with every stage-time breakpoint among the budgets, that sum is the plan's makespan).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt
from scipy.optimize import Bounds, LinearConstraint, milp

from reelserve.sched.provision.evaluate import Pool, StagePlan
from reelserve.sched.provision.gpus import gpu_type
from reelserve.sched.provision.workload import PlanWorkload

__all__ = ["CapModel", "Objective", "Solve", "distinct_levels"]

PoolKey = tuple[str, bool]


class Objective(StrEnum):
    """What one solve minimises."""

    RATE = "rate"  #: the billing rate ($/h of the servers)
    MAKESPAN = "makespan"  #: the sum of the stage budgets


@dataclass(frozen=True, slots=True)
class Solve:
    """One HiGHS run."""

    stages: tuple[StagePlan, ...] | None  #: the plan, None when HiGHS found no feasible point
    servers: tuple[int, ...]  #: servers per pool (the model's pool order); empty without a plan
    rate_usd_h: float  #: the billing rate of those servers (0 without a plan)
    gap: float | None  #: HiGHS's relative gap (0 = proven optimal)
    message: str  #: HiGHS's status message
    nodes: int  #: branch-and-bound nodes (the deterministic work measure)


def distinct_levels(levels: Sequence[float], taus: Sequence[float], units: int) -> list[float]:
    """Sorted ``levels`` without those whose capacity on every pool equals a shorter one's.

    A pool's capacity at budget ``t`` is ``min(units, floor(t / tau))`` (more than ``units`` per replica
    never helps), so a longer budget with the same capacities is dominated: same plans, more time.
    """
    kept: list[float] = []
    seen: set[tuple[int, ...]] = set()
    for t in sorted(levels):
        key = tuple(min(units, math.floor(t / tau + 1e-9)) for tau in taus)
        if key not in seen and any(key):
            seen.add(key)
            kept.append(t)
    return kept


class _Rows:
    """Variable blocks, bounds, costs and rows (scratch state of one model)."""

    def __init__(self) -> None:
        self.nv = 0
        self.rows: list[tuple[dict[int, float], float, float]] = []
        self.ub: dict[int, float] = {}
        self.lb: dict[int, float] = {}
        self.cost: dict[int, float] = {}

    def block(self, size: int, ub: float = np.inf) -> list[int]:
        idx = list(range(self.nv, self.nv + size))
        self.nv += size
        self.ub.update(dict.fromkeys(idx, ub))
        return idx

    def row(self, coefs: dict[int, float], lo: float = -np.inf, hi: float = np.inf) -> None:
        self.rows.append((coefs, lo, hi))


class _Stage:
    """One stage's variables and rows, aggregated or disaggregated (see the module docstring)."""

    def __init__(
        self, r: _Rows, w: PlanWorkload, s: int, taus: list[float], levels: list[float], per_level: bool
    ) -> None:
        stage = w.stages[s]
        self.name, self.units = stage.name, stage.units
        self.variant = stage.variant(w.min_quality)
        self.taus, self.levels = taus, levels
        self.most = w.max_gpus // self.variant.gpus_per_instance
        self.y = r.block(len(levels), 1.0)
        self.n = [r.block(len(levels) if per_level else 1) for _ in taus]
        self.f = r.block(len(taus), 1.0)
        r.row(dict.fromkeys(self.y, 1.0), 1.0, 1.0)
        r.row(dict.fromkeys(self.f, 1.0), 1.0, 1.0)
        for p in range(len(taus)):
            r.row({self.f[p]: 1.0, **dict.fromkeys(self.n[p], -1.0)}, hi=0.0)
        for li in range(len(levels)):
            col = li if per_level else 0
            work = {self.n[p][col]: float(self.per(p, li)) for p in range(len(taus))}
            if per_level:
                r.row({**work, self.y[li]: -float(stage.units)}, lo=0.0)
            else:
                r.row({**work, **dict.fromkeys(self.y[: li + 1], -float(stage.units))}, lo=0.0)
        self._throughput(r)
        if per_level:
            self._link(r)
        else:
            for p in range(len(taus)):
                # more replicas than the shortest usable budget needs would idle: a tighter relaxation
                per = next((c for c in (self.per(p, li) for li in range(len(levels))) if c > 0), 0)
                r.ub[self.n[p][0]] = self._most(per)

    def per(self, p: int, li: int) -> int:
        """Units one replica of pool ``p`` finishes within budget ``li`` (at most all of them)."""
        return min(self.units, math.floor(self.levels[li] / self.taus[p] + 1e-9))

    def _most(self, per: int) -> float:
        return min(self.most, math.ceil(self.units / per)) if per > 0 else 0.0

    def _throughput(self, r: _Rows) -> None:
        """Units per second at least ``units / T_l``: valid, and in the LP it prices a mix of budgets
        at (about) its harmonic mean, not its arithmetic one — the cut that tightens the rate model most.
        """
        best = [
            max((self.per(p, li) / t for li, t in enumerate(self.levels)), default=0.0)
            for p in range(len(self.taus))
        ]
        speed = {j: best[p] for p in range(len(self.taus)) for j in self.n[p]}
        r.row({**speed, **{self.y[li]: -self.units / t for li, t in enumerate(self.levels)}}, lo=0.0)

    def _link(self, r: _Rows) -> None:
        """Replicas at a budget only when that budget is chosen.

        A pool too slow for the budget may still hold idle replicas (up to ``most``): the rate solve may
        have placed some there (they count toward the spot share), and its plan must stay feasible here.
        """
        for p in range(len(self.taus)):
            for li, j in enumerate(self.n[p]):
                per = self.per(p, li)
                r.ub[j] = self._most(per) if per > 0 else float(self.most)
                r.row({j: 1.0, self.y[li]: -r.ub[j]}, hi=0.0)

    def plan(self, x: npt.NDArray[np.int64], pools: Sequence[PoolKey]) -> StagePlan:
        chosen = tuple(Pool(g, sp, int(sum(x[j] for j in self.n[p]))) for p, (g, sp) in enumerate(pools))
        return StagePlan(self.name, self.variant.name, tuple(p for p in chosen if p.instances > 0))


class CapModel:
    """The MILP for one cap over ``pools``; ``taus[s][p]`` and ``levels[s]`` per stage."""

    def __init__(
        self,
        w: PlanWorkload,
        t_cap: float,
        pools: Sequence[PoolKey],
        taus: Sequence[list[float]],
        levels: Sequence[list[float]],
        servers: Sequence[int] | None = None,
        per_level: bool = False,
    ) -> None:
        self.pools = list(pools)
        r = self._r = _Rows()
        self.stages = [_Stage(r, w, s, taus[s], levels[s], per_level) for s in range(len(w.stages))]
        r.row({sv.y[li]: t for sv in self.stages for li, t in enumerate(sv.levels)}, hi=t_cap)
        if w.ttff_s is not None:
            r.row({sv.f[p]: tau for sv in self.stages for p, tau in enumerate(sv.taus)}, hi=w.ttff_s)
        self.servers = r.block(len(pools))
        gpus_of = [
            {j: float(sv.variant.gpus_per_instance) for sv in self.stages for j in sv.n[p]}
            for p in range(len(pools))
        ]
        self.rate: dict[int, float] = {}
        for p, (g, spot) in enumerate(pools):
            r.row({**gpus_of[p], self.servers[p]: -float(w.server_gpus)}, hi=0.0)
            for sv in self.stages:  # the pool that runs a first unit has a server (not just a fraction)
                r.row({self.servers[p]: 1.0, sv.f[p]: -1.0}, lo=0.0)
            self.rate[self.servers[p]] = gpu_type(g, w.catalog).price(spot) * w.server_gpus
            if servers is not None:
                # exactly these servers, each pool filled past its last-but-one server: the same rate
                r.lb[self.servers[p]] = r.ub[self.servers[p]] = float(servers[p])
                r.row(gpus_of[p], lo=float(w.server_gpus * (servers[p] - 1) + 1))
        r.row({j: c for g in gpus_of for j, c in g.items()}, hi=float(w.max_gpus))
        share = w.max_spot_share
        r.row(
            {j: c * (float(pools[p][1]) - share) for p, g in enumerate(gpus_of) for j, c in g.items()}, hi=0.0
        )

    def _arrays(self, objective: Objective) -> tuple[npt.NDArray[np.float64], Bounds, LinearConstraint]:
        r = self._r
        if objective is Objective.RATE:
            cost = self.rate
        else:
            cost = {sv.y[li]: t for sv in self.stages for li, t in enumerate(sv.levels)}
        a = np.zeros((len(r.rows), r.nv))
        for i, (coefs, _, _) in enumerate(r.rows):
            for j, c in coefs.items():
                a[i, j] += c
        bounds = Bounds(
            np.array([r.lb.get(j, 0.0) for j in range(r.nv)]), np.array([r.ub[j] for j in range(r.nv)])
        )
        rows = LinearConstraint(a, [x[1] for x in r.rows], [x[2] for x in r.rows])
        return np.array([cost.get(j, 0.0) for j in range(r.nv)]), bounds, rows

    def relaxation(self, objective: Objective) -> float:
        """The LP relaxation's optimum: a lower bound on every integer plan's (inf when infeasible)."""
        c, bounds, rows = self._arrays(objective)
        res = milp(c, integrality=np.zeros(len(c)), bounds=bounds, constraints=rows)
        return math.inf if res.fun is None else float(res.fun)

    def solve(
        self, objective: Objective, time_limit_s: float, node_limit: int, presolve: bool = True
    ) -> Solve:
        """Solve to a 1e-4 relative gap, or until ``node_limit`` nodes (or the wall-clock safety net)."""
        c, bounds, rows = self._arrays(objective)
        res = milp(
            c,
            integrality=np.ones(len(c)),
            bounds=bounds,
            constraints=rows,
            options={
                "time_limit": time_limit_s,
                "mip_rel_gap": 1e-4,
                "node_limit": node_limit,
                "presolve": presolve,
            },
        )
        gap = getattr(res, "mip_gap", None)
        nodes = int(getattr(res, "mip_node_count", 0) or 0)
        if res.x is None:
            return Solve(None, (), 0.0, None, str(res.message), nodes)
        x = np.round(res.x).astype(np.int64)
        plan = tuple(sv.plan(x, self.pools) for sv in self.stages)
        servers = tuple(int(x[j]) for j in self.servers)
        rate = sum(n * self.rate[j] for n, j in zip(servers, self.servers, strict=True))
        return Solve(plan, servers, rate, None if gap is None else float(gap), str(res.message), nodes)
