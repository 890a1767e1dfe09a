"""A provisioning plan as the planners return it, and its JSON config form."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reelserve.sched.provision.engine_config import PLAN_POLICY, EngineSection, engine_section
from reelserve.sched.provision.evaluate import Evaluation, StagePlan, evaluate
from reelserve.sched.provision.workload import PlanWorkload

__all__ = ["PlanResult", "make_result"]


@dataclass(frozen=True, slots=True)
class PlanResult:
    """One planner's answer."""

    method: str  #: "greedy" or "milp"
    workload: str  #: the workload's name
    stages: tuple[StagePlan, ...]  #: per stage: variant and pools (GPU type, spot, replicas)
    evaluation: Evaluation  #: makespan, TTFF, cost, GPUs, spot share (the shared evaluator)
    objective: float  #: cost x TTFF or cost, whichever the workload asks for (inf if infeasible)
    solve_ms: float  #: wall time the planner took (measured by the caller's clock, not by the policy)
    mip_gap: float | None = None  #: relative optimality gap HiGHS reports (MILP only)
    iterations: int = 0  #: greedy moves taken, or MILP solves run
    engine: EngineSection | None = None  #: worker groups for ``reelserve serve --plan`` (make_result sets it)

    def to_config(self) -> dict[str, Any]:
        """The config the engine starts from (and ``reelserve plan`` writes)."""
        ev = self.evaluation
        gpus: dict[str, int] = {}
        for sp in self.stages:
            for p in sp.pools:
                key = f"{p.gpu}{'-spot' if p.spot else ''}"
                gpus[key] = gpus.get(key, 0) + p.instances
        return {
            "method": self.method,
            "workload": self.workload,
            "feasible": ev.feasible,
            "stages": [
                {
                    "stage": sp.stage,
                    "variant": sp.variant,
                    "pools": [{"gpu": p.gpu, "spot": p.spot, "replicas": p.instances} for p in sp.pools],
                }
                for sp in self.stages
            ],
            "replicas_by_gpu": gpus,
            "gpus": ev.gpus,
            "spot_share": round(ev.spot_share, 4),
            "expected_cost_usd": round(ev.cost_usd, 4),
            "usd_per_hour": round(ev.usd_per_h, 4),
            "makespan_s": round(ev.makespan_s, 3),
            "ttff_s": round(ev.ttff_s, 3),
            "objective": self.objective,
            "solve_ms": round(self.solve_ms, 3),
            "mip_gap": self.mip_gap,
            "iterations": self.iterations,
            "engine": None if self.engine is None else self.engine.to_dict(),
        }


def make_result(
    method: str,
    w: PlanWorkload,
    stages: tuple[StagePlan, ...],
    solve_ms: float,
    mip_gap: float | None = None,
    iterations: int = 0,
    policy: str = PLAN_POLICY,
) -> PlanResult:
    """The plan's evaluation and its engine section, made for the simulator ``policy``."""
    ev = evaluate(w, stages)
    obj = objective_value(w, ev)
    engine = engine_section(w, stages, policy)
    return PlanResult(method, w.name, stages, ev, obj, solve_ms, mip_gap, iterations, engine)


def objective_value(w: PlanWorkload, ev: Evaluation) -> float:
    if not ev.feasible:
        return float("inf")
    return ev.cost_usd * ev.ttff_s if w.objective == "cost_x_ttff" else ev.cost_usd
