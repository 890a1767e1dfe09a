"""The local backend: N worker processes on this machine, each claiming and running jobs.

Each worker (a ``spawn``-ed process: no inherited locks, threads or database connections) opens
its own store and blob store, optionally loads a model up front, then loops: claim a job with a
lease → ``JobRunner.run`` → claim the next, sleeping briefly when the queue is empty. SIGTERM
drains: the running job stops at its next step boundary and goes back to the queue
(``release_job``; its checkpoints stay, so the next worker resumes it). SIGINT is ignored: the
parent decides when workers stop.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import signal
import time
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

__all__ = ["LocalBackend", "WorkerConfig", "worker_main"]

log = logging.getLogger("reelserve.engine")


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    store_url: str
    blob_root: str
    lease_s: float = 30.0
    idle_sleep_s: float = 0.2  #: pause between claims when the queue is empty
    preload: tuple[str, ...] = ("tiny-wan",)  #: models loaded before the first claim
    device: str | None = None


class _Flag:
    def __init__(self) -> None:
        self.set = False

    def __call__(self, *_: Any) -> None:
        self.set = True

    def is_set(self) -> bool:
        return self.set


def worker_main(cfg: WorkerConfig) -> None:
    """The body of a worker process (also callable in-process for tests)."""
    flag = _Flag()
    signal.signal(signal.SIGTERM, flag)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from reelserve.models.registry import load_model
    from reelserve.pipeline.jobkinds import stages_for
    from reelserve.pipeline.runner import Drained, JobRunner
    from reelserve.store import FsBlobStore, open_store

    stages_for("t2v")  # import the pipeline before the first claim, not during it
    for name in cfg.preload:
        load_model(name, None, cfg.device)
    store = open_store(cfg.store_url)
    runner = JobRunner(
        store,
        FsBlobStore(Path(cfg.blob_root)),
        lease_s=cfg.lease_s,
        device=cfg.device,
        should_stop=flag.is_set,
    )
    try:
        while not flag.set:
            job = store.claim_job(runner.worker_id, cfg.lease_s)
            if job is None:
                time.sleep(cfg.idle_sleep_s)
                continue
            try:
                runner.run(job)
            except Drained:
                store.release_job(job.id, runner.worker_id)
                log.info("drained; job released", extra={"job": job.id})
    finally:
        store.close()


class LocalBackend:
    """``Backend`` of ``workers`` local processes (spawn context)."""

    def __init__(self, cfg: WorkerConfig, workers: int = 1, drain_timeout_s: float = 60.0) -> None:
        if workers < 0:
            raise ValueError("workers must be 0 or more")
        self.cfg = cfg
        self.workers = workers
        self.drain_timeout_s = drain_timeout_s
        self._procs: list[BaseProcess] = []

    def start(self) -> None:
        if self._procs:
            raise RuntimeError("this backend was already started")
        ctx = mp.get_context("spawn")
        for i in range(self.workers):
            name = f"reelserve-worker-{i}"
            proc = ctx.Process(target=worker_main, args=(self.cfg,), name=name, daemon=True)
            proc.start()
            self._procs.append(proc)

    def alive(self) -> int:
        return sum(1 for p in self._procs if p.is_alive())

    def pids(self) -> list[int]:
        return [p.pid for p in self._procs if p.pid is not None]

    def stop(self, drain: bool = True) -> None:
        for proc in self._procs:
            if proc.is_alive() and drain:
                proc.terminate()
            elif proc.is_alive():
                proc.kill()
        deadline = time.monotonic() + (self.drain_timeout_s if drain else 5.0)
        for proc in self._procs:
            proc.join(max(0.0, deadline - time.monotonic()))
            if proc.is_alive():
                proc.kill()
                proc.join(5.0)
