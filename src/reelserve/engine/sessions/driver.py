"""One session's life, chunk by chunk, and the state moves it goes through at chunk boundaries.

    loop: wait until runnable → place (new: open; offloaded or lost: restore the checkpoint;
          pending move: migrate) → apply a prompt change → chunk k on its worker → encode the
          fMP4 segment (CPU pool) → publish (binary segment + JSON timing) → checkpoint = state after k

Every state move happens under ``session.lock`` and only between chunks, so a chunk never runs on two
workers and a worker never loses a session with a chunk in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from reelserve.core.errors import ReelserveError
from reelserve.engine.encode import encode_segment
from reelserve.engine.model.client import WorkerLost
from reelserve.engine.sessions.adapt import chunk_choice, observe_chunk
from reelserve.engine.sessions.calibration import ChunkShape
from reelserve.engine.sessions.session import Session, SessionStatus
from reelserve.engine.sessions.slo import chunk_deadline
from reelserve.engine.sessions.spec import ChunkRecord
from reelserve.sched.placement import PlacementParams, plan_placement, resume_move

if TYPE_CHECKING:
    from reelserve.engine.sessions.manager import SessionManager

__all__ = ["drive", "migrate", "offload"]

_PLACE_ONLY = PlacementParams(rebalance=False, offload_idle=False)


async def _call(mgr: SessionManager, worker: str, op: str, **args: Any) -> Any:
    return await asyncio.wrap_future(mgr.pool.client(worker).call(op, **args))


def _alive(mgr: SessionManager, worker: str | None) -> bool:
    return worker is not None and worker in mgr.pool.workers and mgr.pool.client(worker).alive()


async def migrate(mgr: SessionManager, s: Session, target: str) -> None:
    """Move the live state to ``target`` (caller holds ``s.lock``; no chunk in flight)."""
    assert s.worker is not None
    t0 = time.perf_counter()
    state = await _call(mgr, s.worker, "export", sid=s.id)
    await _call(mgr, target, "restore", sid=s.id, state=state)
    seconds = time.perf_counter() - t0
    s.worker, s.state = target, state
    s.migrations += 1
    mgr.metrics.migrations.inc()
    mgr.metrics.migration_seconds.observe(seconds)
    mgr.migration_times.append(seconds)


async def offload(mgr: SessionManager, s: Session) -> None:
    """Move an idle session's state to host memory (frees its slot on the worker)."""
    async with s.lock:
        if s.worker is None or s.active or s.status.terminal:
            return
        s.state = await _call(mgr, s.worker, "export", sid=s.id)
        s.worker, s.offloaded = None, True
        s.offloads += 1
        mgr.metrics.offloads.inc()


def _choose_worker(mgr: SessionManager, s: Session) -> str | None:
    views = [v for v in mgr.session_views() if v.id != s.id]
    views.append(mgr.session_view(s, worker=None, active=True))
    # place only, but a new session leaves the manager's headroom free for resident idle sessions, and
    # with a chunk target (``slo``) one finding no batch slot is admitted past capacity within it, by
    # the manager's load terms until this engine measured its own
    cfg = mgr.cfg.placement
    params = replace(
        _PLACE_ONLY,
        headroom=cfg.headroom,
        admit_ms=cfg.admit_ms,
        per_session_ms=cfg.per_session_ms,
        contention_ms=cfg.contention_ms,
    )
    views, params = mgr.placement_inputs(views, params)  # the latency this engine measured
    decision = plan_placement(views, mgr.pool.views(), time.monotonic(), params)
    return dict(decision.place).get(s.id)


async def _resume_move(mgr: SessionManager, s: Session) -> None:
    """A resident session resumed (idle → active): move it now if its worker is the worse place
    (``sched.resume_move``, as the simulator's ``place_resumed`` does)."""
    me = mgr.session_view(s, worker=s.worker, active=True)
    views, params = mgr.placement_inputs(
        [v for v in mgr.session_views() if v.id != s.id] + [me], mgr.cfg.placement
    )
    move = resume_move(views[-1], views, mgr.pool.views(), params)
    if move is not None and _alive(mgr, move.target) and mgr.pool.accepting.get(move.target, False):
        await migrate(mgr, s, move.target)
        s.resume_moves += 1


async def _place(mgr: SessionManager, s: Session) -> None:
    resumed, s.resumed = s.resumed, False
    if s.pending_move and _alive(mgr, s.worker) and _alive(mgr, s.pending_move):
        target, s.pending_move = s.pending_move, None
        if target != s.worker and mgr.pool.accepting.get(target, False):
            await migrate(mgr, s, target)
            resumed = False
    s.pending_move = None
    if _alive(mgr, s.worker):
        if resumed:
            await _resume_move(mgr, s)
        return
    if s.worker is not None:  # its worker died: resume from the checkpoint after the last chunk
        s.recoveries += 1
        mgr.metrics.recoveries.inc()
        s.worker = None
    while (dest := _choose_worker(mgr, s)) is None:
        await asyncio.sleep(0.05)  # every worker is full or starting; wait for room
    if s.state is None:
        await _call(mgr, dest, "open", sid=s.id, spec=s.spec.to_dict())
    else:
        await _call(mgr, dest, "restore", sid=s.id, state=s.state)
        # the checkpoint predates a prompt change applied just before a lost chunk: re-apply it
        await _call(mgr, dest, "prompt", sid=s.id, prompt=s.spec.prompt)
    s.worker, s.offloaded = dest, False


