"""The live engine: backends that run queued jobs (local worker processes for now)."""

from __future__ import annotations

from reelserve.engine.base import Backend
from reelserve.engine.local import LocalBackend, WorkerConfig

__all__ = ["Backend", "LocalBackend", "WorkerConfig"]
