"""Model workers: one process per device holding a loaded model, sessions and a batched step loop."""

from __future__ import annotations

from reelserve.engine.model.client import ModelWorkerClient, RemoteError, WorkerLost
from reelserve.engine.model.config import ModelWorkerConfig

__all__ = ["ModelWorkerClient", "ModelWorkerConfig", "RemoteError", "WorkerLost"]
