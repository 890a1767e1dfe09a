"""Settings of one model worker process (a light module: importing it loads no torch)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ModelWorkerConfig"]


@dataclass(frozen=True, slots=True)
class ModelWorkerConfig:
    worker_id: str
    device: str = "cpu"
    model: str = "tiny-wan"
    max_batch: int = 4
    max_wait_s: float = 0.01
    preempt: bool = True
    threads: int = 1  #: torch intra-op threads on a CPU device (0 = torch's default)
    store_url: str | None = None  #: with ``job_slots``: claim t2v jobs from this store ...
    blob_root: str | None = None  #: ... writing their blobs here
    job_slots: int = 0  #: jobs run at once by this worker (their steps share its batches); 0 = none
    lease_s: float = 30.0  #: lease of a claimed job; a killed worker's jobs are re-queued after it
    ordering: str = "edf"  #: the batcher's ``sched.ordering`` rule: "edf" or "streams-first"
