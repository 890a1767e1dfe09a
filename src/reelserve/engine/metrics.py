"""Prometheus metrics of the live engine, registered on the API's registry (or a fresh one).

reelserve_chunk_latency_seconds        histogram  chunk requested → media segment ready
reelserve_chunk_queue_wait_seconds     histogram  chunk requested → its first denoising step
reelserve_chunk_deadline_misses_total  counter    chunks ready after their deadline
reelserve_chunks_total                 counter    chunks delivered
reelserve_batch_size                   histogram  items per batched forward (largest per chunk)
reelserve_session_migrations_total     counter    session states moved between model workers
reelserve_session_offloads_total       counter    idle session states moved to host memory
reelserve_session_recoveries_total     counter    sessions resumed from a checkpoint after a lost worker
reelserve_migration_seconds            histogram  export + restore time of one migration
reelserve_model_workers                gauge      model worker processes alive
reelserve_sessions                     gauge      sessions by status
reelserve_quality_degraded_total       counter    run below the asked quality {kind}
reelserve_quality_rejected_total       counter    rejected: deadline unmeetable {kind}
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["EngineMetrics"]

_LAT = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30)


class EngineMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = self.registry = registry or CollectorRegistry()
        self.chunk_latency = Histogram(
            "reelserve_chunk_latency_seconds", "Chunk requested to segment ready", buckets=_LAT, registry=r
        )
        self.queue_wait = Histogram(
            "reelserve_chunk_queue_wait_seconds", "Chunk requested to first step", buckets=_LAT, registry=r
        )
        self.deadline_misses = Counter(
            "reelserve_chunk_deadline_misses", "Chunks ready after their deadline", registry=r
        )
        self.chunks = Counter("reelserve_chunks", "Chunks delivered", registry=r)
        self.batch_size = Histogram(
            "reelserve_batch_size", "Items per batched forward", buckets=(1, 2, 3, 4, 6, 8, 16), registry=r
        )
        self.migrations = Counter("reelserve_session_migrations", "Session migrations", registry=r)
        self.offloads = Counter("reelserve_session_offloads", "Idle sessions offloaded", registry=r)
        self.recoveries = Counter("reelserve_session_recoveries", "Sessions recovered", registry=r)
        self.migration_seconds = Histogram(
            "reelserve_migration_seconds", "Migration time", buckets=_LAT, registry=r
        )
        self.workers = Gauge("reelserve_model_workers", "Model workers alive", registry=r)
        self.sessions = Gauge("reelserve_sessions", "Sessions by status", ["status"], registry=r)
        self.degraded = Counter(
            "reelserve_quality_degraded", "Run below the requested quality", ["kind"], registry=r
        )
        self.rejected = Counter(
            "reelserve_quality_rejected", "Rejected: deadline unmeetable", ["kind"], registry=r
        )

    def bind(self, workers: Callable[[], int], sessions: Callable[[], dict[str, int]]) -> None:
        """Read the worker count and session counts at scrape time."""
        self.workers.set_function(workers)
        self._sessions = sessions

    def refresh(self) -> None:
        counts = self._sessions() if hasattr(self, "_sessions") else {}
        for status in ("created", "running", "paused", "finished", "closed", "failed"):
            self.sessions.labels(status).set(counts.get(status, 0))
