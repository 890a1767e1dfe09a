"""The session manager: sessions of one API process, their model workers, and the control loop.

Lifecycle: ``await start()`` (starts the model workers and the control loop) → ``create`` sessions →
a session starts generating when its first listener subscribes → ``await stop()``. Runs on the API's
event loop; model calls go to worker processes, encoding to a thread pool (PyAV releases the GIL).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from reelserve.core.errors import Conflict, InvalidInput, NotFound, ReelserveError
from reelserve.core.ids import new_id
from reelserve.engine.encode import init_stream, make_encode_pool
from reelserve.engine.metrics import EngineMetrics
from reelserve.engine.model.pool import ModelPool, PoolConfig
from reelserve.engine.quality import DEFAULT_PROFILE, CostModel
from reelserve.engine.sessions.adapt import admission_choice
from reelserve.engine.sessions.calibration import ChunkShape, LatencyCalibration, calibrated_inputs
from reelserve.engine.sessions.control import ControlState, control_tick
from reelserve.engine.sessions.driver import drive
from reelserve.engine.sessions.persist import persist, persist_later, restore_open
from reelserve.engine.sessions.session import Message, Session, SessionStatus
from reelserve.engine.sessions.slo import slo_on
from reelserve.engine.sessions.spec import ChunkRecord, SessionSpec
from reelserve.media.codecs import EncodeSettings
from reelserve.media.fmp4 import FragmentedEncoder
from reelserve.sched.latency import Profile
from reelserve.sched.ordering import check_target
from reelserve.sched.placement import PlacementParams
from reelserve.sched.views import SessionView

__all__ = ["MAX_PROMPT_CHARS", "ManagerConfig", "SessionManager", "config_from_env", "mse_type"]

MAX_PROMPT_CHARS = 4000

log = logging.getLogger("reelserve.engine.sessions")


@dataclass(frozen=True, slots=True)
class ManagerConfig:
    pool: PoolConfig = field(default_factory=PoolConfig)
    placement: PlacementParams = field(default_factory=lambda: PlacementParams(offload_after_s=2.0))
    control_interval_s: float = 0.25  #: placement, offload, migration and autoscaling period
    autoscale: bool = False  #: change the number of model workers with the number of active sessions
    hold_s: float = 5.0  #: scale in only after the lower target held this long
    encode_threads: int = 2  #: encode on threads of the API process ...
    encode_processes: int = 0  #: ... or on this many CPU worker processes (> 0)
    encode_preset: str = "ultrafast"
    max_sessions: int = 256
    keep_ended_s: float = 3600.0  #: an ended session (and its backlog) stays readable this long
    profile: Profile = DEFAULT_PROFILE  #: adaptive quality's cost model of the model on this device ...
    calibrate: bool = True  #: ... scaled by observed / predicted chunk latency
    #: placement's per-chunk latency fitted to observed chunks per shape (``calibration.py``); False =
    #: TurboServe's reference formula as is (the simulator's)
    calibrate_placement: bool = True
    #: ``slo``: an opening chunk's deadline after its session opened, s (0 = off; ``slo.py``). The chunk
    #: target is ``placement.admit_ms`` (admission past capacity and streaming chunks' deadlines)
    ttff_target_s: float = 0.0

    def __post_init__(self) -> None:  # the edge (``serve``'s ``Scheduling``) says which flag was bad
        check_target("placement.admit_ms", self.placement.admit_ms, "milliseconds")
        check_target("ttff_target_s", self.ttff_target_s, "seconds")
        if self.slo and self.pool.ordering != "edf":
            raise InvalidInput(
                f"the slo targets run plain EDF on each chunk's own deadline: the pool's ordering must be "
                f"edf, not {self.pool.ordering}",
                param="ordering",
            )

    @property
    def chunk_target_ms(self) -> float:
        """``slo``: the per-chunk latency target, ms (0 = off); ``PlacementParams.admit_ms``."""
        return self.placement.admit_ms

    @property
    def slo(self) -> bool:
        return slo_on(self.chunk_target_ms, self.ttff_target_s)


def config_from_env(env: dict[str, str] | None = None) -> ManagerConfig:
    """``REELSERVE_DEVICES`` (``cpu,cpu`` / ``cuda:0,cuda:1``), ``REELSERVE_MAX_BATCH``,
    ``REELSERVE_AUTOSCALE`` (1 = on), ``REELSERVE_MIN_WORKERS``."""
    env = dict(os.environ if env is None else env)
    devices = tuple(d.strip() for d in env.get("REELSERVE_DEVICES", "cpu").split(",") if d.strip())
    autoscale = env.get("REELSERVE_AUTOSCALE", "0") == "1"
    pool = PoolConfig(
        devices=devices,
        max_batch=int(env.get("REELSERVE_MAX_BATCH", "4")),
        min_workers=int(env.get("REELSERVE_MIN_WORKERS", "1")),
    )
    return ManagerConfig(pool=pool, autoscale=autoscale)


def mse_type(init_segment: bytes) -> str:
    """The MSE/`canPlayType` string of an H.264 init segment, from its avcC box (profile, compat, level)."""
    at = init_segment.find(b"avcC")
    if at < 0:
        return 'video/mp4; codecs="avc1.42E01E"'
    p, c, lv = init_segment[at + 5], init_segment[at + 6], init_segment[at + 7]
    return f'video/mp4; codecs="avc1.{p:02x}{c:02x}{lv:02x}"'


class SessionManager:
    def __init__(
        self,
        cfg: ManagerConfig | None = None,
        metrics: EngineMetrics | None = None,
        pool: ModelPool | None = None,
        store: sa.Engine | None = None,
    ) -> None:
        self.cfg = cfg or ManagerConfig()
        #: sessions and their checkpoints are written here (``persist.py``); None = memory only
        self.store = store
        #: a pool shared with the job backend (``ModelBackend``) is started and stopped by its owner
        self.owns_pool = pool is None
        self.pool = pool or ModelPool(self.cfg.pool)
        self.metrics = metrics or EngineMetrics()
        self.sessions: dict[str, Session] = {}
        self.encoders: dict[str, FragmentedEncoder] = {}
        self.encode_pool = make_encode_pool(self.cfg.encode_threads, self.cfg.encode_processes)
        self.migration_times: list[float] = []
        self.cost = CostModel(self.cfg.profile, self.cfg.calibrate)
        self.latency = LatencyCalibration(self.cfg.calibrate_placement)
        self.control = ControlState()
        self._control_task: asyncio.Task[None] | None = None
        self.metrics.bind(lambda: len(self.pool.live()), self.status_counts)

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self, workers: int | None = None) -> None:
        if self.owns_pool:
            await asyncio.to_thread(self.pool.start, workers)
        self._control_task = asyncio.create_task(self._control_loop())

    async def _control_loop(self) -> None:
        while True:
            await asyncio.sleep(self.cfg.control_interval_s)
            try:
                await control_tick(self)
            except Exception:  # the loop must survive a bad tick; the next one retries
                log.exception("session control tick failed")

    async def stop(self) -> None:
        if self._control_task is not None:
            self._control_task.cancel()
        for s in list(self.sessions.values()):
            if s.task is not None:
                s.task.cancel()
            if not s.status.terminal:
                s.end(SessionStatus.CLOSED)
        try:
            if self.owns_pool:
                await asyncio.to_thread(self.pool.stop, True)
        except RuntimeError:  # the interpreter is exiting (no executor): stop in this thread
            self.pool.stop(True)
        self.encode_pool.shutdown(wait=False)

    # -- sessions -----------------------------------------------------------------------------

    async def create(self, spec: SessionSpec, project: str = "default") -> Session:
        spec.validate()
        live = sum(not s.status.terminal for s in self.sessions.values())
        if live >= self.cfg.max_sessions:
            raise Conflict(f"{live} sessions are open; close one first (limit {self.cfg.max_sessions})")
        choice = admission_choice(self, spec)
        if not choice.accepted:
            self.metrics.rejected.labels("session").inc()
            raise Conflict(f"session rejected ({spec.quality} quality): {choice.reason}", param="deadline_ms")
        s = Session(new_id("sess"), project, spec)
        s.admission = choice.to_json()
        loop = asyncio.get_running_loop()
        enc, s.init_segment = await loop.run_in_executor(self.encode_pool, init_stream, self._encoder(spec))
        s.codec = mse_type(s.init_segment)
        s.frames_hash = hashlib.sha256()
        self.encoders[s.id] = enc
        self.sessions[s.id] = s
        await persist(self, s)
        return s

    def _encoder(self, spec: SessionSpec) -> FragmentedEncoder:
        settings = EncodeSettings(crf=23, preset=self.cfg.encode_preset, threads=1, faststart=False)
        return FragmentedEncoder(spec.width, spec.height, spec.fps, settings)

    def adopt(self, s: Session) -> None:
        """Take over a session restored from the store: its stream continues at chunk ``next_index``."""
        enc, s.init_segment = init_stream(self._encoder(s.spec))
        enc.frames, enc.segments = s.next_index * s.spec.chunk_frames, s.next_index
        s.codec = mse_type(s.init_segment)
        s.frames_hash = hashlib.sha256()
        self.encoders[s.id] = enc
        self.sessions[s.id] = s

    def restore_open(self) -> int:
        """Sessions a previous process left open come back (offloaded, paused); see ``persist.py``."""
        return restore_open(self)

    def persist_later(self, s: Session, record: ChunkRecord | None = None) -> None:
        persist_later(self, s, record)

    def get(self, session_id: str, project: str | None = None) -> Session:
        s = self.sessions.get(session_id)
        if s is None or (project is not None and s.project != project):
            raise NotFound(f"no session {session_id}")
        return s

    def subscribe(self, s: Session) -> asyncio.Queue[Message | None]:
        q = s.subscribe()
        self.begin(s)
        if s.auto_paused:
            self.resume(s)
        return q

    def unsubscribe(self, s: Session, q: asyncio.Queue[Message | None]) -> None:
        """The last listener leaving pauses the session (it goes idle and may be offloaded)."""
        s.unsubscribe(q)
        if not s.listeners and s.status is SessionStatus.RUNNING:
            self.pause(s)
            s.auto_paused = True

    def begin(self, s: Session) -> None:
        """Start generating (idempotent): the first listener does this."""
        if s.status is SessionStatus.CREATED:
            s.opened = time.monotonic()  # its TTFF clock (``slo``'s opening deadline)
            s.status = SessionStatus.RUNNING
            s.runnable.set()
            s.task = asyncio.create_task(drive(self, s), name=f"session-{s.id}")

    def set_prompt(self, s: Session, prompt: str) -> None:
        if not prompt.strip() or len(prompt) > MAX_PROMPT_CHARS:
            raise InvalidInput(f"prompt must be 1 to {MAX_PROMPT_CHARS} characters", param="prompt")
        s.pending_prompt = prompt

    def pause(self, s: Session) -> None:
        if s.status is SessionStatus.RUNNING:
            s.auto_paused = False
            s.status = SessionStatus.PAUSED
            s.runnable.clear()
            s.idle_since = time.monotonic()

    def resume(self, s: Session) -> None:
        if s.status is SessionStatus.PAUSED:
            if s.next_index == 0:  # no chunk yet (or restored before its first): its TTFF clock restarts
                s.opened = time.monotonic()
            s.auto_paused = False
            s.status = SessionStatus.RUNNING
            s.idle_since = None
            s.resumed = True
            s.runnable.set()

    async def close(self, s: Session) -> None:
        if s.task is not None and not s.task.done():
            s.task.cancel()
        await self.release(s, SessionStatus.CLOSED)

    async def release(self, s: Session, status: SessionStatus, error: dict[str, str] | None = None) -> None:
        """End a session and free its worker slot."""
        if s.status.terminal:
            return
        s.end(status, error)
        worker, s.worker = s.worker, None
        await persist(self, s)
        if worker is not None and worker in self.pool.workers and self.pool.client(worker).alive():
            await asyncio.wrap_future(self.pool.client(worker).call("close", sid=s.id))
        self.encoders.pop(s.id, None)

    # -- views and observations ---------------------------------------------------------------

    def session_view(self, s: Session, *, worker: str | None, active: bool) -> SessionView:
        """``s`` as the reference formula sees it (``compute_units`` 1); ``placement_inputs`` calibrates."""
        times = sorted(self.migration_times[-50:])
        res = ChunkShape.of(s.spec).resolution
        return SessionView(
            s.id, worker, active, max(0.001, len(s.state or b"") / 1e6), 1.0, res, s.spec.chunk_frames,
            0, times[len(times) // 2] * 1000.0 if times else None, s.idle_since,
            s.next_index > 0,  # streaming: placed before new sessions, and headroom never holds it back
        )  # fmt: skip

    def session_views(self) -> list[SessionView]:
        return [
            self.session_view(s, worker=s.worker, active=s.active)
            for s in self.sessions.values()
            if not s.status.terminal and (s.worker is not None or s.active)
        ]

    def placement_inputs(
        self, views: list[SessionView], params: PlacementParams
    ) -> tuple[list[SessionView], PlacementParams]:
        """The views and knobs of one ``sched.placement`` call with the latency the engine measured: the
        fitted bases and load terms, in engine ms (``calibration.calibrated_inputs``; unchanged before
        any observation)."""
        shapes = {v.id: ChunkShape.of(self.sessions[v.id].spec) for v in views if v.id in self.sessions}
        return calibrated_inputs(views, shapes, params, self.latency)

    def observe_chunk(self, rec: ChunkRecord, shape: ChunkShape | None = None, load: int = 0) -> None:
        """Count a delivered chunk; with its ``shape`` and the ``load`` (active sessions on its worker)
        it ran beside, also calibrate placement's latency."""
        if shape is not None:
            self.latency.observe(shape, load, self.pool.cfg.max_batch, rec.latency_ms)
        m = self.metrics
        m.chunks.inc()
        m.chunk_latency.observe(rec.latency_ms / 1000.0)
        m.queue_wait.observe(max(0.0, rec.started - rec.requested))
        m.batch_size.observe(rec.batch_size)
        if rec.missed:
            m.deadline_misses.inc()

    def purge(self, now: float) -> int:
        """Forget sessions that ended more than ``keep_ended_s`` ago (wall clock ``now``)."""
        old = [
            sid
            for sid, s in self.sessions.items()
            if s.ended_at is not None and now - s.ended_at > self.cfg.keep_ended_s
        ]
        for sid in old:
            del self.sessions[sid]
            self.encoders.pop(sid, None)
        return len(old)

    def status_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for s in self.sessions.values():
            counts[s.status.value] = counts.get(s.status.value, 0) + 1
        return counts

    def describe(self) -> dict[str, Any]:
        return {
            "workers": {w: self.pool.accepting.get(w, False) for w in self.pool.live()},
            "sessions": self.status_counts(),
            "migrations": len(self.migration_times),
            "autoscale": self.control.last_action,
            # the closed loop's switches: the batchers' ordering rule, new sessions' placement headroom
            "scheduling": {"ordering": self.pool.cfg.ordering, "headroom": self.cfg.placement.headroom},
            # slo's targets (0 = off): admission past capacity within the chunk target; chunk deadlines
            "slo": {
                "on": self.cfg.slo,
                "chunk_target_ms": self.cfg.chunk_target_ms,
                "ttff_target_s": self.cfg.ttff_target_s,
            },
            # placement's per-chunk latency per shape: fitted to observed chunks, or the formula's
            "latency_calibration": {
                "on": self.latency.enabled,
                "shapes": self.latency.describe(self.pool.cfg.max_batch),
            },
        }

    async def worker_stats(self, timeout_s: float = 2.0) -> dict[str, Any]:
        """Each live model worker's own counters (pid, sessions held, running/waiting items, steps run,
        preemptions); a worker too busy to answer within ``timeout_s`` reports ``{"busy": true}``."""
        out: dict[str, Any] = {}
        for w in self.pool.live():
            fut = asyncio.wrap_future(self.pool.client(w).call("stats"))
            try:
                out[w] = await asyncio.wait_for(fut, timeout_s)
            except (TimeoutError, ReelserveError):
                out[w] = {"busy": True}
        return out
