"""Pure scheduling policies shared by the live engine and the simulator.

Every policy is a function ``(plain-data view of queues and workers, now) -> decision``; decisions
are frozen dataclasses with a comment on every field. No clock, no I/O, no hidden state: whatever a
policy must remember between calls (e.g. the autoscaler's hold timer) is part of its input and output.

| module | decides |
|---|---|
| ``ordering`` | which queued request runs next (priority class, then EDF / least slack / FIFO) |
| ``batching`` | which compatible requests share one batched forward pass, and when to dispatch |
| ``quality`` | admission and the adaptive quality ladder (steps, then resolution, then fps) or rejection |
| ``preemption`` | which batch run an interactive request preempts, at which step boundary |
| ``latency`` | predicted per-chunk latency (TurboServe formula) and profile-based clip latency |
| ``placement`` | where sessions run: placement, idle offload, evacuation, min–max rebalancing |
| ``autoscale`` | how many model workers to run (scale out at once, scale in after a hold) |
| ``provision`` | which GPUs to rent: greedy hill climbing and a MILP (HiGHS) |
"""

from __future__ import annotations

from reelserve.sched.autoscale import ScaleDecision, autoscale, target_workers
from reelserve.sched.batching import Batch, BatchPlan, form_batches
from reelserve.sched.latency import (
    RES_FACTOR,
    Profile,
    chunk_latency_ms,
    migration_ms,
    worker_chunk_latency_ms,
)
from reelserve.sched.ordering import ORDERINGS, Ordering, order_requests
from reelserve.sched.placement import Move, PlacementDecision, PlacementParams, plan_placement, resume_move
from reelserve.sched.preemption import Preemption, RunningView, decide_preemption
from reelserve.sched.quality import Admission, QualityLevel, admit, build_ladder
from reelserve.sched.registry import Registry
from reelserve.sched.views import RequestView, SessionView, WorkerView

__all__ = [
    "ORDERINGS",
    "RES_FACTOR",
    "Admission",
    "Batch",
    "BatchPlan",
    "Move",
    "Ordering",
    "PlacementDecision",
    "PlacementParams",
    "Preemption",
    "Profile",
    "QualityLevel",
    "Registry",
    "RequestView",
    "RunningView",
    "ScaleDecision",
    "SessionView",
    "WorkerView",
    "admit",
    "autoscale",
    "build_ladder",
    "chunk_latency_ms",
    "decide_preemption",
    "form_batches",
    "migration_ms",
    "order_requests",
    "plan_placement",
    "resume_move",
    "target_workers",
    "worker_chunk_latency_ms",
]
