"""Preemption: an interactive request preempts batch work at a denoising-step boundary.

When interactive requests wait and no worker is free, the batch job whose next step boundary comes
soonest is preempted there; it is checkpointed (latents after its last finished step) and resumes
later from ``resume_step`` without redoing steps. Interactive work is never preempted.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from reelserve.core.records import Priority
from reelserve.sched.ordering import order_requests
from reelserve.sched.views import RequestView

__all__ = ["Preemption", "RunningView", "decide_preemption"]


@dataclass(frozen=True, slots=True)
class RunningView:
    """A request running on a worker."""

    request_id: str  #: the running request
    worker: str  #: the worker running it
    priority: Priority  #: batch work can be preempted; interactive work cannot
    started: float  #: when its current run began (seconds)
    step_s: float  #: seconds per denoising step
    steps_done: int  #: steps finished before ``started`` (from an earlier run)
    steps_total: int  #: steps it needs in all


@dataclass(frozen=True, slots=True)
class Preemption:
    """One preemption to carry out."""

    victim_id: str  #: the batch request to stop
    worker: str  #: its worker, which then takes ``by_id``
    by_id: str  #: the interactive request that takes the worker
    at: float  #: the step boundary where the victim stops (seconds)
    resume_step: int  #: the victim's checkpointed step; it continues from here


def _next_boundary(run: RunningView, now: float) -> tuple[float, int]:
    done_now = run.steps_done + (now - run.started) / run.step_s if run.step_s > 0 else run.steps_done
    step = min(run.steps_total, math.ceil(done_now - 1e-9))
    return run.started + (step - run.steps_done) * run.step_s, step


def decide_preemption(
    running: Sequence[RunningView], waiting: Sequence[RequestView], free_workers: int, now: float
) -> tuple[Preemption, ...]:
    """Preempt batch runs for the interactive requests that free workers cannot take."""
    interactive = [r for r in waiting if r.priority is Priority.INTERACTIVE]
    need = order_requests(interactive, now, "edf").request_ids[max(0, free_workers) :]
    victims = []
    for run in running:
        if run.priority is Priority.BATCH:
            at, step = _next_boundary(run, now)
            if step < run.steps_total:  # a run about to finish anyway is left alone
                victims.append((at, run.request_id, run, step))
    victims.sort(key=lambda v: (v[0], v[1]))
    return tuple(
        Preemption(run.request_id, run.worker, rid, at, step)
        for rid, (at, _, run, step) in zip(need, victims, strict=False)
    )
