"""Batching: coalesce compatible requests into one batched forward pass.

Requests are compatible when their ``batch_key`` (model, size, frames, steps) is equal. A group is
dispatched when it is full (``max_batch``), when its oldest member has waited ``max_wait_s``, or when
waiting longer would make its most urgent member miss its deadline. Members are taken in EDF order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from reelserve.core.errors import InvalidInput
from reelserve.sched.ordering import order_requests
from reelserve.sched.views import RequestView

__all__ = ["Batch", "BatchPlan", "form_batches"]


@dataclass(frozen=True, slots=True)
class Batch:
    """One group of compatible requests."""

    key: tuple[str, int, int, int, int]  #: (model, width, height, frames, steps) shared by all members
    request_ids: tuple[str, ...]  #: members in EDF order, at most max_batch
    ready: bool  #: True = dispatch now; False = keep waiting for more members
    dispatch_at: float  #: when it becomes ready at the latest if nothing joins (== now when ready)
    reason: str  #: "full", "max_wait", "deadline" or "waiting"


@dataclass(frozen=True, slots=True)
class BatchPlan:
    """All groups formed from one queue snapshot, ready ones first, then by dispatch time."""

    batches: tuple[Batch, ...]  #: every request appears in exactly one batch

    @property
    def ready(self) -> tuple[Batch, ...]:
        return tuple(b for b in self.batches if b.ready)


def _decide(members: Sequence[RequestView], now: float, max_batch: int, max_wait_s: float) -> Batch:
    key = members[0].batch_key
    ids = tuple(m.id for m in members)
    if len(members) >= max_batch:
        return Batch(key, ids, True, now, "full")
    oldest = min(m.arrival for m in members)
    wait_until = oldest + max_wait_s
    latest_start = min(
        (m.deadline - m.est_service_s for m in members if m.deadline is not None), default=wait_until
    )
    if now >= wait_until:
        return Batch(key, ids, True, now, "max_wait")
    if now >= latest_start:
        return Batch(key, ids, True, now, "deadline")
    return Batch(key, ids, False, min(wait_until, latest_start), "waiting")


def form_batches(
    requests: Sequence[RequestView], now: float, max_batch: int = 4, max_wait_s: float = 0.05
) -> BatchPlan:
    """Group ``requests`` by batch key into batches of at most ``max_batch``."""
    if max_batch < 1 or max_wait_s < 0:
        raise InvalidInput("max_batch must be >= 1 and max_wait_s >= 0", param="max_batch")
    by_id = {r.id: r for r in requests}
    groups: dict[tuple[str, int, int, int, int], list[RequestView]] = {}
    for rid in order_requests(requests, now, "edf").request_ids:
        req = by_id[rid]
        groups.setdefault(req.batch_key, []).append(req)
    batches: list[Batch] = []
    for members in groups.values():
        for start in range(0, len(members), max_batch):
            batches.append(_decide(members[start : start + max_batch], now, max_batch, max_wait_s))
    batches.sort(key=lambda b: (not b.ready, b.dispatch_at, b.request_ids[0]))
    return BatchPlan(tuple(batches))
