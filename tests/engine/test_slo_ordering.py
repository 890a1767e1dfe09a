"""``slo`` in the live engine: each session chunk's own deadline, from the driver to the worker's batcher.

The real session driver computes the ``chunk`` op's arguments (``driver.chunk_args`` with the real
``SessionManager`` config; no worker process), and the real worker ops run them in-process over a real
pipe with tiny-wan on CPU, as ``test_batcher_ordering.py`` does. Times are monotonic seconds.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from multiprocessing import Pipe
from multiprocessing.connection import Connection

import pytest

from reelserve.core.errors import InvalidInput
from reelserve.engine.model.config import ModelWorkerConfig
from reelserve.engine.model.pool import ModelPool, PoolConfig
from reelserve.engine.model.worker import _Worker
from reelserve.engine.sessions.driver import chunk_args
from reelserve.engine.sessions.manager import ManagerConfig, SessionManager
from reelserve.engine.sessions.session import Session, SessionStatus
from reelserve.engine.sessions.spec import SessionSpec
from reelserve.sched.placement import PlacementParams

#: every session's own per-chunk deadline: 5 s (so a 30-s TTFF target is later, a 1-s one earlier)
SPEC = SessionSpec("a red kite", width=32, height=32, chunk_frames=4, steps=4, deadline_ms=5000)
TTFF_S = 30.0


def _manager(chunk_target_ms: float = 0.0, ttff_target_s: float = 0.0) -> SessionManager:
    cfg = ManagerConfig(placement=PlacementParams(admit_ms=chunk_target_ms), ttff_target_s=ttff_target_s)
    return SessionManager(cfg, pool=ModelPool(cfg.pool))  # views and config only: no process starts


@pytest.fixture()
def managers() -> Iterator[list[SessionManager]]:
    made: list[SessionManager] = []
    yield made
    for mgr in made:
        mgr.encode_pool.shutdown(wait=False)


def _session(sid: str, next_index: int, opened: float | None) -> Session:
    s = Session(sid, "default", SPEC, status=SessionStatus.RUNNING, next_index=next_index)
    s.opened = opened
    return s


@pytest.mark.parametrize(
    ("chunk_target_ms", "budget_s"),
    [(0.0, 5.0), (800.0, 0.8), (9000.0, 5.0)],  # off: deadline_ms; the tighter of the two otherwise
)
def test_a_streaming_chunk_is_due_its_request_plus_the_tighter_of_its_deadline_and_the_target(
    managers: list[SessionManager], chunk_target_ms: float, budget_s: float
) -> None:
    managers.append(mgr := _manager(chunk_target_ms, TTFF_S))
    args = chunk_args(mgr, _session("s1", 3, time.monotonic() - 100.0), None)
    assert args["index"] == 3 and args["deadline_s"] == pytest.approx(budget_s, abs=0.25)


def test_an_opening_chunk_is_due_its_session_s_open_time_plus_the_ttff_target(
    managers: list[SessionManager],
) -> None:
    managers.append(mgr := _manager(800.0, TTFF_S))
    opened = time.monotonic() - 10.0  # it waited 10 s for a worker: that counts against its TTFF
    assert chunk_args(mgr, _session("s1", 0, opened), None)["deadline_s"] == pytest.approx(20.0, abs=0.25)
    managers.append(no_ttff := _manager(800.0, 0.0))  # as the simulator: no TTFF target = the deadline
    assert chunk_args(no_ttff, _session("s1", 0, opened), None)["deadline_s"] == pytest.approx(-5.0, abs=0.25)


def test_a_resume_before_the_first_chunk_restarts_the_ttff_clock(managers: list[SessionManager]) -> None:
    managers.append(mgr := _manager(0.0, TTFF_S))
    fresh, streaming = _session("s1", 0, 1.0), _session("s2", 3, 1.0)
    for s in (fresh, streaming):
        s.status = SessionStatus.PAUSED
        mgr.resume(s)
    assert fresh.opened == pytest.approx(time.monotonic(), abs=0.5) and streaming.opened == 1.0


def test_without_targets_the_worker_keeps_its_own_deadline(managers: list[SessionManager]) -> None:
    managers.append(mgr := _manager())
    assert chunk_args(mgr, _session("s1", 0, time.monotonic()), 2) == {"sid": "s1", "index": 0, "steps": 2}


@pytest.mark.parametrize(
    ("ordering", "admit_ms", "ttff_s"), [("streams-first", 0.0, 3.0), ("edf", -1.0, 0.0), ("edf", 0.0, "nan")]
)
def test_a_manager_refuses_targets_it_cannot_run(ordering: str, admit_ms: float, ttff_s: object) -> None:
    with pytest.raises(InvalidInput):
        ManagerConfig(
            pool=PoolConfig(ordering=ordering),
            placement=PlacementParams(admit_ms=admit_ms),
            ttff_target_s=float(ttff_s),  # type: ignore[arg-type]
        )


def _drain(w: _Worker, conn: Connection, replies: int) -> None:
    while w.batcher.busy:
        w.batcher.tick()
    assert all(conn.recv()[1] == "ok" for _ in range(replies))


@pytest.fixture(scope="module")
def worker() -> Iterator[tuple[_Worker, Connection]]:
    """A real model worker's ops over a pipe (tiny-wan, EDF, batches of 2, no preemption)."""
    parent, child = Pipe()
    w = _Worker(ModelWorkerConfig("mw-slo", max_batch=2, max_wait_s=0.0, preempt=False), child, [False])
    yield w, parent
    parent.close()


@pytest.mark.parametrize(("opened_ago_s", "first"), [(TTFF_S - 1.0, "new/0"), (0.0, "old/1")])
def test_an_opening_chunk_takes_the_last_slot_only_once_its_deadline_is_the_earlier(
    worker: tuple[_Worker, Connection], managers: list[SessionManager], opened_ago_s: float, first: str
) -> None:
    w, conn = worker
    managers.append(mgr := _manager(0.0, TTFF_S))
    now = time.monotonic()
    run, old, new = (_session(sid, 0, now) for sid in ("run", "old", "new"))
    for rid, s in enumerate((run, old, new)):
        w.op_open(rid, s.id, SPEC.to_dict())
    w.op_chunk(10, **chunk_args(mgr, old, None))  # old's first chunk: it is streaming now
    w.op_chunk(11, **chunk_args(mgr, run, None))
    _drain(w, conn, 3 + 2)
    run.next_index = old.next_index = 1
    w.op_chunk(12, **chunk_args(mgr, run, None))
    assert w.batcher.tick() is None and list(w.batcher.running) == ["run/1"]  # one slot of two left
    # old's chunk 1 is due in 5 s (its deadline_ms); new's opening at its open time + 30 s
    requested = time.monotonic()
    new.opened = requested - opened_ago_s  # opened just now, or 29 s ago (waiting for a worker)
    w.op_chunk(13, **chunk_args(mgr, old, None))
    w.op_chunk(14, **chunk_args(mgr, new, None))
    items = w.batcher.waiting
    assert items["new/0"].opening and items["new/0"].deadline == pytest.approx(new.opened + TTFF_S, abs=0.25)
    assert items["old/1"].deadline == pytest.approx(requested + 5.0, abs=0.25)
    assert w.batcher.tick() is None
    assert set(w.batcher.running) == {"run/1", first} and len(w.batcher.waiting) == 1
    assert w.batcher.timings[-1].batch == 2
    _drain(w, conn, 3)
    for s in (run, old, new):
        w.op_close(20, s.id)
    assert all(conn.recv()[1] == "ok" for _ in range(3))
