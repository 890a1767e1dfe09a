"""A model worker process: one device, one loaded model, many sessions and clips, one step loop.

Protocol (``multiprocessing`` pipe, pickled tuples): the parent sends ``(rid, op, args)``; the worker
answers ``(rid, "ok", result)`` or ``(rid, "error", {"code", "message", "retryable"})``, in whatever
order work finishes. Control ops are answered at once; ``chunk`` and ``clip`` when their frames exist.

    open(sid, spec)        hold a new session         prompt(sid, prompt)   change it from the next chunk
    chunk(sid, index[, steps, deadline_s])  generate chunk ``index`` (due in ``deadline_s``: ``slo``)
    export(sid)            state bytes; the worker drops it
    restore(sid, state)    take a session over        close(sid)            drop it
    clip(...)              one clip (a job's batch forward)                 stats()   drain()   ping()
    configure(max_batch, max_wait_s, preempt, ordering)   change the batching policy

Between messages it runs ``Batcher.tick``: step-level continuous batching, so chunks of several
sessions (and compatible clips) share each forward. SIGTERM drains: finish what runs, then exit.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from reelserve.core.errors import Conflict, NotFound, ReelserveError
from reelserve.core.records import Priority
from reelserve.engine.model.batcher import Batcher, WorkItem
from reelserve.engine.model.config import ModelWorkerConfig
from reelserve.engine.model.sessions import WorkerSession, export_state, restore_state
from reelserve.engine.sessions.spec import SessionSpec, chunk_seed
from reelserve.sched.ordering import ORDERINGS

__all__ = ["model_worker_main"]

log = logging.getLogger("reelserve.engine.model")


class _Worker:
    def __init__(self, cfg: ModelWorkerConfig, conn: Connection, term: list[bool]) -> None:
        from reelserve.models.registry import load_model

        self.term = term  #: set by the SIGTERM handler
        self.cfg = cfg
        self.conn = conn
        self.model = load_model(cfg.model, None, cfg.device)
        self.batcher = Batcher(self.model, cfg.max_batch, cfg.max_wait_s, cfg.preempt, cfg.ordering)
        self.sessions: dict[str, WorkerSession] = {}
        self.draining = False
        self.inbox: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()  #: from job threads
        self.lane: Any = None
        if cfg.job_slots > 0 and cfg.store_url and cfg.blob_root:
            from reelserve.engine.model.jobs import JobLane

            self.lane = JobLane(self, cfg.store_url, cfg.blob_root, cfg.job_slots, cfg.lease_s)

    def reply(self, rid: int, result: Any) -> None:
        self.conn.send((rid, "ok", result))

    def fail(self, rid: int, exc: ReelserveError) -> None:
        self.conn.send((rid, "error", {"code": exc.code, "message": exc.message, "retryable": exc.retryable}))

    def session(self, sid: str) -> WorkerSession:
        if sid not in self.sessions:
            raise NotFound(f"session {sid} is not held by worker {self.cfg.worker_id}")
        return self.sessions[sid]

    # -- ops ---------------------------------------------------------------------------------

    def op_open(self, rid: int, sid: str, spec: dict[str, Any]) -> None:
        self.sessions[sid] = WorkerSession(SessionSpec(**spec))
        self.reply(rid, None)

    def op_prompt(self, rid: int, sid: str, prompt: str) -> None:
        self.session(sid).set_prompt(prompt)
        self.reply(rid, None)

    def op_export(self, rid: int, sid: str) -> None:
        sess = self.session(sid)
        if sess.busy:
            raise Conflict(f"session {sid} has a chunk in flight; export at a chunk boundary")
        sess.conditioning(self.model)
        self.reply(rid, export_state(sess))
        del self.sessions[sid]

    def op_restore(self, rid: int, sid: str, state: bytes) -> None:
        self.sessions[sid] = restore_state(state, self.model)
        self.reply(rid, None)

    def op_close(self, rid: int, sid: str) -> None:
        self.sessions.pop(sid, None)
        self.batcher.cancel(f"{sid}/")  # a chunk in flight is answered with ``cancelled``
        self.reply(rid, None)

    def op_stats(self, rid: int) -> None:
        self.reply(rid, {"pid": os.getpid(), "sessions": len(self.sessions), **self.batcher.stats()})

    def op_ping(self, rid: int) -> None:
        self.reply(rid, "pong")

    def op_configure(self, rid: int, max_batch: int | None = None, max_wait_s: float | None = None,
                     preempt: bool | None = None, ordering: str | None = None) -> None:  # fmt: skip
        """Change the batching policy at run time (benchmarks compare settings on one loaded model)."""
        b = self.batcher
        if ordering is not None:
            ORDERINGS.get(ordering)  # unknown: the request fails, listing the valid rules
            b.ordering = ordering
        b.max_batch = b.max_batch if max_batch is None else max_batch
        b.max_wait_s = b.max_wait_s if max_wait_s is None else max_wait_s
        b.preempt = b.preempt if preempt is None else preempt
        out = {"max_batch": b.max_batch, "max_wait_s": b.max_wait_s, "preempt": b.preempt}
        self.reply(rid, {**out, "ordering": b.ordering})

    def op_drain(self, rid: int) -> None:
        self.draining = True
        self.reply(rid, None)

    def op_chunk(
        self, rid: int, sid: str, index: int, steps: int | None = None, deadline_s: float | None = None
    ) -> None:
        """``steps``: run this chunk with fewer steps than the session's (adaptive quality);
        ``deadline_s``: it is due this many seconds from now (``slo``; default the session's deadline_ms)."""
        sess = self.session(sid)
        if index != sess.next_index or sess.busy:
            raise Conflict(f"session {sid} expects chunk {sess.next_index}, got {index}")
        spec = sess.spec
        sess.busy = True
        deadline = time.monotonic() + (spec.deadline_ms / 1000.0 if deadline_s is None else deadline_s)

        def done(item: WorkItem, frames: np.ndarray | None, err: ReelserveError | None) -> None:
            sess.busy = False
            if err is not None:
                self.fail(rid, err)
                return
            assert frames is not None and item.latents is not None
            sess.tail = item.latents[:, :, -1:].clone()
            sess.next_index += 1
            state = export_state(sess)  # the parent's checkpoint: resume here if this worker dies
            self.reply(rid, {**_timing(item), "frames": frames[1:], "index": index, "state": state})

        cond = sess.conditioning(self.model)
        self.batcher.submit(
            WorkItem(
                f"{sid}/{index}", cond, chunk_seed(spec.seed, index), spec.width, spec.height,
                spec.gen_frames, steps or spec.steps, done, Priority.INTERACTIVE, deadline, sess.tail,
                opening=index == 0,  # the session's first chunk (its TTFF); later ones, moved or not, are not
            )
        )  # fmt: skip

    def op_clip(self, rid: int, clip_id: str, spec: dict[str, Any], priority: str = "interactive",
                deadline_s: float | None = None) -> None:  # fmt: skip
        """One clip: ``spec`` has prompt, width, height, frames, steps, seed (and optional guidance)."""
        g = float(spec.get("guidance_scale", 1.0))
        cond = self.model.encode_text([spec["prompt"]], [spec.get("negative_prompt", "")], g)

        def done(item: WorkItem, frames: np.ndarray | None, err: ReelserveError | None) -> None:
            if err is not None:
                self.fail(rid, err)
            else:
                self.reply(rid, {**_timing(item), "frames": frames})

        deadline = None if deadline_s is None else time.monotonic() + deadline_s
        self.batcher.submit(
            WorkItem(
                clip_id, cond, int(spec.get("seed", 0)), spec["width"], spec["height"], spec["frames"],
                spec["steps"], done, Priority(priority), deadline,
            )
        )  # fmt: skip

    # -- loop --------------------------------------------------------------------------------

    def handle(self, msg: tuple[int, str, dict[str, Any]]) -> None:
        rid, op, args = msg
        handler = getattr(self, f"op_{op}", None)
        try:
            if handler is None:
                raise NotFound(f"unknown worker op {op!r}")
            handler(rid, **args)
        except ReelserveError as exc:
            self.fail(rid, exc)
        except Exception as exc:  # a bad request must fail that request, never the worker
            log.exception("worker op %s failed", op)
            self.fail(rid, ReelserveError(f"{op} failed: {type(exc).__name__}: {exc}"))

    def _busy(self) -> bool:
        return self.batcher.busy or (self.lane is not None and self.lane.busy)

    def _timeout(self, wake: float | None) -> float:
        timeout = 0.0 if self.batcher.busy and wake is None else 0.2
        if self.lane is not None:
            timeout = min(timeout, 0.01)  # job threads hand work over through the inbox
        if wake is not None:
            timeout = max(0.0, min(timeout, wake - time.monotonic()))
        return timeout

    def run(self) -> None:
        wake: float | None = None
        while not (self.draining and not self._busy()):
            self.draining = self.draining or self.term[0]
            if self.draining and self.lane is not None:
                self.lane.stopping.set()  # finish the jobs in hand, claim no more
            timeout = self._timeout(wake)
            try:
                while self.conn.poll(timeout):
                    self.handle(self.conn.recv())
                    timeout = 0.0
            except (EOFError, OSError):
                return  # the parent is gone
            while not self.inbox.empty():
                self.inbox.get()()
            wake = self.batcher.tick() if self.batcher.busy else None


def _timing(item: WorkItem) -> dict[str, Any]:
    return {
        "started": item.started,
        "generated": time.time(),
        "steps_run": item.steps_run,
        "preemptions": item.preemptions,
        "batch_size": item.max_batch,
    }


def model_worker_main(cfg: ModelWorkerConfig, conn: Connection, worker_type: type[_Worker] = _Worker) -> None:
    """The body of a model worker process (``worker_type``: the chunk-path profile's instrumented one)."""
    term = [False]

    def on_term(*_: Any) -> None:
        term[0] = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import torch

    if cfg.threads and cfg.device.startswith("cpu"):
        torch.set_num_threads(cfg.threads)
    worker = worker_type(cfg, conn, term)
    conn.send((0, "ok", {"ready": cfg.worker_id, "pid": os.getpid()}))
    if worker.lane is not None:
        worker.lane.start()
    worker.run()
