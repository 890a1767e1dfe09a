"""The job runner: run a claimed job's stages in order, skipping checkpoints that are done.

Contract (docs/durability.md): the runner holds the job's lease and heartbeats it from a thread; each
stage segment records its own checkpoint; a retryable error is retried with exponential backoff up to
the job's ``max_attempts``, a permanent one fails the job at once with its error code (the dead-letter
list); cancellation and a lost lease stop the job at the next step boundary.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from reelserve.core.errors import Cancelled, Conflict, ReelserveError
from reelserve.core.records import Job, JobStatus, StageStatus
from reelserve.pipeline.context import IntermediateLost, StageContext
from reelserve.pipeline.jobkinds import StageDef, stages_for
from reelserve.pipeline.progress import NullProgress, ProgressSink
from reelserve.store.base import BlobStore, Store

__all__ = ["Drained", "JobRunner", "LeaseLost", "worker_identity"]

log = logging.getLogger("reelserve.pipeline")

STATUS_EVERY_S = 0.1  #: how often a running job re-reads its status (cancellation latency)
MAX_REDOS = 3  #: stage segments redone per run because their scratch output was lost


class Drained(BaseException):
    """Raised at a step boundary when the worker is stopping (SIGTERM). A BaseException, so the
    runner neither fails nor retries the job: the worker releases it back to the queue."""


class LeaseLost(ReelserveError):
    code = "lease_lost"
    retryable = True


def worker_identity() -> str:
    """``host:pid:nonce`` — lets ``jobs resume`` tell a dead local owner from a live one."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class _Beat:
    """One claimed job whose lease the runner's heartbeat thread extends."""

    job_id: str
    due: float  #: monotonic time of the next heartbeat
    lost: bool = False  #: set when the store says the lease is no longer this worker's


class _Heartbeats:
    """One daemon thread per runner extends the leases of every job it is running, each every
    ``lease_s / 3`` (a thread per job cost a thread start per job: measurable on a busy machine).
    The thread ends after a whole lease with no job to watch; the next `watch` starts it again."""

    def __init__(self, store: Store, worker: str, lease_s: float) -> None:
        self.store, self.worker, self.lease_s = store, worker, lease_s
        self._beats: dict[str, _Beat] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def watch(self, job_id: str) -> _Beat:
        beat = _Beat(job_id, time.monotonic() + self.lease_s / 3)
        with self._lock:
            self._beats[job_id] = beat
            if self._thread is None or not self._thread.is_alive():
                name = f"heartbeats-{self.worker}"
                self._thread = threading.Thread(target=self._run, name=name, daemon=True)
                self._thread.start()
        self._wake.set()
        return beat

    def unwatch(self, beat: _Beat) -> None:
        with self._lock:
            if self._beats.get(beat.job_id) is beat:
                del self._beats[beat.job_id]

    def _run(self) -> None:
        while True:
            with self._lock:
                soonest = min((b.due for b in self._beats.values()), default=None)
            wait = self.lease_s if soonest is None else max(soonest - time.monotonic(), 0.0)
            woken = self._wake.wait(wait)
            self._wake.clear()
            with self._lock:
                if soonest is None and not woken and not self._beats:  # idle for a whole lease
                    self._thread = None
                    return
            now = time.monotonic()
            with self._lock:
                due = [b for b in self._beats.values() if b.due <= now]
            for beat in due:
                beat.due = now + self.lease_s / 3
                try:
                    if not self.store.heartbeat(beat.job_id, self.worker, self.lease_s):
                        beat.lost = True
                        self.unwatch(beat)
                except ReelserveError:
                    log.warning("heartbeat failed", extra={"job": beat.job_id})


