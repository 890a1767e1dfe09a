"""The ``slo`` policy in the live engine: every session chunk carries its own deadline.

The simulator's ``closed-loop+slo`` (``sched.ordering.slo_deadline``) applied to live sessions, with
an operator's targets (``serve --chunk-target-ms X --ttff-target-s Y``; 0 = off):

- a streaming chunk's deadline is its request time + min(the session's ``deadline_ms``, X): the
  operator's target may tighten a session's own promise, never loosen it (X = 0: ``deadline_ms``);
- a session's opening chunk's deadline is the time the session opened (began generating: its first
  listener connected) + Y, so the wait for a worker counts against its TTFF (Y = 0: ``deadline_ms``,
  as the simulator falls back to its deadline);
- the model workers run plain EDF on those deadlines (``ordering`` must be ``edf``): an opening chunk
  yields to streaming chunks exactly while its own deadline is later.

X also admits a new session past a worker's batch capacity while the predicted latency stays within
it (``PlacementParams.admit_ms``, set to X by ``serve``; the driver and the control tick use it).
Deadlines are monotonic seconds of this process; the worker is sent the seconds left (``deadline_s``
of its ``chunk`` op), so a worker on another host's clock gets the same deadline.
"""

from __future__ import annotations

from reelserve.sched.ordering import slo_deadline, slo_on

__all__ = ["chunk_deadline", "slo_on"]


def chunk_deadline(
    deadline_ms: float,
    opening: bool,
    requested: float,
    opened: float,
    chunk_target_ms: float,
    ttff_target_s: float,
) -> float:
    """The deadline of a session's chunk requested at ``requested`` (the session opened at ``opened``)."""
    budget_ms = min(deadline_ms, chunk_target_ms) if chunk_target_ms > 0 else deadline_ms
    ttff_s = ttff_target_s if ttff_target_s > 0 else deadline_ms / 1000.0
    return slo_deadline(opening, requested, opened, budget_ms / 1000.0, ttff_s)
