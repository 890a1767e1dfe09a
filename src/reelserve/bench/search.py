"""The server-scenario search: the highest Poisson rate whose latency percentile meets a bound.

Doubling from the start rate until a trial fails, then bisecting between the best passing and the
lowest failing rate, for at most ``trials`` trials. A trial passes when every query completed and the
chosen latency percentile is within the bound. The trial runner is injected, so the search itself is
plain logic (tested without a server).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from reelserve.bench.stats import percentile

__all__ = ["TrialRunner", "search_rate", "trial_passes"]

#: rate → (latencies of completed queries in seconds, number of failed queries)
TrialRunner = Callable[[float], Awaitable[tuple[list[float], int]]]


def trial_passes(latencies: list[float], failed: int, bound_s: float, quantile: float) -> bool:
    return failed == 0 and bool(latencies) and percentile(latencies, quantile * 100) <= bound_s


async def search_rate(
    run_trial: TrialRunner, start_rate: float, bound_s: float, quantile: float = 0.99, trials: int = 6
) -> dict[str, Any]:
    best: float | None = None  # highest passing rate
    worst: float | None = None  # lowest failing rate
    rate = start_rate
    history = []
    for _ in range(max(1, trials)):
        latencies, failed = await run_trial(rate)
        passed = trial_passes(latencies, failed, bound_s, quantile)
        history.append(
            {
                "rate": rate,
                "passed": passed,
                "failed_queries": failed,
                f"p{quantile * 100:g}_s": percentile(latencies, quantile * 100) if latencies else None,
            }
        )
        if passed:
            best = rate
        else:
            worst = rate
        if best is None:
            rate = rate / 2
        elif worst is None:
            rate = rate * 2
        else:
            rate = (best + worst) / 2
    return {"bound_s": bound_s, "quantile": quantile, "best_rate": best, "trials": history}
