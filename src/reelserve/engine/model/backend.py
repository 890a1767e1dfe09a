"""``ModelBackend``: the ``Backend`` seam over model workers that also run store-claimed t2v jobs.

One model worker process per device entry; each claims jobs with leases (``job_slots`` at a time) and
runs their denoising steps in its batcher, so compatible jobs share batched forwards and interactive
jobs preempt batch jobs at step boundaries. ``stop(drain=True)`` sends SIGTERM: a worker claims no more
jobs, finishes the ones in hand, then exits; ``stop(drain=False)`` kills (leases expire, jobs resume
from their checkpoints elsewhere). A Ray backend would implement the same three methods with actors.
"""

from __future__ import annotations

import threading
from dataclasses import replace

from reelserve.engine.model.pool import ModelPool, PoolConfig

__all__ = ["ModelBackend"]


class ModelBackend:
    def __init__(self, pool: PoolConfig, store_url: str, blob_root: str, job_slots: int = 4) -> None:
        cfg = replace(pool, store_url=store_url, blob_root=blob_root, job_slots=job_slots)
        self.pool = ModelPool(cfg)
        self._starting: threading.Thread | None = None

    def start(self) -> None:
        """Launch the workers and return at once (models load in the background)."""
        if self._starting is not None:
            raise RuntimeError("this backend was already started")
        self._starting = threading.Thread(target=self.pool.start, name="model-backend-start", daemon=True)
        self._starting.start()

    def wait_ready(self, timeout: float = 600.0) -> None:
        if self._starting is not None:
            self._starting.join(timeout)

    def alive(self) -> int:
        return len(self.pool.live())

    def stop(self, drain: bool = True) -> None:
        self.wait_ready(60.0)
        self.pool.stop(drain)
