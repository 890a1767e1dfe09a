"""Ordering: which queued request runs next.

Priority classes first (interactive before batch); within a class the named rule decides:
``edf`` (earliest deadline first), ``least-slack`` (deadline - now - predicted service time) or
``fifo``. Requests with a deadline come before those without (StreamWise's rule); ties break on
arrival, then id, so the order is total and deterministic.

``streams-first`` is EDF with one exception for streaming workers: a session's *opening* chunk (its
first, measured as time to first frame) runs after the chunks of sessions already streaming, even when
it is due earlier — a new session that waited for a slot would otherwise push the last streaming chunk
of the iteration past its deadline. An opening chunk queued ``OPENING_HOLD_S`` or longer is no longer
held back, so a worker that never runs dry cannot starve it.

With an operator's targets (the ``slo`` policy) every chunk carries its own deadline instead
(``slo_deadline``): a streaming chunk's is its due time + the per-chunk target, an opening chunk's its
session's arrival + the TTFF target, and plain EDF runs them. An opening chunk then yields to streaming
chunks exactly while it can still meet its target, and a stream's chunk is never put behind an opening
that could wait.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from reelserve.core.errors import InvalidInput
from reelserve.core.records import Priority
from reelserve.sched.registry import Registry
from reelserve.sched.views import RequestView

__all__ = [
    "OPENING_HOLD_S",
    "ORDERINGS",
    "OrderKey",
    "Ordering",
    "check_target",
    "held_back",
    "order_requests",
    "slo_deadline",
    "slo_on",
]

#: (priority class, no deadline, held back, rule value, arrival, id)
OrderKey = tuple[int, int, int, float, float, str]
OrderKeyFn = Callable[[RequestView, float], OrderKey]

ORDERINGS: Registry[OrderKeyFn] = Registry("ordering")

_CLASS = {Priority.INTERACTIVE: 0, Priority.BATCH: 1}

#: an opening chunk queued this long (one chunk period at 32 frames, 16 fps) runs in EDF order again
OPENING_HOLD_S = 2.0


@dataclass(frozen=True, slots=True)
class Ordering:
    """The order to run queued requests in."""

    request_ids: tuple[str, ...]  #: every request passed in, first to run first
    rule: str  #: the rule that produced it, e.g. "edf"


def _key(req: RequestView, value: float, held: int = 0) -> OrderKey:
    has_deadline = 0 if req.deadline is not None else 1
    return (_CLASS[req.priority], has_deadline, held, value, req.arrival, req.id)


def held_back(opening: bool, queued: float, now: float, hold_s: float = OPENING_HOLD_S) -> int:
    """``streams-first``: 1 if an opening chunk queued at ``queued`` still yields to streaming chunks."""
    return 1 if opening and now - queued < hold_s else 0


def slo_deadline(
    opening: bool, due: float, arrival: float, chunk_target_s: float, ttff_target_s: float
) -> float:
    """``slo``: a streaming chunk's deadline is due + chunk target; an opening's, arrival + TTFF target."""
    return arrival + ttff_target_s if opening else due + chunk_target_s


def check_target(name: str, value: object, unit: str) -> None:
    """An ``slo`` target is a finite number >= 0 (0 = off); anything else raises ``InvalidInput``."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise InvalidInput(f"{name} must be a number of {unit} >= 0 (0 = off), not {value!r}", param=name)


def slo_on(chunk_target_ms: float, ttff_target_s: float) -> bool:
    """The ``slo`` switch of the live engine and its plans: a chunk or TTFF target is set (0 = off)."""
    return chunk_target_ms > 0 or ttff_target_s > 0


@ORDERINGS.register("edf")
def edf_key(req: RequestView, now: float) -> OrderKey:
    return _key(req, req.deadline if req.deadline is not None else math.inf)


@ORDERINGS.register("least-slack")
def least_slack_key(req: RequestView, now: float) -> OrderKey:
    slack = math.inf if req.deadline is None else req.deadline - now - req.est_service_s
    return _key(req, slack)


@ORDERINGS.register("fifo")
def fifo_key(req: RequestView, now: float) -> OrderKey:
    return (_CLASS[req.priority], 0, 0, req.arrival, req.arrival, req.id)


@ORDERINGS.register("streams-first")
def streams_first_key(req: RequestView, now: float) -> OrderKey:
    deadline = req.deadline if req.deadline is not None else math.inf
    return _key(req, deadline, held_back(req.opening, req.arrival, now))


def order_requests(requests: Sequence[RequestView], now: float, rule: str = "edf") -> Ordering:
    """Order ``requests`` by priority class, then by ``rule`` (a name in ``ORDERINGS``)."""
    key = ORDERINGS.get(rule)
    ranked = sorted(requests, key=lambda r: key(r, now))
    return Ordering(request_ids=tuple(r.id for r in ranked), rule=rule)
