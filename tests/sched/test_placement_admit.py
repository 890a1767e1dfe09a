"""``PlacementParams.admit_ms`` (the ``slo`` policy): admission past batch capacity within a target."""

from __future__ import annotations

from dataclasses import replace

import pytest

from reelserve.sched import PlacementParams, SessionView, WorkerView, plan_placement
from reelserve.sched.latency import session_base_ms

PARAMS = PlacementParams(rebalance=False, offload_idle=False, sequential=True)
OWN = session_base_ms(1.0, "480p", 32)  # one session's chunk in a forward of its own (no prompt)


def predicted(resident: int, capacity: int = 2) -> float:
    """The admission rule's figure for a worker of ``resident`` sessions taking one more: every resident
    active, summed forwards, the capacity term, and one more forward (a chunk due mid-forward waits)."""
    n = resident + 1
    return n * OWN + 18.0 * n / capacity**2 + OWN


def cluster() -> tuple[list[SessionView], list[WorkerView]]:
    """a: 2 active (full batch) + 1 idle; b: 2 active (full batch); memory for 5 each."""
    workers = [WorkerView("a", 2, 5), WorkerView("b", 2, 5)]
    sessions = [SessionView("a0", "a"), SessionView("a1", "a"), SessionView("ai", "a", False, idle_since=0.0)]
    sessions += [SessionView("b0", "b"), SessionView("b1", "b")]
    return sessions, workers


def test_without_a_target_a_full_cluster_makes_a_new_session_wait() -> None:
    sessions, workers = cluster()
    d = plan_placement([*sessions, SessionView("n", None)], workers, 0.0, PARAMS)
    assert d.place == () and d.unplaced == ("n",)


def test_a_target_admits_past_capacity_onto_the_worker_whose_residents_leave_most_room() -> None:
    sessions, workers = cluster()
    # b (2 residents) predicts less than a (3: its idle session counts, it may resume at any time)
    assert predicted(2) < predicted(3)
    d = plan_placement([*sessions, SessionView("n", None)], workers, 0.0, replace(PARAMS, admit_ms=1e6))
    assert d.place == (("n", "b"),) and d.unplaced == ()


def test_admission_stops_exactly_at_the_target() -> None:
    sessions, workers = cluster()
    new = [SessionView("n", None)]
    at = replace(PARAMS, admit_ms=predicted(2))
    assert plan_placement(sessions + new, workers, 0.0, at).place == (("n", "b"),)
    below = replace(PARAMS, admit_ms=predicted(2) - 0.01)
    assert plan_placement(sessions + new, workers, 0.0, below).unplaced == ("n",)


def test_admission_fills_the_slack_then_waits_and_counts_idle_residents() -> None:
    sessions, workers = cluster()
    new = [SessionView(f"n{i}", None) for i in range(4)]
    # room for one more on b (to 3 residents), none on a (3 residents, one idle) within this target
    d = plan_placement(sessions + new, workers, 0.0, replace(PARAMS, admit_ms=predicted(2)))
    assert d.place == (("n0", "b"),) and d.unplaced == ("n1", "n2", "n3")
    # a larger target: both take sessions, each placement re-predicting, never past memory (5 each)
    d = plan_placement(sessions + new, workers, 0.0, replace(PARAMS, admit_ms=predicted(3)))
    placed = [wid for _, wid in d.place]
    assert placed.count("a") == 1 and placed.count("b") == 2  # a: 3 -> 4 residents, b: 2 -> 4
    assert d.unplaced == ("n3",)


def test_memory_slots_bound_admission_whatever_the_target() -> None:
    sessions, workers = cluster()
    new = [SessionView(f"n{i}", None) for i in range(8)]
    d = plan_placement(sessions + new, workers, 0.0, replace(PARAMS, admit_ms=1e9))
    placed = [wid for _, wid in d.place]
    assert placed.count("a") == 2 and placed.count("b") == 3  # to 5 residents each, the memory slots
    assert len(d.unplaced) == 3


@pytest.mark.parametrize("sequential", [True, False])
def test_headroom_still_applies_inside_capacity_and_admission_only_past_it(sequential: bool) -> None:
    workers = [WorkerView("a", 4, 8)]
    sessions = [SessionView("a0", "a"), SessionView("a1", "a"), SessionView("ai", "a", False, idle_since=0.0)]
    params = replace(PARAMS, sequential=sequential, headroom=1)
    new = [SessionView("n0", None), SessionView("n1", None)]
    # headroom keeps one of the two free batch slots for the idle session: n0 is placed, n1 waits
    assert plan_placement(sessions + new, workers, 0.0, params).unplaced == ("n1",)
    # with a generous target n1 is admitted past that too (the target already counts the idle session)
    d = plan_placement(sessions + new, workers, 0.0, replace(params, admit_ms=1e6))
    assert d.place == (("n0", "a"), ("n1", "a"))
