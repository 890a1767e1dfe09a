"""Ordering (priority classes, EDF, least slack) and batching (compatible keys, full / waited / deadline)."""

from __future__ import annotations

import random

import pytest

from reelserve.core.errors import InvalidInput, UnknownName
from reelserve.core.records import Priority
from reelserve.sched import RequestView, form_batches, order_requests
from reelserve.sched.ordering import OPENING_HOLD_S


def req(rid: str, arrival: float = 0.0, deadline: float | None = None, **kw: object) -> RequestView:
    return RequestView(rid, arrival, deadline=deadline, **kw)  # type: ignore[arg-type]


def test_interactive_before_batch_then_edf_and_deadlines_before_none() -> None:
    reqs = [
        req("b1", 0, 5, priority=Priority.BATCH),
        req("i-none", 0, None),
        req("i-late", 1, 9),
        req("i-early", 2, 3),
    ]
    assert order_requests(reqs, now=0).request_ids == ("i-early", "i-late", "i-none", "b1")


def test_edf_order_holds_on_random_queues() -> None:
    rng = random.Random(3)
    for _ in range(50):
        reqs = [req(f"r{i}", rng.random(), rng.random() * 10) for i in range(20)]
        ids = order_requests(reqs, now=0).request_ids
        deadlines = [next(r.deadline for r in reqs if r.id == i) for i in ids]
        assert deadlines == sorted(deadlines)


def test_least_slack_uses_service_time() -> None:
    short = req("short", 0, 10, est_service_s=1)
    long = req("long", 0, 11, est_service_s=5)  # later deadline, less slack
    assert order_requests([short, long], 0, "edf").request_ids == ("short", "long")
    assert order_requests([short, long], 0, "least-slack").request_ids == ("long", "short")


def test_unknown_rule_lists_valid_names() -> None:
    with pytest.raises(UnknownName, match="edf, fifo, least-slack, streams-first"):
        order_requests([], 0, "sjf")


def test_batches_group_compatible_requests_and_respect_max_batch() -> None:
    a = {"model": "wan", "width": 640, "height": 360, "frames": 17, "steps": 4}
    b = {**a, "steps": 8}
    reqs = [req(f"a{i}", 0, 10 + i, **a) for i in range(5)] + [req("b0", 0, 10, **b)]
    plan = form_batches(reqs, now=0, max_batch=2, max_wait_s=1)
    seen = [rid for batch in plan.batches for rid in batch.request_ids]
    assert sorted(seen) == sorted(r.id for r in reqs)  # every request exactly once
    for batch in plan.batches:
        assert len(batch.request_ids) <= 2
        assert len({next(r.batch_key for r in reqs if r.id == i) for i in batch.request_ids}) == 1
    full = [bt for bt in plan.batches if bt.reason == "full"]
    assert [bt.request_ids for bt in full] == [("a0", "a1"), ("a2", "a3")]  # EDF within a key


def test_batch_waits_then_dispatches_on_max_wait_or_deadline() -> None:
    lone = req("x", arrival=0.0, deadline=100.0, est_service_s=1.0)
    waiting = form_batches([lone], now=0.01, max_batch=4, max_wait_s=0.05).batches[0]
    assert not waiting.ready and waiting.dispatch_at == pytest.approx(0.05)
    assert form_batches([lone], now=0.05, max_batch=4, max_wait_s=0.05).batches[0].reason == "max_wait"
    urgent = req("u", arrival=0.0, deadline=1.0, est_service_s=0.99)
    assert form_batches([urgent], now=0.02, max_batch=4, max_wait_s=0.05).batches[0].reason == "deadline"


def test_batching_rejects_bad_limits() -> None:
    with pytest.raises(InvalidInput):
        form_batches([], now=0, max_batch=0)


def test_streams_first_runs_opening_chunks_after_streaming_ones_until_the_hold_expires() -> None:
    # due times: the new session's first chunk is due earliest (it waited for a slot)
    opening = req("new", arrival=9.5, deadline=8.0, opening=True)
    streaming = [req("s1", 9.0, 10.0), req("s2", 9.0, 10.0)]
    assert order_requests([opening, *streaming], 10.0, "edf").request_ids == ("new", "s1", "s2")
    assert order_requests([opening, *streaming], 10.0, "streams-first").request_ids == ("s1", "s2", "new")
    # queued OPENING_HOLD_S ago or more: no longer held back (a busy worker cannot starve it)
    late = 9.5 + OPENING_HOLD_S
    assert order_requests([opening, *streaming], late, "streams-first").request_ids[0] == "new"
    # priority classes still come first
    batch = req("b", 0.0, 1.0, priority=Priority.BATCH)
    assert order_requests([batch, opening], 10.0, "streams-first").request_ids == ("new", "b")


def test_slo_deadlines_put_an_opening_chunk_where_its_ttff_target_falls_among_streaming_chunks() -> None:
    from reelserve.sched.ordering import slo_deadline

    # streaming chunks due at 10.0 and 10.5 with a 2-s chunk target: deadlines 12.0 and 12.5
    stream = [RequestView(f"s{i}", due, deadline=slo_deadline(False, due, 0.0, 2.0, 1.0)) for i, due in
              enumerate((10.0, 10.5))]  # fmt: skip
    assert [r.deadline for r in stream] == [12.0, 12.5]
    # an opening that arrived at 11.2 with a 1-s TTFF target is due 12.2: between them under EDF
    opening = RequestView("o", 11.2, deadline=slo_deadline(True, 11.2, 11.2, 2.0, 1.0), opening=True)
    assert order_requests([*stream, opening], 11.3, "edf").request_ids == ("s0", "o", "s1")
    # a later arrival (12.0 -> 13.0) runs after both; an earlier one (10.5 -> 11.5) before both
    late = RequestView("o", 12.0, deadline=slo_deadline(True, 12.0, 12.0, 2.0, 1.0), opening=True)
    assert order_requests([*stream, late], 12.1, "edf").request_ids == ("s0", "s1", "o")
    early = RequestView("o", 10.5, deadline=slo_deadline(True, 10.5, 10.5, 2.0, 1.0), opening=True)
    assert order_requests([*stream, early], 10.6, "edf").request_ids == ("o", "s0", "s1")