def chunk_args(mgr: SessionManager, s: Session, steps: int | None) -> dict[str, Any]:
    """The worker ``chunk`` op's arguments for ``s``'s next chunk; with ``slo`` on, ``deadline_s``: the
    seconds left until the chunk's own deadline (``slo.chunk_deadline``; the worker adds its clock)."""
    args: dict[str, Any] = {"sid": s.id, "index": s.next_index, "steps": steps}
    if mgr.cfg.slo:
        now = time.monotonic()
        opened = now if s.opened is None else s.opened  # not begun or resumed by the manager: opens now
        cfg = mgr.cfg
        due = chunk_deadline(
            s.spec.deadline_ms, s.next_index == 0, now, opened, cfg.chunk_target_ms, cfg.ttff_target_s
        )
        args["deadline_s"] = due - now
    return args


async def _chunk(mgr: SessionManager, s: Session) -> None:
    assert s.worker is not None
    if s.pending_prompt is not None:
        prompt, s.pending_prompt = s.pending_prompt, None
        changed = prompt != s.spec.prompt
        await _call(mgr, s.worker, "prompt", sid=s.id, prompt=prompt)
        s.spec = s.spec.with_prompt(prompt)
    else:
        changed = False
    requested = time.time()
    # the load the chunk runs beside (placement's ``n``), for the latency calibration
    load = sum(p.active and p.worker == s.worker for p in mgr.sessions.values())
    choice = chunk_choice(mgr, s)
    steps = None if choice.level is None or choice.level.steps == s.spec.steps else choice.level.steps
    res = await _call(mgr, s.worker, "chunk", **chunk_args(mgr, s, steps))
    frames = res["frames"]
    encoder = mgr.encoders[s.id]
    loop = asyncio.get_running_loop()
    encoder, segment = await loop.run_in_executor(mgr.encode_pool, encode_segment, encoder, frames)
    mgr.encoders[s.id] = encoder  # with encode processes, the advanced state comes back as a copy
    rec = ChunkRecord(
        s.id, s.next_index, int(frames.shape[0]), len(segment), requested, res["started"], res["generated"],
        time.time(), requested + s.spec.deadline_ms / 1000.0, s.worker, res["batch_size"], changed,
        {"steps": res["steps_run"], "quality": choice.to_json(), "frames_sha256": _sha(frames)},
    )  # fmt: skip
    observe_chunk(mgr, s, choice, rec.latency_ms, res["batch_size"])
    s.state = res["state"]
    s.next_index += 1
    s.frames_hash.update(frames.tobytes())
    s.publish(segment, rec)
    # a session's opening chunk (a new worker warms up on it) and a chunk that also encoded a new prompt
    # are not the shape's steady cost: count them, do not calibrate on them
    steady = not changed and rec.index > 0
    mgr.observe_chunk(rec, ChunkShape.of(s.spec, steps) if steady else None, load)
    mgr.persist_later(s, rec)  # the checkpoint after chunk k: a restarted process continues from here


def _sha(frames: Any) -> str:
    return hashlib.sha256(frames.tobytes()).hexdigest()


async def _step(mgr: SessionManager, s: Session) -> bool:
    """One pass of the loop; False when the session is over."""
    await s.runnable.wait()
    if s.status.terminal:
        return False
    if s.spec.max_chunks is not None and s.next_index >= s.spec.max_chunks:
        await mgr.release(s, SessionStatus.FINISHED)
        return False
    async with s.lock:
        await _place(mgr, s)
        if not s.active:
            return True
        # WorkerLost: the next pass re-places it and redoes this chunk from the checkpoint
        with contextlib.suppress(WorkerLost):
            await _chunk(mgr, s)
    return True


async def drive(mgr: SessionManager, s: Session) -> None:
    """The session's task: generate until finished, closed or failed."""
    s.frames_hash = s.frames_hash or hashlib.sha256()
    try:
        while await _step(mgr, s):
            pass
    except asyncio.CancelledError:
        raise
    except ReelserveError as exc:
        await mgr.release(s, SessionStatus.FAILED, {"code": exc.code, "message": exc.message})
    except Exception as exc:  # a bug must end the session visibly, not hang its listeners
        await mgr.release(s, SessionStatus.FAILED, {"code": "internal_error", "message": type(exc).__name__})
