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
