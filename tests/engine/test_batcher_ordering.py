"""The model worker's batcher orders its queue by its configured rule; a session's first chunk is opening.

Real tiny-wan on CPU, the real ``Batcher`` and, for the opening flag, the real worker ops in-process
over a real pipe (no worker process). Times are monotonic seconds, as the batcher's.
"""

from __future__ import annotations

import time
from multiprocessing import Pipe

import numpy as np
import pytest

from reelserve.core.errors import ReelserveError, UnknownName
from reelserve.engine.model.batcher import Batcher, WorkItem
from reelserve.engine.model.config import ModelWorkerConfig
from reelserve.engine.model.worker import _Worker
from reelserve.engine.sessions.spec import SessionSpec
from reelserve.sched.ordering import OPENING_HOLD_S
from tests.engine import test_batcher_timings

#: the fixture ``model``: tiny-wan on one thread, loaded once per module (shared with the timings test)
model = test_batcher_timings.model


def _ignore(item: WorkItem, frames: np.ndarray | None, err: ReelserveError | None) -> None:
    assert err is None


#: queued "now" however slow the machine: the hold cannot run out between submit and tick
FRESH = 60.0
#: queued longer than the hold
HELD_LONG = -(OPENING_HOLD_S + 1.0)


@pytest.mark.parametrize(
    ("ordering", "queued", "first"),
    [("edf", FRESH, "new/0"), ("streams-first", FRESH, "old/5"), ("streams-first", HELD_LONG, "new/0")],
)
def test_the_last_slot_goes_to_the_rule_s_first_chunk(
    model: object, ordering: str, queued: float, first: str
) -> None:
    b = Batcher(model, max_batch=2, max_wait_s=0.0, preempt=False, ordering=ordering)  # type: ignore[arg-type]
    cond = model.encode_text(["a fox"], [""], 1.0)  # type: ignore[attr-defined]
    now = time.monotonic()
    b.submit(WorkItem("run/3", cond, 1, 32, 32, 5, 4, _ignore, deadline=now + 9.0))
    assert b.tick() is None and list(b.running) == ["run/3"]  # one slot of two left
    # a new session's first chunk is due before the streaming one: EDF gives it the slot
    b.submit(WorkItem("new/0", cond, 2, 32, 32, 5, 4, _ignore, deadline=now + 1.0, opening=True,
                      arrival=now + queued))  # fmt: skip
    b.submit(WorkItem("old/5", cond, 3, 32, 32, 5, 4, _ignore, deadline=now + 5.0))
    assert b.tick() is None
    assert set(b.running) == {"run/3", first} and len(b.waiting) == 1
    assert b.timings[-1].batch == 2 and b.stats()["ordering"] == ordering


def test_an_unknown_rule_fails_when_the_batcher_is_made() -> None:
    with pytest.raises(UnknownName, match="streams-first"):
        Batcher(None, ordering="newest-first")  # type: ignore[arg-type]


def test_only_a_session_s_first_chunk_is_opening(model: object) -> None:
    parent, child = Pipe()
    w = _Worker(ModelWorkerConfig("mw-t", ordering="streams-first"), child, [False])
    assert w.batcher.ordering == "streams-first"
    spec = SessionSpec("a red kite", width=32, height=32, chunk_frames=4, steps=2)
    w.op_open(1, "s1", spec.to_dict())
    w.op_chunk(2, "s1", 0)
    w.op_clip(3, "clip-1", {"prompt": "a fox", "width": 32, "height": 32, "frames": 5, "steps": 2})
    assert w.batcher.waiting["s1/0"].view().opening and not w.batcher.waiting["clip-1"].view().opening
    while w.batcher.busy:
        w.batcher.tick()
    replies = {rid: status for rid, status, _ in (parent.recv() for _ in range(3))}
    assert replies == {1: "ok", 2: "ok", 3: "ok"}  # open, chunk 0, clip
    w.op_chunk(4, "s1", 1)
    assert not w.batcher.waiting["s1/1"].view().opening
