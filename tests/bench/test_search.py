from __future__ import annotations

import asyncio

from reelserve.bench.search import search_rate, trial_passes


def _server(capacity: float):
    """A fake trial: latency 0.1 s below capacity, 10 s above it."""

    async def trial(rate: float) -> tuple[list[float], int]:
        return ([0.1] * 20 if rate <= capacity else [10.0] * 20), 0

    return trial


def test_search_doubles_then_bisects_to_the_capacity() -> None:
    result = asyncio.run(search_rate(_server(7.0), start_rate=1.0, bound_s=1.0, trials=8))
    rates = [t["rate"] for t in result["trials"]]
    assert rates[:4] == [1.0, 2.0, 4.0, 8.0]
    assert 6.0 <= result["best_rate"] <= 7.0
    assert all(t["passed"] == (t["rate"] <= 7.0) for t in result["trials"])


def test_search_halves_when_the_start_rate_fails() -> None:
    result = asyncio.run(search_rate(_server(0.3), start_rate=2.0, bound_s=1.0, trials=4))
    assert [t["rate"] for t in result["trials"]][:3] == [2.0, 1.0, 0.5]
    assert result["best_rate"] is not None and result["best_rate"] <= 0.3


def test_a_trial_with_failures_never_passes() -> None:
    assert trial_passes([0.1, 0.1], failed=0, bound_s=1.0, quantile=0.99)
    assert not trial_passes([0.1, 0.1], failed=1, bound_s=1.0, quantile=0.99)
    assert not trial_passes([], failed=0, bound_s=1.0, quantile=0.99)
