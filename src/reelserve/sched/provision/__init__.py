"""Provisioning: which GPUs, how many, which variants — greedy hill climbing and a MILP.

``PLANNERS`` maps a method name to ``(workload) -> (stage plans or None, mip_gap, iterations)``.
"""

from __future__ import annotations

from collections.abc import Callable

from reelserve.sched.provision.evaluate import Evaluation, Pool, StagePlan, evaluate
from reelserve.sched.provision.gpus import DEFAULT_GPUS, GpuType, gpu_type
from reelserve.sched.provision.greedy import plan_greedy
from reelserve.sched.provision.milp import plan_milp
from reelserve.sched.provision.result import PlanResult, make_result, objective_value
from reelserve.sched.provision.workload import (
    QUALITY,
    PlanWorkload,
    Stage,
    Variant,
    ad_variants,
    podcast,
    workload_from_dict,
)
from reelserve.sched.registry import Registry

__all__ = [
    "DEFAULT_GPUS",
    "PLANNERS",
    "QUALITY",
    "Evaluation",
    "GpuType",
    "PlanResult",
    "PlanWorkload",
    "Pool",
    "Stage",
    "StagePlan",
    "Variant",
    "ad_variants",
    "evaluate",
    "gpu_type",
    "make_result",
    "objective_value",
    "plan_greedy",
    "plan_milp",
    "podcast",
    "workload_from_dict",
]

PlannerFn = Callable[[PlanWorkload], tuple[tuple[StagePlan, ...] | None, float | None, int]]
PLANNERS: Registry[PlannerFn] = Registry("planning method")


@PLANNERS.register("greedy")
def _greedy(w: PlanWorkload) -> tuple[tuple[StagePlan, ...] | None, float | None, int]:
    out = plan_greedy(w)
    return out.stages, None, out.iterations


@PLANNERS.register("milp")
def _milp(w: PlanWorkload) -> tuple[tuple[StagePlan, ...] | None, float | None, int]:
    out = plan_milp(w)
    return out.stages, out.mip_gap, out.solves
