"""The plan evaluator shared by every planner (StreamWise's model).

Work of a stage is split across its instances by speed in whole units; a stage lasts as long as its
slowest instance; stages run one after another, so the makespan ``T`` is their sum. The first chunk
is one unit through every stage on the stage's fastest instance; ``TTFF = max(first chunk, T - video)``.
Cost rounds each (type, spot) pool up to whole servers: ``servers x server_gpus x T/3600 x $/GPU-h``.
Spot GPUs run slower by the expected work lost to evictions: each eviction loses ``resume_s``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from reelserve.sched.provision.gpus import gpu_type
from reelserve.sched.provision.workload import PlanWorkload, Stage

__all__ = ["Evaluation", "Pool", "StagePlan", "evaluate", "spot_derate", "stage_time_s", "unit_time_s"]


@dataclass(frozen=True, slots=True)
class Pool:
    """Replicas of one stage on one kind of GPU."""

    gpu: str  #: GPU type name
    spot: bool  #: spot (evictable) or reserved
    instances: int  #: replicas; each uses the variant's gpus_per_instance GPUs


@dataclass(frozen=True, slots=True)
class StagePlan:
    """How one stage runs."""

    stage: str  #: stage name
    variant: str  #: the model variant chosen
    pools: tuple[Pool, ...]  #: where its replicas run (greedy: one pool; the MILP may mix)


@dataclass(frozen=True, slots=True)
class Evaluation:
    """What a plan costs and how fast it is."""

    makespan_s: float  #: all stages done
    ttff_s: float  #: time to first frame
    first_chunk_s: float  #: one unit through every stage
    cost_usd: float  #: expected cost of the run
    usd_per_h: float  #: billing rate while it runs
    gpus: int  #: GPUs in use
    spot_share: float  #: fraction of the GPUs that are spot
    violation_s: float  #: how far past the deadline/TTFF limits (0 = feasible)

    @property
    def feasible(self) -> bool:
        return self.violation_s <= 1e-9


def spot_derate(w: PlanWorkload, gpu: str, spot: bool) -> float:
    """Fraction of its speed a GPU keeps once expected eviction losses are counted."""
    if not spot:
        return 1.0
    g = gpu_type(gpu, w.catalog)
    return 1.0 - min(0.5, g.evictions_per_h * w.resume_s / 3600.0)


def unit_time_s(w: PlanWorkload, stage: Stage, variant: str, gpu: str, spot: bool) -> float:
    """Seconds one instance of ``variant`` on ``gpu`` takes per unit of work."""
    v = next(x for x in stage.variants if x.name == variant)
    return v.unit_gpu_s / (gpu_type(gpu, w.catalog).speed * spot_derate(w, gpu, spot))


def stage_time_s(units: int, pools: Sequence[tuple[float, int]]) -> float:
    """Shortest time to finish ``units`` on pools of (seconds per unit, instances), whole units each."""
    pools = [(tau, n) for tau, n in pools if n > 0]
    if not pools:
        return math.inf
    if len(pools) == 1:
        tau, n = pools[0]
        return math.ceil(units / n) * tau
    rate = sum(n / tau for tau, n in pools)
    lo = units / rate
    hi = lo + sum(n for _, n in pools) / rate + max(tau for tau, _ in pools)
    candidates = sorted(
        {k * tau for tau, _ in pools for k in range(math.floor(lo / tau), math.ceil(hi / tau) + 1)}
    )
    for t in candidates:
        if sum(n * math.floor(t / tau + 1e-9) for tau, n in pools) >= units:
            return t
    return hi  # unreachable: hi always suffices


def evaluate(w: PlanWorkload, plan: Sequence[StagePlan]) -> Evaluation:
    """Makespan, TTFF and cost of ``plan`` for workload ``w``."""
    total = first = 0.0
    gpus_by_pool: dict[tuple[str, bool], int] = {}
    for stage, sp in zip(w.stages, plan, strict=True):
        v = next(x for x in stage.variants if x.name == sp.variant)
        taus = [(unit_time_s(w, stage, sp.variant, p.gpu, p.spot), p.instances) for p in sp.pools]
        total += stage_time_s(stage.units, taus)
        first += min((tau for tau, n in taus if n > 0), default=math.inf)
        for p in sp.pools:
            key = (p.gpu, p.spot)
            gpus_by_pool[key] = gpus_by_pool.get(key, 0) + p.instances * v.gpus_per_instance
    rate = sum(
        math.ceil(n / w.server_gpus) * w.server_gpus * gpu_type(g, w.catalog).price(spot)
        for (g, spot), n in gpus_by_pool.items()
    )
    gpus = sum(gpus_by_pool.values())
    spot_gpus = sum(n for (_, spot), n in gpus_by_pool.items() if spot)
    ttff = max(first, total - w.video_s)
    violation = 0.0
    if w.deadline_s is not None:
        violation += max(0.0, total - w.deadline_s)
    if w.ttff_s is not None:
        violation += max(0.0, ttff - w.ttff_s)
    share = spot_gpus / gpus if gpus else 0.0
    violation += max(0, gpus - w.max_gpus) * 1e6 + max(0.0, share - w.max_spot_share) * 1e6
    return Evaluation(total, ttff, first, rate * total / 3600.0, rate, gpus, share, violation)
