"""Simulated things: GPUs (workers) and streaming sessions."""

from __future__ import annotations

from reelserve.sim.entities.session import Segment, SessionSpec, SimSession
from reelserve.sim.entities.worker import SimWorker, WorkerState

__all__ = ["Segment", "SessionSpec", "SimSession", "SimWorker", "WorkerState"]
