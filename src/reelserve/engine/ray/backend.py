"""``RayBackend``: the ``Backend`` seam over model workers that are Ray actors.

It is ``ModelBackend`` with a different pool: ``RayPool`` is ``ModelPool`` whose clients are
``RayWorkerClient``s, so every user of the pool — the job lane's backend, the session manager (the
API shares the backend's pool with sessions when it is a ``ModelPool``), placement, migration,
autoscaling — runs unchanged on actors. Nothing in ``sched/`` or ``api/`` knows about Ray.

Worker death: a killed actor's store-claimed jobs keep their leases until they expire, then another
actor's job lane claims them and resumes from their newest checkpoint (the pipeline's contract, as for
the local backend). A supervisor thread also replaces lost actors, so the pool returns to one actor per
device; the session manager re-places the sessions of a lost actor from their checkpoints itself.
"""

from __future__ import annotations

import logging
import threading

from reelserve.engine.model.backend import ModelBackend
from reelserve.engine.model.client import ModelWorkerClient
from reelserve.engine.model.pool import ModelPool, PoolConfig
from reelserve.engine.plan import PlannedPool, PlannedWorker
from reelserve.engine.ray.client import RayWorkerClient
from reelserve.engine.ray.runtime import RayRuntime, ensure_ray, shutdown_ray

__all__ = ["PlannedRayPool", "RayBackend", "RayPool"]

log = logging.getLogger("reelserve.engine.ray")


class RayPool(ModelPool):
    """``ModelPool`` of actors; the first ``start`` starts (or joins) the Ray runtime."""

    def __init__(self, cfg: PoolConfig, runtime: RayRuntime | None = None) -> None:
        super().__init__(cfg)
        self.runtime = runtime or RayRuntime()
        self.owns_ray = False  #: this pool started the runtime, so its owner shuts it down

    def _new_client(self) -> ModelWorkerClient:
        return RayWorkerClient(super()._new_client().cfg)  # a local client's constructor starts nothing

    def start(self, n: int | None = None) -> list[str]:
        self.owns_ray = ensure_ray(self.runtime) or self.owns_ray
        return super().start(n)


class PlannedRayPool(PlannedPool, RayPool):
    """The plan's slots as actors, each requesting its slot's GPU type as Ray's ``accelerator_type``."""

    def __init__(self, cfg: PoolConfig, slots: tuple[PlannedWorker, ...], runtime: RayRuntime) -> None:
        PlannedPool.__init__(self, cfg, slots)
        self.runtime = runtime
        self.owns_ray = False

    def _client(self, client: ModelWorkerClient, slot: PlannedWorker) -> ModelWorkerClient:
        if isinstance(client, RayWorkerClient):
            client.accelerator_type = slot.gpu
        return client


class RayBackend(ModelBackend):
    """Model workers as Ray actors that claim the store's t2v jobs (and serve sessions when shared)."""

    def __init__(
        self,
        pool: PoolConfig,
        store_url: str,
        blob_root: str,
        job_slots: int = 4,
        runtime: RayRuntime | None = None,
        supervise_s: float = 1.0,
    ) -> None:
        super().__init__(pool, store_url, blob_root, job_slots)
        self.pool: RayPool = RayPool(self.pool.cfg, runtime)
        self.supervise_s = supervise_s
        self._stopping = threading.Event()
        self._supervisor = threading.Thread(target=self._supervise, name="ray-supervisor", daemon=True)

    def start(self) -> None:
        super().start()
        self._supervisor.start()

    def _supervise(self) -> None:
        """Replace lost actors (one per device), once the first ones are up."""
        self.wait_ready()
        failures = 0
        while not self._stopping.wait(min(60.0, self.supervise_s * 2.0**failures)):
            try:
                lost = self.pool.forget_lost()
                need = len(self.pool.cfg.devices) - self.pool.size()
                if lost or need > 0:
                    extra = {"worker": ",".join(lost), "count": need}
                    log.warning("replacing lost model actors", extra=extra)
                if need > 0:
                    self.pool.start(need)
                failures = 0
            except Exception:  # retried, backing off: a model that cannot load must not spin
                failures += 1
                log.exception("model actor replacement failed", extra={"attempt": failures})

    def stop(self, drain: bool = True) -> None:
        self._stopping.set()
        if self._supervisor.is_alive():
            self._supervisor.join(120.0)
        super().stop(drain)
        if self.pool.owns_ray:
            shutdown_ray()
        log.info("ray backend stopped", extra={"mode": "drain" if drain else "kill"})
