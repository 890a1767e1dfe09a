"""Adaptive quality ladder, preemption at step boundaries, autoscaler hold."""

from __future__ import annotations

import itertools

import pytest

from reelserve.core.errors import InvalidInput
from reelserve.core.records import Priority
from reelserve.sched import (
    QualityLevel,
    RequestView,
    RunningView,
    admit,
    autoscale,
    build_ladder,
    decide_preemption,
)
from reelserve.sched.autoscale import target_workers


def test_ladder_degrades_steps_then_resolution_then_fps_monotonically() -> None:
    ladder = build_ladder(QualityLevel(1280, 800, 25, 16))
    costs = [lv.cost for lv in ladder]
    assert costs == sorted(costs, reverse=True) and len(set(costs)) == len(costs)
    phases = []
    for prev, cur in itertools.pairwise(ladder):
        if cur.steps < prev.steps:
            phases.append("steps")
        elif cur.width * cur.height < prev.width * prev.height:
            phases.append("size")
        else:
            assert cur.fps < prev.fps
            phases.append("fps")
    assert phases == sorted(phases, key=["steps", "size", "fps"].index)
    assert ladder[-1] == QualityLevel(512, 320, 10, 8)


def test_admit_picks_the_best_rung_that_meets_the_deadline() -> None:
    ladder = build_ladder(QualityLevel(1280, 800, 25, 16))
    finish = {lv: lv.cost / ladder[0].cost * 10.0 for lv in ladder}  # seconds
    ok = admit(ladder, finish.__getitem__, deadline=10.0)
    assert ok.accepted and ok.rung == 0 and not ok.degraded
    mid = admit(ladder, finish.__getitem__, deadline=5.0)
    assert mid.accepted and mid.degraded and finish[mid.level] <= 5.0  # type: ignore[index]
    assert all(finish[lv] > 5.0 for lv in ladder[: mid.rung])
    # monotone: a tighter deadline never gets a better rung
    rungs = [admit(ladder, finish.__getitem__, deadline=d).rung for d in (10, 6, 4, 2, 1, 0.5)]
    assert rungs == sorted(rungs)


def test_admit_rejects_with_a_reason_or_runs_late_when_allowed() -> None:
    ladder = build_ladder(QualityLevel(640, 400, 15, 16))
    no = admit(ladder, lambda lv: 100.0, deadline=1.0)
    assert not no.accepted and no.level is None and "cannot be met" in no.reason
    late = admit(ladder, lambda lv: 100.0, deadline=1.0, allow_late=True)
    assert late.accepted and late.rung == len(ladder) - 1
    strict = admit(ladder, lambda lv: lv.cost, deadline=1.0, allow_degrade=False)
    assert not strict.accepted
    with pytest.raises(InvalidInput):
        build_ladder(QualityLevel(0, 400, 15, 16))


def test_interactive_preempts_batch_at_the_next_step_boundary() -> None:
    running = [
        RunningView("batch-a", "w0", Priority.BATCH, started=0.0, step_s=1.0, steps_done=2, steps_total=20),
        RunningView("batch-b", "w1", Priority.BATCH, started=0.0, step_s=0.4, steps_done=0, steps_total=20),
        RunningView("live", "w2", Priority.INTERACTIVE, started=0.0, step_s=0.1, steps_done=0, steps_total=4),
    ]
    waiting = [RequestView("i1", 0.0, Priority.INTERACTIVE, deadline=5.0)]
    (p,) = decide_preemption(running, waiting, free_workers=0, now=1.1)
    # batch-b's next boundary is 1.2 s (step 3), sooner than batch-a's 2.0 s (step 4)
    assert (p.victim_id, p.worker, p.by_id, p.resume_step) == ("batch-b", "w1", "i1", 3)
    assert p.at == pytest.approx(1.2)
    assert decide_preemption(running, waiting, free_workers=1, now=1.1) == ()
    batch_only = [RequestView("b9", 0.0, Priority.BATCH)]
    assert decide_preemption(running, batch_only, free_workers=0, now=1.1) == ()


def test_autoscaler_target_formula() -> None:
    assert target_workers(0, 4, 2, 64) == 2
    assert target_workers(36, 4, 1, 64) == 10  # ceil(36 / 3.6)
    assert target_workers(1000, 4, 1, 64) == 64
    with pytest.raises(InvalidInput):
        target_workers(1, 0, 1, 4)


def test_autoscaler_scales_out_at_once_and_in_only_after_the_hold() -> None:
    out = autoscale(4, 40, now=0.0, per_gpu=4, max_workers=64, hold_s=5)
    assert out.action == "out" and out.workers == 12
    d = autoscale(12, 4, now=10.0, per_gpu=4, hold_s=5)
    assert d.action == "hold" and d.workers == 12 and d.below_since == 10.0
    d = autoscale(12, 4, now=14.9, per_gpu=4, hold_s=5, below_since=d.below_since)
    assert d.action == "hold" and d.workers == 12
    d = autoscale(12, 4, now=15.0, per_gpu=4, hold_s=5, below_since=d.below_since)
    assert d.action == "in" and d.workers == 2 and d.below_since is None
    # a blip back up resets the timer
    d = autoscale(12, 4, now=10.0, per_gpu=4, hold_s=5)
    d = autoscale(12, 43, now=12.0, per_gpu=4, hold_s=5, below_since=d.below_since)
    assert d.below_since is None
