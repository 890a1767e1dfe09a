"""What a run measured, and its summary (the per-policy entry of ``summary.json``)."""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Metrics", "summarize"]


@dataclass(slots=True)
class Metrics:
    """Raw measurements, appended to while the simulation runs."""

    chunk_latency_s: array[float] = field(default_factory=lambda: array("d"))  #: per chunk, 1st excluded
    ttff_s: array[float] = field(default_factory=lambda: array("d"))  #: per session or video
    chunk_batch: array[int] = field(default_factory=lambda: array("i"))  #: batch of each measured chunk
    gpu_steps: list[tuple[float, int]] = field(default_factory=list)  #: (time, GPUs billed) at each change
    migrations: int = 0  #: sessions moved between GPUs
    offloads: int = 0  #: idle sessions offloaded to host memory
    evictions: int = 0  #: spot GPUs lost
    degraded: int = 0  #: chunks or jobs run below the requested quality
    rejected: int = 0  #: jobs rejected at admission
    unfinished: int = 0  #: jobs or sessions not done by the end
    sessions: int = 0  #: sessions or jobs in the workload
    completed: int = 0  #: sessions or jobs finished
    late: int = 0  #: jobs finished after their deadline (job workloads)
    busy_gpu_s: float = 0.0  #: GPU seconds spent in forwards
    extra: dict[str, float] = field(default_factory=dict)  #: workload-specific figures

    def gpus_changed(self, now: float, billed: int) -> None:
        if self.gpu_steps and self.gpu_steps[-1][0] == now:
            self.gpu_steps[-1] = (now, billed)
        else:
            self.gpu_steps.append((now, billed))


def _pct(values: np.ndarray, q: float) -> float:
    return float(np.percentile(values, q)) if values.size else 0.0


def summarize(
    m: Metrics, *, gpu_s: float, cost_usd: float, horizon_s: float, deadline_s: float | None
) -> dict[str, Any]:
    """The per-policy summary: latency tail, deadline misses, TTFF, GPU-hours, cost, utilization."""
    lat = np.frombuffer(m.chunk_latency_s, dtype=np.float64) if len(m.chunk_latency_s) else np.zeros(0)
    ttff = np.frombuffer(m.ttff_s, dtype=np.float64) if len(m.ttff_s) else np.zeros(0)
    if deadline_s is not None and lat.size:
        miss = float(np.count_nonzero(lat > deadline_s)) / lat.size
    else:
        miss = (m.late + m.rejected + m.unfinished) / max(1, m.sessions)
    steps = m.gpu_steps
    return {
        "worst_chunk_latency_s": round(float(lat.max()) if lat.size else 0.0, 6),
        "p99_chunk_latency_s": round(_pct(lat, 99), 6),
        "p50_chunk_latency_s": round(_pct(lat, 50), 6),
        "mean_chunk_latency_s": round(float(lat.mean()) if lat.size else 0.0, 6),
        "deadline_miss_rate": round(miss, 6),
        "ttff_p50_s": round(_pct(ttff, 50), 6),
        "ttff_p99_s": round(_pct(ttff, 99), 6),
        "ttff_max_s": round(float(ttff.max()) if ttff.size else 0.0, 6),
        "gpu_hours": round(gpu_s / 3600.0, 6),
        "cost_usd": round(cost_usd, 4),
        "mean_gpus": round(gpu_s / horizon_s, 4) if horizon_s > 0 else 0.0,
        "max_gpus": max((n for _, n in steps), default=0),
        "utilization": round(m.busy_gpu_s / gpu_s, 6) if gpu_s > 0 else 0.0,
        "migrations": m.migrations,
        "offloads": m.offloads,
        "evictions": m.evictions,
        "degraded": m.degraded,
        "rejected": m.rejected,
        "chunks": int(lat.size),
        "mean_chunk_batch": round(float(np.mean(m.chunk_batch)), 4) if len(m.chunk_batch) else 0.0,
        "sessions": m.sessions,
        "completed": m.completed,
        "unfinished": m.unfinished,
        **{k: round(v, 6) for k, v in sorted(m.extra.items())},
    }
