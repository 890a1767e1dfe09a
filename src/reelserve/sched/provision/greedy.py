"""Greedy hill-climbing planner (StreamWise's moves).

Start with one GPU per model (the cheapest type, reserved, the cheapest variant of enough quality).
Moves, per stage: add or remove a replica, double or halve the replicas, change the GPU type
(including spot), change the variant. Take the best move while it improves ``(violation, objective)``
lexicographically — deadline/TTFF violations are removed first, then cost x TTFF (or cost) is lowered.
One pool per stage: the greedy never mixes GPU types within a stage (the MILP may).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

from reelserve.sched.provision.evaluate import Pool, StagePlan, evaluate
from reelserve.sched.provision.gpus import gpu_type
from reelserve.sched.provision.result import objective_value
from reelserve.sched.provision.workload import PlanWorkload

__all__ = ["GreedyOutcome", "plan_greedy"]


@dataclass(frozen=True, slots=True)
class GreedyOutcome:
    """The greedy's final configuration and how many moves it took."""

    stages: tuple[StagePlan, ...]  #: one pool per stage
    iterations: int  #: improving moves applied


def _score(w: PlanWorkload, plan: tuple[StagePlan, ...]) -> tuple[float, float]:
    ev = evaluate(w, plan)
    if not ev.feasible:
        return (ev.violation_s, ev.cost_usd)
    return (0.0, objective_value(w, ev))


def _neighbours(w: PlanWorkload, plan: tuple[StagePlan, ...]) -> Iterator[tuple[StagePlan, ...]]:
    kinds = [(g, False) for g in w.gpu_types] + ([(g, True) for g in w.gpu_types] if w.allow_spot else [])
    for i, sp in enumerate(plan):
        pool = sp.pools[0]
        n = pool.instances
        stage = w.stages[i]
        options = [
            replace(sp, pools=(replace(pool, instances=m),)) for m in {n + 1, n - 1, 2 * n, (n + 1) // 2}
        ]
        options += [
            replace(sp, pools=(Pool(g, spot, n),)) for g, spot in kinds if (g, spot) != (pool.gpu, pool.spot)
        ]
        options += [
            replace(sp, variant=v.name)
            for v in stage.variants
            if v.quality >= w.min_quality and v.name != sp.variant
        ]
        for option in options:
            if option.pools[0].instances >= 1 and option != sp:
                yield (*plan[:i], option, *plan[i + 1 :])


def plan_greedy(w: PlanWorkload, max_moves: int = 5000) -> GreedyOutcome:
    """Hill-climb from one GPU per model until no move improves the plan."""
    cheapest = min(w.gpu_types, key=lambda g: (gpu_type(g, w.catalog).reserved_usd_h, g))
    plan = tuple(
        StagePlan(s.name, s.variant(w.min_quality).name, (Pool(cheapest, False, 1),)) for s in w.stages
    )
    score = _score(w, plan)
    moves = 0
    while moves < max_moves:
        best = min(((_score(w, p), p) for p in _neighbours(w, plan)), key=lambda x: x[0], default=None)
        if best is None or best[0] >= score:
            break
        score, plan = best
        moves += 1
    return GreedyOutcome(plan, moves)
