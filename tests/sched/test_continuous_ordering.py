"""``sched.continuous.plan_step(..., ordering=)``: the rule that picks a full worker's next members."""

from __future__ import annotations

import pytest

from reelserve.core.errors import UnknownName
from reelserve.sched.continuous import plan_step
from reelserve.sched.ordering import OPENING_HOLD_S
from reelserve.sched.views import RequestView


def chunk(rid: str, arrival: float, deadline: float, opening: bool = False) -> RequestView:
    """A session chunk of one shape (all share a batch key), due at ``deadline``."""
    return RequestView(
        rid, arrival, deadline=deadline, model="m", width=32, height=32, frames=5, steps=4, opening=opening
    )


#: a new session's first chunk, queued at 0.0 and due before the streaming chunk
OPENING = chunk("new/0", arrival=0.0, deadline=1.0, opening=True)
STREAMING = chunk("old/7", arrival=0.5, deadline=1.5)
RUNNING = (chunk("a/3", 0.0, 9.0), chunk("b/3", 0.0, 9.0), chunk("c/3", 0.0, 9.0))


def test_edf_stays_the_default_and_admits_the_earlier_due_opening_chunk() -> None:
    plan = plan_step(RUNNING, [STREAMING, OPENING], now=0.6, max_batch=4)
    assert plan.admit == ("new/0",) and plan.reason == "join"


def test_streams_first_holds_an_opening_chunk_behind_a_streaming_one_when_one_slot_is_left() -> None:
    plan = plan_step(RUNNING, [STREAMING, OPENING], now=0.6, max_batch=4, ordering="streams-first")
    assert plan.admit == ("old/7",) and plan.reason == "join"
    roomy = plan_step(RUNNING, [STREAMING, OPENING], now=0.6, max_batch=5, ordering="streams-first")
    assert set(roomy.admit) == {"old/7", "new/0"}  # held back only for a slot, never left out of room


def test_an_opening_chunk_queued_opening_hold_s_runs_in_edf_order_again() -> None:
    just_before = plan_step(
        RUNNING, [STREAMING, OPENING], now=OPENING_HOLD_S - 0.01, max_batch=4, ordering="streams-first"
    )
    assert just_before.admit == ("old/7",)
    held_long = plan_step(
        RUNNING, [STREAMING, OPENING], now=OPENING_HOLD_S, max_batch=4, ordering="streams-first"
    )
    assert held_long.admit == ("new/0",)


def test_an_idle_worker_starts_its_batch_with_the_rule_s_members() -> None:
    waiting = [STREAMING, OPENING, chunk("x/2", 0.4, 1.6)]
    edf = plan_step([], waiting, now=0.6, max_batch=2)
    first = plan_step([], waiting, now=0.6, max_batch=2, ordering="streams-first")
    assert set(edf.admit) == {"new/0", "old/7"} and edf.reason == "full"
    assert set(first.admit) == {"old/7", "x/2"} and first.reason == "full"


def test_an_unknown_rule_is_an_unknown_name_listing_the_valid_ones() -> None:
    with pytest.raises(UnknownName) as info:
        plan_step([], [OPENING], now=0.0, ordering="newest-first")
    assert "streams-first" in str(info.value) and "edf" in str(info.value)
