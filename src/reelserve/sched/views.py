"""Plain-data views that policies read: requests, sessions and workers.

The live engine builds these from its store and workers; the simulator from its entities. Every
time is in seconds on whatever clock the caller uses (policies never read a clock themselves).
"""

from __future__ import annotations

from dataclasses import dataclass

from reelserve.core.records import Priority

__all__ = ["RequestView", "SessionView", "WorkerView"]


@dataclass(frozen=True, slots=True)
class RequestView:
    """One queued unit of work (a job, a scene, a denoising batch item)."""

    id: str  #: the request's id, unique among the views passed in one call
    arrival: float  #: when it was queued, seconds
    priority: Priority = Priority.INTERACTIVE  #: interactive work is ordered before batch work
    deadline: float | None = None  #: when it must be done, seconds; None = no deadline
    est_service_s: float = 0.0  #: predicted service time, used for slack = deadline - now - service
    model: str = ""  #: model name; part of the batching key
    width: int = 0  #: output width; part of the batching key
    height: int = 0  #: output height; part of the batching key
    frames: int = 0  #: frames per clip; part of the batching key
    steps: int = 0  #: denoising steps; part of the batching key
    opening: bool = False  #: a streaming session's first chunk (its TTFF); see ordering "streams-first"

    @property
    def batch_key(self) -> tuple[str, int, int, int, int]:
        """Requests with equal keys can share one batched forward pass."""
        return (self.model, self.width, self.height, self.frames, self.steps)


@dataclass(frozen=True, slots=True)
class SessionView:
    """One streaming session as the placement policy sees it."""

    id: str  #: session id
    worker: str | None  #: the worker holding its state; None = unplaced or offloaded
    active: bool = True  #: generating chunks now; False = idle (paused, waiting for the user)
    state_mb: float = 256.0  #: size of its state (latents, caches), for migration/offload cost
    compute_units: float = 1.0  #: relative model cost (1.0 = the reference model)
    resolution: str = "480p"  #: a key of latency.RES_FACTOR
    frames: int = 32  #: frames per chunk
    prompt_tokens: int = 0  #: prompt tokens to encode with the next chunk (after a prompt change)
    migration_ms: float | None = None  #: measured p50 migration time; None = use the cost model
    idle_since: float | None = None  #: when it went idle (seconds); None while active
    streaming: bool = False  #: has delivered chunks already; placed before sessions that have not


@dataclass(frozen=True, slots=True)
class WorkerView:
    """One model worker (one GPU)."""

    id: str  #: worker id
    capacity: int = 8  #: most active sessions it batches per chunk
    memory_slots: int = 16  #: most sessions (active or idle, not offloaded) whose state it holds
    accepting: bool = True  #: False while draining, warming up or under a spot-eviction notice
