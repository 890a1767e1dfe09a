from __future__ import annotations

import math

import numpy as np
import pytest

from reelserve.bench.stats import histogram, percentile, phase_summary, summarize, throughput_series
from reelserve.bench.timeline import ClockAnchor, QueryRecord


@pytest.mark.parametrize("q", [0, 1, 25, 50, 90, 95, 99, 100])
def test_percentile_matches_numpy_linear(q: float) -> None:
    values = list(np.random.default_rng(7).exponential(2.0, size=101))
    assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))


def test_percentile_interpolates_between_ranks() -> None:
    assert percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.5
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 90) == pytest.approx(4.6)
    assert math.isnan(percentile([], 50))
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_histogram_counts_every_value() -> None:
    values = [0.1, 0.2, 0.2, 0.9, 1.0]
    hist = histogram(values, bins=4)
    assert sum(hist["counts"]) == len(values)
    assert hist["edges"][0] == 0.1 and hist["edges"][-1] == pytest.approx(1.0)
    assert histogram([3.0, 3.0])["counts"] == [2]
    assert summarize([]) == {"count": 0}


def _record(i: int, ok: bool, e2e_ms: int) -> QueryRecord:
    record = QueryRecord(f"performance-{i:05d}", f"p{i:03d}", seed=i)
    record.stamp("scheduled", 0)
    record.stamp("issued", 1_000_000)
    record.stamp("complete", 1_000_000 + e2e_ms * 1_000_000)
    record.ok = ok
    if not ok:
        record.http_status, record.error = 500, "HTTP 500 model_error: boom"
    return record


def test_phase_summary_accounts_every_query_and_error() -> None:
    records = [_record(i, ok=i % 3 != 0, e2e_ms=10 * (i + 1)) for i in range(9)]
    summary = phase_summary(records, duration_s=2.0)
    assert (summary["queries"], summary["completed"], summary["failed"]) == (9, 6, 3)
    assert summary["errors"] == {"500: HTTP 500 model_error: boom": 3}
    assert summary["videos_per_s"] == pytest.approx(3.0)
    ok_latencies = [0.01 * (i + 1) for i in range(9) if i % 3 != 0]
    assert summary["latency_s"]["p50"] == pytest.approx(float(np.percentile(ok_latencies, 50)))
    assert summary["intervals_s"]["issue_lag"]["mean"] == pytest.approx(0.001)


def test_throughput_series_buckets_completions() -> None:
    records = [_record(i, ok=True, e2e_ms=400 * i) for i in range(5)]
    series = throughput_series(records, start_ns=0, bucket_s=1.0)
    assert sum(rate for _, rate in series) == 5


def test_server_stamps_map_onto_the_monotonic_clock() -> None:
    anchor = ClockAnchor(wall_ns=1_000_000_000_000, mono_ns=5_000)
    record = QueryRecord("q", "p", 0)
    record.add_server_stamps({"queued": 1000.5, "started": 1000.75, "delivered": 1001.0, "bogus": 3}, anchor)
    assert record.stamps["queued"] == 5_000 + 500_000_000
    assert "delivered" not in record.stamps and record.server_unix["delivered"] == 1001.0
    assert record.intervals()["queue"] == pytest.approx(0.25)
