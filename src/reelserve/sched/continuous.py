"""Step-level continuous batching with preemption: what one model worker runs at its next step.

A model worker keeps a *running set*: requests denoised together, one batched forward per step. All
members share a batch key (model, size, frames, steps) but may be at different steps. Before every
step the worker asks ``plan_step``:

1. preemption (when on): if the most urgent waiting interactive request cannot join the running set —
   no room, or a different batch key — running batch requests are preempted at this step boundary
   (``preemption.decide_preemption`` picks which when room is the issue; a different key needs the
   whole set, and only when every member is batch work). Victims are checkpointed by the caller and
   wait again, keeping their arrival time and their finished steps;
2. a non-empty running set admits waiting requests with its key (most urgent first) up to
   ``max_batch``: they join at the step boundary, without waiting;
3. an empty running set starts the batch of the most urgent waiting request's key that
   ``batching.form_batches`` declares ready (full, waited ``max_wait_s``, or a deadline near);
   otherwise ``wake_at`` says when to look again.

"Most urgent" is ``ordering``'s rule (``sched.ordering``, default ``edf``). With ``streams-first`` a
session's opening chunk (``RequestView.opening``) yields to streaming chunks while it has been queued
less than ``OPENING_HOLD_S``: it joins a running set only if room is left after them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from reelserve.core.errors import InvalidInput
from reelserve.core.records import Priority
from reelserve.sched.batching import form_batches
from reelserve.sched.ordering import order_requests
from reelserve.sched.preemption import RunningView, decide_preemption
from reelserve.sched.views import RequestView

__all__ = ["StepPlan", "plan_step"]

Key = tuple[str, int, int, int, int]


@dataclass(frozen=True, slots=True)
class StepPlan:
    """What to do at this step boundary."""

    preempt: tuple[str, ...]  #: running requests to checkpoint and put back in the queue now
    admit: tuple[str, ...]  #: waiting requests that join the running set before the next step
    key: Key | None  #: batch key of the running set after the plan; None = nothing to run
    wake_at: float | None  #: when nothing runs: when a waiting batch becomes ready; None = queue empty
    reason: str  #: "join", "full", "max_wait", "deadline", "waiting", "running" or "idle"


def _victims(
    running: Sequence[RequestView],
    head: RequestView,
    interactive: Sequence[RequestView],
    room: int,
    now: float,
) -> tuple[str, ...]:
    if head.batch_key != running[0].batch_key:
        if all(r.priority is Priority.BATCH for r in running):
            return tuple(r.id for r in running)
        return ()
    views = [
        RunningView(r.id, f"slot-{i}", r.priority, now, 0.0, 0, max(1, r.steps))
        for i, r in enumerate(running)
    ]
    same = [w for w in interactive if w.batch_key == head.batch_key]
    return tuple(p.victim_id for p in decide_preemption(views, same, room, now))


def plan_step(
    running: Sequence[RequestView],
    waiting: Sequence[RequestView],
    now: float,
    *,
    max_batch: int = 4,
    max_wait_s: float = 0.01,
    preempt: bool = True,
    ordering: str = "edf",
) -> StepPlan:
    """Plan the next step of one worker from its running set and its queue, most urgent first by the
    ``ordering`` rule (a name in ``sched.ordering.ORDERINGS``; unknown names raise ``UnknownName``)."""
    if max_batch < 1:
        raise InvalidInput("max_batch must be >= 1", param="max_batch")
    order = order_requests(waiting, now, ordering).request_ids
    by_id = {w.id: w for w in waiting}
    victims: tuple[str, ...] = ()
    interactive = [by_id[i] for i in order if by_id[i].priority is Priority.INTERACTIVE]
    if preempt and running and interactive:
        room = max_batch - len(running)
        head = interactive[0]
        blocked = head.batch_key != running[0].batch_key or room < len(
            [w for w in interactive if w.batch_key == head.batch_key]
        )
        if blocked:
            victims = _victims(running, head, interactive, max(0, room), now)
    left = [r for r in running if r.id not in victims]
    if left:
        key = left[0].batch_key
        room = max_batch - len(left)
        joins = tuple(i for i in order if by_id[i].batch_key == key)[: max(0, room)]
        return StepPlan(victims, joins, key, None, "join" if joins else "running")
    queue = [*waiting, *(r for r in running if r.id in victims)]
    if not queue:
        return StepPlan(victims, (), None, None, "idle")
    in_queue = {q.id: q for q in queue}
    ranked = [in_queue[i] for i in order_requests(queue, now, ordering).request_ids]
    head_key = ranked[0].batch_key
    # the rule picks the members (form_batches would take its own EDF order); form_batches decides
    # whether they start now -- for "edf" these are the very members of its first batch
    members = [q for q in ranked if q.batch_key == head_key][:max_batch]
    first = form_batches(members, now, max_batch, max_wait_s).batches[0]
    if not first.ready:
        return StepPlan(victims, (), None, first.dispatch_at, "waiting")
    # preempted requests chosen again simply keep running (neither preempted nor admitted)
    kept = {i for i in first.request_ids if i in victims}
    admit = tuple(i for i in first.request_ids if i not in kept)
    return StepPlan(tuple(v for v in victims if v not in kept), admit, head_key, None, first.reason)
