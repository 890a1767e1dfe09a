"""The plan's ``engine`` section: the worker groups this engine starts, and what it leaves to others.

A plan names planner variants ("wan-14b-720p", "llm-8b", "talking-head-400p"); the engine loads
catalog models ("wan2.1-t2v-14b"). ``VARIANT_MODELS`` is the one table between the two: a variant
whose name is a catalog model, or starts with one of its prefixes, is served here as a worker group
per pool (GPU type, spot, replicas). Every other stage is listed in ``served_elsewhere`` with its
pools and the reason, so a plan's script LLM, speech, portraits or lip-sync video are never dropped
silently. Pure: strings and numbers in, plain data out (the catalog itself is the engine's).

A plan is made for a scheduling policy of the simulator (``PLAN_POLICY``, the closed loop); the
section carries the switches of it that the live engine runs (``Scheduling``: the batchers' ordering
rule, the new sessions' placement headroom and, for ``closed-loop+slo``, the operator's chunk and TTFF
targets), so ``serve --plan`` starts with them. The targets of an ``slo`` policy come from the plan's
workload: its TTFF limit is the TTFF target; a plan workload has no per-chunk latency limit, so the
chunk target stays 0 (off) unless ``serve --chunk-target-ms`` sets it.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, replace
from typing import Any

from reelserve.core.errors import InvalidInput, UnknownName
from reelserve.sched.ordering import check_target, slo_on
from reelserve.sched.provision.evaluate import StagePlan, unit_time_s
from reelserve.sched.provision.workload import QUALITY, PlanWorkload

__all__ = [
    "ENGINE_MODELS",
    "ENGINE_ORDERINGS",
    "NOT_SERVED",
    "PLAN_POLICY",
    "POLICY_SCHEDULING",
    "RESOLUTION_SIZES",
    "SLO_POLICIES",
    "VARIANT_MODELS",
    "ElsewhereStage",
    "EngineSection",
    "Scheduling",
    "WorkerGroup",
    "catalog_model",
    "check_target",
    "engine_section",
    "policy_scheduling",
]

#: Video generation models this engine's model workers serve (names in ``reelserve models list``).
ENGINE_MODELS = frozenset(
    {"tiny-wan", "small-wan", "wan2.1-t2v-1.3b", "wan2.1-t2v-14b", "wan2.2-ti2v-5b", "wan2.2-t2v-a14b"}
)

#: Planner variant prefix -> catalog model (a variant named exactly as a catalog model maps to itself).
VARIANT_MODELS: dict[str, str] = {
    "wan-1.3b-": "wan2.1-t2v-1.3b",
    "wan-14b-": "wan2.1-t2v-14b",
    "wan-5b-": "wan2.2-ti2v-5b",
    "wan-a14b-": "wan2.2-t2v-a14b",
}

#: Variant prefix -> what kind of model it is, for stages this engine does not serve.
NOT_SERVED: dict[str, str] = {
    "llm-": "LLM",
    "tts": "TTS",
    "flux-": "image model",
    "talking-head-": "talking-head (lip-sync) video model",
}

#: The frame size a resolution tag in a variant name stands for (Wan's native sizes).
RESOLUTION_SIZES = {"480p": "832x480", "720p": "1280x720", "1080p": "1920x1080"}

#: The evaluator runs one unit at a time per replica, so that is the batch the plan's times assume.
PLANNED_BATCH = 1

_QUALITY_NAMES = {rank: name for name, rank in QUALITY.items()}

#: ``sched.ordering`` rules the engine's batchers run: EDF, or the closed loop's streams-first.
ENGINE_ORDERINGS = ("edf", "streams-first")


@dataclass(frozen=True, slots=True)
class Scheduling:
    """The switches of a simulator policy that the live engine runs (``serve --ordering --headroom
    --chunk-target-ms --ttff-target-s``)."""

    ordering: str = "edf"  #: the model workers' batcher rule, one of ``ENGINE_ORDERINGS``
    headroom: int = 0  #: ``PlacementParams.headroom``: batch slots a new session leaves for resumes
    chunk_target_ms: float = 0.0  #: ``slo``: per-chunk latency target, ms (admission, deadlines); 0 = off
    ttff_target_s: float = 0.0  #: ``slo``: an opening chunk's deadline after the session opens, s; 0 = off

    def __post_init__(self) -> None:
        if self.ordering not in ENGINE_ORDERINGS:
            raise UnknownName("ordering", self.ordering, list(ENGINE_ORDERINGS), param="ordering")
        if isinstance(self.headroom, bool) or not isinstance(self.headroom, int) or self.headroom < 0:
            raise InvalidInput(
                f"headroom must be a whole number of batch slots >= 0 (0 = off, the closed loop's is 1), "
                f"not {self.headroom!r}",
                param="headroom",
            )
        for name, unit in (("chunk_target_ms", "milliseconds"), ("ttff_target_s", "seconds")):
            check_target(name, getattr(self, name), unit)
        if self.slo and self.ordering != "edf":
            raise InvalidInput(
                f"the slo targets (chunk_target_ms {self.chunk_target_ms:g}, ttff_target_s "
                f"{self.ttff_target_s:g}) run plain EDF on each chunk's own deadline, which replaces "
                f"{self.ordering}'s hold of a session's first chunk: use ordering edf with them, or set "
                "both targets to 0",
                param="ordering",
            )

    @property
    def slo(self) -> bool:
        """The ``slo`` switch is on: a chunk or TTFF target is set."""
        return slo_on(self.chunk_target_ms, self.ttff_target_s)


#: Simulator policy -> its switches the engine runs. The engine's model workers batch continuously,
#: so ``runtime-aware`` (``PlacementParams.sequential``, for a runtime without batching) does not apply;
#: rebalancing and autoscaling are the session manager's own settings. ``closed-loop+slo`` is the
#: closed loop with EDF on each chunk's own deadline (its ``slo`` replaces streams-first's hold); its
#: targets come from the plan's workload (``SLO_POLICIES``).
POLICY_SCHEDULING: dict[str, Scheduling] = {
    "static": Scheduling(),
    "turboserve": Scheduling(),
    "closed-loop": Scheduling("streams-first", 1),
    "closed-loop+slo": Scheduling("edf", 1),
}

#: Policies whose engine switches include the operator's targets, taken from the plan's workload.
SLO_POLICIES = frozenset({"closed-loop+slo"})

#: The policy a plan is made for: the closed loop, which beat static in the simulator (docs/simulator.md).
PLAN_POLICY = "closed-loop"


def policy_scheduling(policy: str) -> Scheduling:
    """The engine switches of a simulator policy in ``POLICY_SCHEDULING``; others raise ``UnknownName``."""
    try:
        return POLICY_SCHEDULING[policy]
    except KeyError:
        raise UnknownName("policy", policy, list(POLICY_SCHEDULING), param="policy") from None


@dataclass(frozen=True, slots=True)
class WorkerGroup:
    """Replicas of one served stage on one pool: the engine starts a model worker per replica."""

    stage: str  #: the plan's stage name
    variant: str  #: the planner's variant
    model: str  #: the engine catalog model each worker loads
    gpu: str  #: GPU type of the pool
    spot: bool  #: spot (evictable) or reserved
    replicas: int  #: model workers the plan asks for
    gpus_per_replica: int  #: devices one replica uses
    resolution: str | None  #: resolution tag of the variant ("720p"), None when its name has none
    size: str | None  #: WxH of that resolution, what the unit times assume
    quality: str  #: quality class of the variant (low, medium, high)
    max_batch: int  #: items per forward the plan's unit times assume
    units: int  #: units of work of the stage (all pools together)
    unit_s: float  #: seconds per unit per replica on this pool (spot eviction losses included)


@dataclass(frozen=True, slots=True)
class ElsewhereStage:
    """A stage this engine does not run; someone else must."""

    stage: str  #: the plan's stage name
    variant: str  #: the planner's variant
    kind: str  #: LLM, TTS, image model, ... ("model" when unknown)
    pools: tuple[dict[str, Any], ...]  #: the plan's pools for it: gpu, spot, replicas
    reason: str  #: one line for the operator


@dataclass(frozen=True, slots=True)
class EngineSection:
    """What ``reelserve serve --plan`` starts from."""

    groups: tuple[WorkerGroup, ...]  #: served stages, one group per pool
    elsewhere: tuple[ElsewhereStage, ...]  #: stages served elsewhere
    policy: str  #: the simulator policy the plan is made for
    scheduling: Scheduling  #: that policy's switches the engine runs

    def to_dict(self) -> dict[str, Any]:
        return {
            "workers": [asdict(g) for g in self.groups],
            "served_elsewhere": [{**asdict(e), "pools": list(e.pools)} for e in self.elsewhere],
            "policy": self.policy,
            "ordering": self.scheduling.ordering,
            "headroom": self.scheduling.headroom,
            "chunk_target_ms": self.scheduling.chunk_target_ms,
            "ttff_target_s": self.scheduling.ttff_target_s,
        }


def _with_targets(scheduling: Scheduling, policy: str, w: PlanWorkload) -> Scheduling:
    """An ``slo`` policy's switches with the workload's TTFF limit as the TTFF target; a workload
    without one cannot run it (an ``slo`` plan with no target would silently be the plain policy)."""
    if policy not in SLO_POLICIES:
        return scheduling
    if w.ttff_s is None:
        raise InvalidInput(
            f"policy {policy} takes its TTFF target from the workload's TTFF limit, and {w.name} has none: "
            "give one (--ttff SECONDS) or plan for --policy closed-loop",
            param="policy",
        )
    return replace(scheduling, ttff_target_s=float(w.ttff_s))


def catalog_model(variant: str) -> str | None:
    """The engine catalog model that serves ``variant``, or None when this engine does not."""
    if variant in ENGINE_MODELS:
        return variant
    return next((m for prefix, m in VARIANT_MODELS.items() if variant.startswith(prefix)), None)


def _kind(variant: str) -> str:
    return next((k for prefix, k in NOT_SERVED.items() if variant.startswith(prefix)), "model")


def _resolution(variant: str) -> str | None:
    m = re.search(r"(\d+p)$", variant)
    return m.group(1) if m else None


def engine_section(
    w: PlanWorkload, stages: tuple[StagePlan, ...], policy: str = PLAN_POLICY
) -> EngineSection:
    """Worker groups for the served stages of a plan, the stages served elsewhere, and the switches of
    ``policy`` (a key of ``POLICY_SCHEDULING``) the engine runs."""
    scheduling = _with_targets(policy_scheduling(policy), policy, w)
    groups: list[WorkerGroup] = []
    elsewhere: list[ElsewhereStage] = []
    for stage, sp in zip(w.stages, stages, strict=True):
        v = next(x for x in stage.variants if x.name == sp.variant)
        model = catalog_model(sp.variant)
        pools = [p for p in sp.pools if p.instances > 0]
        if model is None:
            kind = _kind(sp.variant)
            reason = f"{kind} {sp.variant!r}: no model of this engine serves it; served elsewhere"
            rows = tuple({"gpu": p.gpu, "spot": p.spot, "replicas": p.instances} for p in pools)
            elsewhere.append(ElsewhereStage(sp.stage, sp.variant, kind, rows, reason))
            continue
        res = _resolution(sp.variant)
        common: dict[str, Any] = {
            "stage": sp.stage, "variant": sp.variant, "model": model, "gpus_per_replica": v.gpus_per_instance,
            "resolution": res, "size": RESOLUTION_SIZES.get(res or ""), "units": stage.units,
            "quality": _QUALITY_NAMES.get(v.quality, str(v.quality)), "max_batch": PLANNED_BATCH,
        }  # fmt: skip
        for p in pools:
            unit_s = round(unit_time_s(w, stage, sp.variant, p.gpu, p.spot), 3)
            groups.append(WorkerGroup(gpu=p.gpu, spot=p.spot, replicas=p.instances, unit_s=unit_s, **common))
    return EngineSection(tuple(groups), tuple(elsewhere), policy, scheduling)
