"""Prometheus metrics, one registry per app.

Counts that live in the database (queue depth, in flight) are read at scrape time (cached briefly);
job and stage durations and failures are observed by ``tick`` from jobs that finished since the
last scan (a watermark on ``updated_at``), so jobs run by any worker process are counted once per
API process.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from reelserve.api.present import intervals
from reelserve.core.records import JobStatus
from reelserve.store.stats import count_by_status, finished_since

__all__ = ["Metrics"]

_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
_STAGES = ("queue", "model", "encode", "finalize", "deliver")


class _StoreGauges(Collector):
    def __init__(self, engine: sa.Engine, workers: Callable[[], int], ttl_s: float = 0.5) -> None:
        self.engine = engine
        self.workers = workers
        self.ttl_s = ttl_s
        self._cached: tuple[float, dict[str, int]] = (0.0, {})
        self._lock = threading.Lock()

    def counts(self) -> dict[str, int]:
        with self._lock:
            at, counts = self._cached
            if time.monotonic() - at > self.ttl_s:
                counts = count_by_status(self.engine)
                self._cached = (time.monotonic(), counts)
            return counts

    def collect(self) -> Iterator[Metric]:
        counts = self.counts()
        yield GaugeMetricFamily("reelserve_queue_depth", "Jobs waiting for a worker", counts.get("queued", 0))
        yield GaugeMetricFamily("reelserve_in_flight", "Jobs running now", counts.get("running", 0))
        by_status = GaugeMetricFamily("reelserve_jobs", "Jobs by status", labels=["status"])
        for status, n in sorted(counts.items()):
            by_status.add_metric([status], n)
        yield by_status
        yield GaugeMetricFamily("reelserve_workers_alive", "Worker processes running", self.workers())


class Metrics:
    def __init__(self, engine: sa.Engine, workers: Callable[[], int]) -> None:
        self.engine = engine
        self.registry = CollectorRegistry()
        self.gauges = _StoreGauges(engine, workers)
        self.registry.register(self.gauges)
        self.requests = Counter(
            "reelserve_http_requests", "HTTP requests", ["method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "reelserve_http_request_seconds", "HTTP request latency", ["route"], registry=self.registry
        )
        self.job_seconds = Histogram(
            "reelserve_job_seconds",
            "Queued to finished",
            ["status"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.stage_seconds = Histogram(
            "reelserve_stage_seconds",
            "Per-interval durations",
            ["stage"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.failures = Counter(
            "reelserve_job_failures", "Failed jobs by code", ["code"], registry=self.registry
        )
        self.watermark = time.time()

    def queued(self) -> int:
        return self.gauges.counts().get("queued", 0)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def tick(self) -> int:
        """Observe jobs finished since the last call; returns how many."""
        seen = 0
        while True:
            jobs = finished_since(self.engine, self.watermark)
            for job in jobs:
                spans = intervals(job.timings)
                if "total" in spans:
                    self.job_seconds.labels(job.status.value).observe(spans["total"])
                for stage in _STAGES:
                    if stage in spans:
                        self.stage_seconds.labels(stage).observe(spans[stage])
                if job.status is JobStatus.FAILED:
                    self.failures.labels(job.error_code or "unknown").inc()
                self.watermark = max(self.watermark, job.updated_at)
            seen += len(jobs)
            if len(jobs) < 500:
                return seen

    def render(self) -> bytes:
        return generate_latest(self.registry)
