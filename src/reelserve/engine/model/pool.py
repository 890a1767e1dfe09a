"""The model workers of one host: one process per device entry, added and drained at run time.

``devices`` is a list such as ``["cpu", "cpu"]`` or ``["cuda:0", "cuda:1"]``; worker ``mw-<n>`` runs on
``devices[n % len(devices)]``. Starting blocks until the model is loaded (seconds): call it from a
thread when an event loop must keep running.
"""

from __future__ import annotations

import itertools
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from reelserve.core.errors import InvalidInput
from reelserve.engine.model.client import ModelWorkerClient
from reelserve.engine.model.config import ModelWorkerConfig
from reelserve.sched.views import WorkerView

__all__ = ["ModelPool", "PoolConfig"]


@dataclass(frozen=True, slots=True)
class PoolConfig:
    devices: tuple[str, ...] = ("cpu",)
    model: str = "tiny-wan"
    max_batch: int = 4  #: most items per batched forward (= sessions a worker batches per chunk)
    max_wait_s: float = 0.01
    preempt: bool = True
    threads: int = 1
    memory_slots: int = 16  #: most sessions a worker holds (active or idle, not offloaded)
    min_workers: int = 1
    max_workers: int = 0  #: 0 = len(devices)
    store_url: str | None = None  #: with job_slots: workers also run store-claimed t2v jobs
    blob_root: str | None = None
    job_slots: int = 0
    lease_s: float = 30.0
    ordering: str = "edf"  #: each worker's batcher orders its queue by this ``sched.ordering`` rule


class ModelPool:
    def __init__(self, cfg: PoolConfig) -> None:
        if not cfg.devices:
            raise InvalidInput("give at least one device, e.g. --devices cpu or --devices cuda:0,cuda:1")
        self.cfg = cfg
        self.workers: dict[str, ModelWorkerClient] = {}
        self.accepting: dict[str, bool] = {}
        #: Workers being started (loading their model): not in ``workers`` until ready, but they
        #: count toward the pool's size, so a control tick during start-up starts no extra ones.
        self.starting = 0
        self._seq = itertools.count()
        self._lock = threading.Lock()

    @property
    def max_workers(self) -> int:
        return self.cfg.max_workers or len(self.cfg.devices)

    def _new_client(self) -> ModelWorkerClient:
        n = next(self._seq)
        c = self.cfg
        wc = ModelWorkerConfig(
            f"mw-{n}", c.devices[n % len(c.devices)], c.model, c.max_batch, c.max_wait_s, c.preempt,
            c.threads, c.store_url, c.blob_root, c.job_slots, c.lease_s, c.ordering,
        )  # fmt: skip
        return ModelWorkerClient(wc)

    def start(self, n: int | None = None) -> list[str]:
        """Start ``n`` workers (default: one per device) in parallel and wait until they are ready."""
        clients = [self._new_client() for _ in range(len(self.cfg.devices) if n is None else n)]
        with self._lock:
            self.starting += len(clients)
        try:
            with ThreadPoolExecutor(max(1, len(clients))) as ex:
                list(ex.map(lambda c: c.start().wait_ready(), clients))
            with self._lock:
                for c in clients:
                    self.workers[c.id] = c
                    self.accepting[c.id] = True
        finally:
            with self._lock:
                self.starting -= len(clients)
        return [c.id for c in clients]

    def size(self) -> int:
        """Workers running or being started."""
        with self._lock:
            return len(self.workers) + self.starting

    def add(self) -> str:
        return self.start(1)[0]

    def live(self) -> list[str]:
        return [w for w, c in self.workers.items() if c.alive()]

    def views(self) -> list[WorkerView]:
        return [
            WorkerView(w, self.cfg.max_batch, self.cfg.memory_slots, self.accepting.get(w, False))
            for w in self.live()
        ]

    def client(self, worker: str) -> ModelWorkerClient:
        return self.workers[worker]

    def mark_draining(self, worker: str) -> None:
        self.accepting[worker] = False

    def remove(self, worker: str, drain: bool = True) -> None:
        with self._lock:
            client = self.workers.pop(worker, None)
            self.accepting.pop(worker, None)
        if client is not None:
            client.stop(drain=drain)

    def forget_lost(self) -> list[str]:
        """Forget workers whose process died (SIGKILL, crash); returns their ids."""
        lost = [w for w, c in list(self.workers.items()) if not c.alive()]
        for w in lost:
            self.remove(w, drain=False)
        return lost

    def stop(self, drain: bool = True) -> None:
        for w in list(self.workers):
            self.remove(w, drain)
