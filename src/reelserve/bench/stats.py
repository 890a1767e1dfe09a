"""Statistics over query records: percentiles, histograms, per-interval summaries, throughput.

Percentiles use linear interpolation between closest ranks (numpy's default "linear" method), so
p50 of [1, 2, 3, 4] is 2.5. Latency is complete − issued (MLPerf), in seconds.
"""

from __future__ import annotations

import math
from typing import Any

from reelserve.bench.timeline import QueryRecord

__all__ = ["PERCENTILES", "histogram", "percentile", "phase_summary", "summarize", "throughput_series"]

PERCENTILES = (50, 90, 95, 99)


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation; NaN for no values."""
    if not values:
        return math.nan
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be in [0, 100], got {q}")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def histogram(values: list[float], bins: int = 20) -> dict[str, list[float] | list[int]]:
    """Equal-width bins from min to max: ``{"edges": [...bins+1], "counts": [...bins]}``."""
    if not values:
        return {"edges": [], "counts": []}
    low, high = min(values), max(values)
    if high == low:
        return {"edges": [low, high], "counts": [len(values)]}
    width = (high - low) / bins
    counts = [0] * bins
    for value in values:
        counts[min(int((value - low) / width), bins - 1)] += 1
    return {"edges": [low + i * width for i in range(bins + 1)], "counts": counts}


def summarize(values: list[float]) -> dict[str, float | int]:
    """count, mean, min, max and p50/p90/p95/p99 of ``values`` (seconds)."""
    if not values:
        return {"count": 0}
    out: dict[str, float | int] = {
        "count": len(values),
        "mean": sum(values) / len(values),
        "min": min(values),
        "max": max(values),
    }
    for q in PERCENTILES:
        out[f"p{q}"] = percentile(values, q)
    return out


def phase_summary(records: list[QueryRecord], duration_s: float) -> dict[str, Any]:
    """Counts, videos/s, latency percentiles and histogram, every interval, bytes moved, errors."""
    ok = [r for r in records if r.ok]
    latencies = [r.intervals()["e2e"] for r in ok if "e2e" in r.intervals()]
    names = sorted({name for r in ok for name in r.intervals()})
    errors: dict[str, int] = {}
    for r in records:
        if not r.ok:
            key = f"{r.http_status or 'no-status'}: {(r.error or '')[:120]}"
            errors[key] = errors.get(key, 0) + 1
    received = [r.bytes_received for r in ok]
    return {
        "queries": len(records),
        "completed": len(ok),
        "failed": len(records) - len(ok),
        "duration_s": duration_s,
        "videos_per_s": len(ok) / duration_s if duration_s > 0 else 0.0,
        "latency_s": summarize(latencies),
        "latency_histogram": histogram(latencies),
        "intervals_s": {
            name: summarize([r.intervals()[name] for r in ok if name in r.intervals()]) for name in names
        },
        "bytes_received": {
            "total": sum(received),
            "per_video_mean": (sum(received) / len(received)) if ok else 0,
        },
        "video_size_mean": _mean([r.video_size for r in ok if r.video_size is not None]),
        "polls_mean": _mean([r.polls for r in ok]),
        "errors": errors,
    }


def throughput_series(
    records: list[QueryRecord], start_ns: int, bucket_s: float = 1.0
) -> list[tuple[float, float]]:
    """(bucket start s, completed videos/s in it) from the phase start."""
    done = [(r.stamps["complete"] - start_ns) / 1e9 for r in records if r.ok and "complete" in r.stamps]
    if not done:
        return []
    buckets = int(max(done) // bucket_s) + 1
    counts = [0] * buckets
    for t in done:
        counts[int(t // bucket_s)] += 1
    return [(i * bucket_s, c / bucket_s) for i, c in enumerate(counts)]


def _mean(values: list[int]) -> float | None:
    return sum(values) / len(values) if values else None
