"""Simulated scheduling policies: named registry entries, composable with ``+``.

| name | what it turns on |
|---|---|
| ``static`` | the baseline: a fixed GPU budget, sessions placed once on the least-loaded GPU, never moved |
| ``rebalance`` | + migration-aware min–max rebalancing (``sched.placement``) |
| ``autoscale`` | + load-driven autoscaling (``sched.autoscale``) |
| ``turboserve`` | rebalance + autoscale: TurboServe's loop as published (the closed loop before these four) |
| ``closed-loop`` | turboserve + streams-first + headroom + runtime-aware |
| ``coalescing`` | + chunk coalescing: a worker batches every due chunk into one forward |
| ``offload`` | + idle sessions offloaded to host memory, restored on resume |
| ``quality`` | + adaptive quality: a forward that would miss the deadline runs at a lower rung |
| ``streams-first`` | + a worker runs chunks of sessions already streaming before new sessions' first chunks |
| ``headroom`` | + a new session leaves a batch slot free on a worker holding idle sessions (their resumes) |
| ``overflow`` | + a restored session with no batch slot anywhere takes a memory slot instead of waiting |
| ``runtime-aware`` | + placement predicts for the worker's runtime (no coalescing: the sum of its forwards) |
| ``slo`` | + the operator's targets: EDF on each chunk's own deadline, admission past capacity within them |
| ``continuous`` | + step-level continuous batching (``sched.continuous``, as the engine's model worker) |

``resolve_policy("closed-loop+coalescing+offload")`` merges the entries' switches.
"""

from __future__ import annotations

from dataclasses import dataclass

from reelserve.core.errors import InvalidInput
from reelserve.sched.registry import Registry

__all__ = ["POLICIES", "PolicyConfig", "resolve_policy"]


@dataclass(frozen=True, slots=True)
class PolicyConfig:
    """The switches a simulated policy sets."""

    name: str  #: the expression it was resolved from
    rebalance: bool = False  #: migration-aware min–max rebalancing
    autoscale: bool = False  #: scale the GPU count with load (within the budget)
    coalesce: bool = False  #: batch every due chunk of a worker into one forward
    offload: bool = False  #: offload idle sessions to host memory
    adaptive_quality: bool = False  #: degrade a forward that would miss the per-chunk deadline
    continuous: bool = False  #: step-level continuous batching (a step is the unit of work, not a chunk)
    streams_first: bool = False  #: order a worker's chunks by ``sched.ordering``'s "streams-first" rule
    headroom: int = 0  #: ``PlacementParams.headroom``: batch slots new sessions leave for resumes
    overflow: bool = False  #: ``PlacementParams.overflow``: restores take a memory slot rather than wait
    runtime_aware: bool = False  #: placement predicts for the worker's runtime (sequential if not coalescing)
    slo: bool = False  #: admission and opening hold from the cluster's chunk and TTFF targets


POLICIES: Registry[PolicyConfig] = Registry("policy")
for _entry in (
    PolicyConfig("static"),
    PolicyConfig("rebalance", rebalance=True),
    PolicyConfig("autoscale", autoscale=True),
    PolicyConfig("turboserve", rebalance=True, autoscale=True),
    PolicyConfig(
        "closed-loop",
        rebalance=True,
        autoscale=True,
        streams_first=True,
        headroom=1,
        runtime_aware=True,
    ),
    PolicyConfig("coalescing", coalesce=True),
    PolicyConfig("offload", offload=True),
    PolicyConfig("quality", adaptive_quality=True),
    PolicyConfig("continuous", coalesce=True, continuous=True),
    PolicyConfig("streams-first", streams_first=True),
    PolicyConfig("headroom", headroom=1),
    PolicyConfig("overflow", overflow=True),
    PolicyConfig("runtime-aware", runtime_aware=True),
    PolicyConfig("slo", slo=True),
):
    POLICIES.register(_entry.name)(_entry)


def resolve_policy(expr: str) -> PolicyConfig:
    """``"a+b+c"`` -> the union of the entries' switches, named ``expr``."""
    parts = [p.strip() for p in expr.split("+")]
    if not expr.strip() or any(not p for p in parts):
        raise InvalidInput(f"bad policy {expr!r}; compose names with '+', e.g. closed-loop+offload")
    entries = [POLICIES.get(p) for p in parts]
    return PolicyConfig(
        expr.strip(),
        rebalance=any(e.rebalance for e in entries),
        autoscale=any(e.autoscale for e in entries),
        coalesce=any(e.coalesce for e in entries),
        offload=any(e.offload for e in entries),
        adaptive_quality=any(e.adaptive_quality for e in entries),
        continuous=any(e.continuous for e in entries),
        streams_first=any(e.streams_first for e in entries),
        headroom=max(e.headroom for e in entries),
        overflow=any(e.overflow for e in entries),
        runtime_aware=any(e.runtime_aware for e in entries),
        slo=any(e.slo for e in entries),
    )