class JobRunner:
    def __init__(
        self,
        store: Store,
        blobs: BlobStore,
        *,
        worker_id: str | None = None,
        lease_s: float = 30.0,
        device: str | None = None,
        backoff_s: float = 0.5,
        should_stop: Callable[[], bool] | None = None,
    ) -> None:
        self.store = store
        self.blobs = blobs
        self.worker_id = worker_id or worker_identity()
        self.lease_s = lease_s
        self.device = device
        self.backoff_s = backoff_s
        #: Polled at every step boundary; True makes the job raise ``Drained`` (the worker is stopping).
        self.should_stop = should_stop
        self._heartbeats = _Heartbeats(store, self.worker_id, lease_s)

    def run(self, job: Job, progress: ProgressSink | None = None) -> Job:
        """Run a job this worker has claimed until it succeeds, fails or is cancelled."""
        beat = self._heartbeats.watch(job.id)
        try:
            return self._run_with_retries(job, progress or NullProgress(), beat)
        finally:
            self._heartbeats.unwatch(beat)

    def _run_with_retries(self, job: Job, progress: ProgressSink, beat: _Beat) -> Job:
        attempt = lost = 0
        while True:
            try:
                finished = self._run_stages(job, progress, beat)
            except IntermediateLost as exc:
                lost += 1
                if lost > MAX_REDOS:
                    log.error("intermediates keep getting lost", extra={"job": job.id, "code": exc.code})
                    return self.store.finish_job(
                        job.id, JobStatus.FAILED, error_code=exc.code, error_message=exc.message
                    )
                log.warning("redoing a stage whose output was lost", extra={"job": job.id, "code": exc.code})
                self.store.checkpoint(job.id, exc.stage, exc.segment, StageStatus.PENDING, state={})
                continue
            except Cancelled:
                log.info("job cancelled", extra={"job": job.id})
                current = self.store.get_job(job.id)
                return current if current is not None else job
            except LeaseLost:
                log.warning("lease lost; another worker owns the job now", extra={"job": job.id})
                current = self.store.get_job(job.id)
                return current if current is not None else job
            except ReelserveError as exc:
                attempt += 1
                if exc.retryable and attempt < job.max_attempts:
                    log.warning("retrying", extra={"job": job.id, "code": exc.code, "attempt": attempt})
                    time.sleep(self.backoff_s * 2 ** (attempt - 1))
                    continue
                log.error("job failed", extra={"job": job.id, "code": exc.code})
                return self.store.finish_job(
                    job.id, JobStatus.FAILED, error_code=exc.code, error_message=exc.message
                )
            except Exception as exc:  # an unexpected bug must fail the job visibly, not hang it
                log.exception("job crashed", extra={"job": job.id, "code": "internal_error"})
                return self.store.finish_job(
                    job.id,
                    JobStatus.FAILED,
                    error_code="internal_error",
                    error_message=f"{type(exc).__name__}: {exc}",
                )
            if finished:  # the last stage's checkpoint made it SUCCEEDED (or found it cancelled)
                current = self.store.get_job(job.id)
                return current if current is not None else job
            return self._finish(job)

    def _finish(self, job: Job) -> Job:
        try:
            return self.store.finish_job(job.id, JobStatus.SUCCEEDED)
        except Conflict:  # a cancel landed after the last step boundary: the cancel stands
            current = self.store.get_job(job.id)
            return current if current is not None else job

    def stage_run(self, stage: StageDef, ctx: StageContext) -> Callable[[StageContext, int], None]:
        """How this runner runs ``stage``: the stage's own function; a worker backend may substitute
        its own (e.g. denoising steps batched with other jobs on a shared model worker)."""
        return stage.run

    def _checker(self, job_id: str, beat: _Beat) -> Callable[[], None]:
        last = [0.0]

        def check() -> None:
            if self.should_stop is not None and self.should_stop():
                raise Drained(f"worker {self.worker_id} is stopping")
            if beat.lost:
                raise LeaseLost(f"job {job_id} lost its lease")
            now = time.monotonic()
            if now - last[0] < STATUS_EVERY_S:  # a status read per step is cheap, not per millisecond
                return
            last[0] = now
            status = self.store.job_status(job_id)
            if status is None or status is JobStatus.CANCELLED:
                raise Cancelled(f"job {job_id} was cancelled")

        return check

    def _run_stages(self, job: Job, progress: ProgressSink, beat: _Beat) -> bool:
        """Run every stage segment not DONE yet; True when the last one's checkpoint finished the
        job (`StageContext.finishes`)."""
        ctx = StageContext(
            store=self.store,
            blobs=self.blobs,
            job=job,
            check=self._checker(job.id, beat),
            progress=progress,
            device=self.device,
        )
        stages = stages_for(job.kind)
        # Read once: stage functions checkpoint through `ctx.checkpoint`, which keeps it current.
        ctx.records = {(r.stage, r.segment): r for r in self.store.get_stages(job.id)}
        for s_index, stage in enumerate(stages):
            n_segments = stage.segments(ctx)
            for segment in range(n_segments):
                rec = ctx.record(stage.name, segment)
                if rec is not None and rec.status is StageStatus.DONE:
                    continue
                ctx.check()
                ctx.stamp = stage.stamp if segment == n_segments - 1 else None
                ctx.last = s_index == len(stages) - 1 and segment == n_segments - 1
                self.stage_run(stage, ctx)(ctx, segment)
                ctx.last = False
            if ctx.stamp is not None:
                # The stage's last checkpoint did not carry the stamp (a stage function that does
                # not pass ``ctx.job_stamp()``): write it on its own.
                stamp = {ctx.stamp: time.time()}
                self.store.update_job(job.id, timings=stamp)
                ctx.stamped(stamp)
                ctx.stamp = None
        return ctx.finished
