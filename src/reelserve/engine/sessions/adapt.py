"""Adaptive quality for sessions: the rung of each chunk, and admission of a new session.

A chunk's ladder has only step rungs: the stream's size and frame rate are fixed by its fMP4
initialisation segment (a new size would need a new init segment and a player reset), so a session
degrades by running chunks with fewer denoising steps, down to its ``min_steps``. The prediction is the
manager's ``CostModel`` at the batch the chunk will share (active sessions on its worker).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from reelserve.engine.quality import QualityChoice, choose, ladder_for
from reelserve.engine.sessions.spec import SessionSpec
from reelserve.sched.quality import QualityLevel

if TYPE_CHECKING:
    from reelserve.engine.sessions.manager import SessionManager
    from reelserve.engine.sessions.session import Session

__all__ = ["admission_choice", "chunk_choice", "observe_chunk"]


def _ladder(spec: SessionSpec) -> tuple[QualityLevel, ...]:
    level = QualityLevel(spec.width, spec.height, spec.steps, spec.fps)
    return ladder_for(level, spec.min_steps, sizes=False, fps=False)


def _load(mgr: SessionManager) -> dict[str, int]:
    load = dict.fromkeys(mgr.pool.live(), 0)
    for s in mgr.sessions.values():
        if s.active and s.worker in load:
            load[s.worker] += 1
    return load


def _batch(mgr: SessionManager, n: int) -> int:
    return max(1, min(n, mgr.pool.cfg.max_batch))


def _choose(mgr: SessionManager, spec: SessionSpec, batch: int, admission: bool) -> QualityChoice:
    def predict(lv: QualityLevel) -> float:
        return mgr.cost.predict_ms(lv, spec.gen_frames, batch)

    return choose(spec.quality, _ladder(spec), predict, spec.deadline_ms, admission=admission)


def chunk_choice(mgr: SessionManager, s: Session) -> QualityChoice:
    """The rung of ``s``'s next chunk on its worker (never a rejection: the session is running).

    Chunks batch only with chunks of equal steps, so the rung is aligned per worker, as the simulator
    picks one rung per forward: ``s`` runs at the fewest steps any active peer of the same shape on its
    worker wants (each peer's own, unaligned choice), when that is a rung of ``s``'s ladder."""
    own = _choose(mgr, s.spec, _batch(mgr, _load(mgr).get(s.worker or "", 1)), admission=False)
    s.wanted_steps = own.level.steps if own.level is not None else s.spec.steps
    if s.spec.quality != "adaptive":
        return own
    shape = s.spec.batch_key[:4]
    peers = [
        p.wanted_steps for p in mgr.sessions.values()
        if p is not s and p.active and p.worker == s.worker and p.spec.quality == "adaptive"
        and p.wanted_steps and p.spec.batch_key[:4] == shape
    ]  # fmt: skip
    ladder = _ladder(s.spec)
    target = min([s.wanted_steps, *peers])
    rung = next((i for i, lv in enumerate(ladder) if lv.steps == target), None)
    if rung is None or target == s.wanted_steps:
        return own
    lv = ladder[rung]
    why = f"degraded to {lv.steps} steps with its worker's batch (own choice: {s.wanted_steps})"
    return replace(own, rung=rung, level=lv, reason=why)


def admission_choice(mgr: SessionManager, spec: SessionSpec) -> QualityChoice:
    """Whether a new session's first chunk can meet its deadline, on the least loaded worker."""
    return _choose(mgr, spec, _batch(mgr, 1 + min(_load(mgr).values(), default=0)), admission=True)


def observe_chunk(
    mgr: SessionManager, s: Session, choice: QualityChoice, latency_ms: float, batch: int
) -> None:
    """Calibrate the cost model with the chunk's observed latency; count a degraded chunk."""
    if choice.level is not None:
        mgr.cost.observe(choice.level, s.spec.gen_frames, batch, latency_ms)
    if choice.degraded:
        s.degraded_chunks += 1
        mgr.metrics.degraded.labels("chunk").inc()
