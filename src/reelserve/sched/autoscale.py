"""Autoscaling: how many model workers to run.

TurboServe's target with ``A`` active sessions and ``c`` sessions per GPU is
``max(ceil(A / c), ceil(A / (0.9 c)))`` (``min_workers`` when A = 0), clamped to the budget. Scale out
at once; scale in only after the lower target has held for ``hold_s``. The hold timer is part of the
input and the output (``below_since``), so the function keeps no state of its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from reelserve.core.errors import InvalidInput

__all__ = ["ScaleDecision", "autoscale", "target_workers"]


@dataclass(frozen=True, slots=True)
class ScaleDecision:
    """How many workers to run from now on."""

    workers: int  #: the worker count to have (== current when nothing changes)
    target: int  #: the formula's target before the hold rule
    below_since: float | None  #: when the target first dropped below current; pass it back next call
    action: str  #: "out", "in", "hold" (waiting out the hold time) or "steady"


def target_workers(active: int, per_gpu: float, min_workers: int, max_workers: int) -> int:
    """The target worker count for ``active`` sessions at ``per_gpu`` sessions per GPU."""
    if per_gpu <= 0 or min_workers < 0 or max_workers < max(1, min_workers):
        raise InvalidInput("per_gpu must be > 0 and 0 <= min_workers <= max_workers, max_workers >= 1")
    if active <= 0:
        return max(1, min_workers)
    raw = max(math.ceil(active / per_gpu), math.ceil(active / (0.9 * per_gpu)))
    return min(max_workers, max(min_workers, raw))


def autoscale(
    current: int,
    active: int,
    now: float,
    *,
    per_gpu: float,
    min_workers: int = 1,
    max_workers: int = 64,
    hold_s: float = 5.0,
    below_since: float | None = None,
) -> ScaleDecision:
    """Scale out at once; scale in after the lower target held ``hold_s`` seconds."""
    target = target_workers(active, per_gpu, min_workers, max_workers)
    if target > current:
        return ScaleDecision(target, target, None, "out")
    if target == current:
        return ScaleDecision(current, target, None, "steady")
    since = now if below_since is None else below_since
    if now - since >= hold_s:
        return ScaleDecision(target, target, None, "in")
    return ScaleDecision(current, target, since, "hold")
