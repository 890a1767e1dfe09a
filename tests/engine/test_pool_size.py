"""A pool counts the workers it is still starting, so a control tick during start-up (models still
loading) does not start extra ones."""

from __future__ import annotations

import threading
from typing import Any

from reelserve.engine.model.client import ModelWorkerClient
from reelserve.engine.model.pool import ModelPool, PoolConfig


class _GatedPool(ModelPool):
    """A real pool of real workers whose readiness the test releases."""

    def __init__(self, cfg: PoolConfig, gate: threading.Event) -> None:
        super().__init__(cfg)
        self.gate = gate

    def _new_client(self) -> ModelWorkerClient:
        client = super()._new_client()
        real_wait = client.wait_ready

        def gated_wait(timeout: float = 120.0) -> Any:
            assert self.gate.wait(timeout)
            return real_wait(timeout)

        client.wait_ready = gated_wait  # type: ignore[method-assign]
        return client


def test_workers_being_started_count_toward_the_pool_size() -> None:
    gate = threading.Event()
    pool = _GatedPool(PoolConfig(devices=("cpu", "cpu"), min_workers=2), gate)
    started: list[str] = []
    starter = threading.Thread(target=lambda: started.extend(pool.start()))
    starter.start()
    try:
        deadline = threading.Event()
        for _ in range(200):  # the starter thread reserves both before any model loads
            if pool.starting == 2:
                break
            deadline.wait(0.01)
        assert pool.workers == {} and pool.size() == 2  # not ready, but counted
        assert pool.cfg.min_workers - pool.size() == 0  # so `_replace_lost` would start none
    finally:
        gate.set()
        starter.join(120)
    try:
        assert len(started) == 2 and pool.size() == 2 and pool.starting == 0
    finally:
        pool.stop(drain=False)
