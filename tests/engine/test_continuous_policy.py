"""``sched.continuous.plan_step``: the pure step-boundary policy of a model worker (no model, no clock)."""

from __future__ import annotations

from reelserve.core.records import Priority
from reelserve.sched.continuous import plan_step
from reelserve.sched.views import RequestView

B, INT = Priority.BATCH, Priority.INTERACTIVE


def req(rid: str, arrival: float = 0.0, priority: Priority = INT, size: int = 32) -> RequestView:
    return RequestView(rid, arrival, priority, model="m", width=size, height=size, frames=5, steps=4)


def test_an_empty_worker_waits_for_company_until_max_wait() -> None:
    early = plan_step([], [req("a", arrival=0.0)], now=0.005, max_batch=4, max_wait_s=0.01)
    assert early.admit == () and early.wake_at == 0.01 and early.reason == "waiting"
    late = plan_step([], [req("a", arrival=0.0), req("b", arrival=0.001)], now=0.01, max_wait_s=0.01)
    assert late.admit == ("a", "b") and late.reason == "max_wait"


def test_a_full_batch_starts_at_once_and_others_join_a_running_set() -> None:
    full = plan_step([], [req(x) for x in "abcd"], now=0.0, max_batch=4)
    assert set(full.admit) == set("abcd") and full.reason == "full"
    join = plan_step([req("a")], [req("b", 1.0), req("c", 2.0, size=64)], now=3.0, max_batch=4)
    assert join.admit == ("b",) and join.reason == "join"  # c has another size: it waits


def test_interactive_work_preempts_batch_work_of_another_key() -> None:
    running = [req("b1", priority=B), req("b2", priority=B)]
    plan = plan_step(running, [req("i", arrival=5.0, size=64)], now=5.0, max_batch=4, max_wait_s=0.0)
    assert set(plan.preempt) == {"b1", "b2"} and plan.admit == ("i",)
    off = plan_step(running, [req("i", arrival=5.0, size=64)], now=5.0, max_batch=4, preempt=False)
    assert off.preempt == () and off.admit == ()


def test_interactive_work_takes_only_the_slots_it_needs() -> None:
    running = [req(f"b{k}", arrival=k, priority=B) for k in range(4)]
    plan = plan_step(running, [req("i", arrival=9.0)], now=9.0, max_batch=4)
    assert len(plan.preempt) == 1 and plan.admit == ("i",)


def test_interactive_work_is_never_preempted() -> None:
    plan = plan_step([req("i1")], [req("i2", size=64)], now=1.0, max_batch=1, max_wait_s=0.0)
    assert plan.preempt == () and plan.admit == ()
