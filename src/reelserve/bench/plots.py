"""PNG plots for the Markdown report: latency CDF, throughput over time, stage breakdown."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reelserve.bench.timeline import QueryRecord

__all__ = ["STAGES", "plot_all"]

#: the stage intervals stacked in the breakdown, in the order a query lives them
STAGES = ("admission", "queue", "model", "encode", "notify", "ttfb", "transfer")


def plot_all(out: Path, records: list[QueryRecord], series: list[tuple[float, float]]) -> list[str]:
    """Write the three PNGs into ``out``; returns their file names (empty plots are skipped)."""
    import matplotlib

    matplotlib.use("Agg")  # files only; never a window; imported here to keep CLI start-up fast
    import matplotlib.pyplot as plt

    ok = [r for r in records if r.ok]
    written = []
    for name, draw in (
        ("latency_cdf.png", lambda ax: _cdf(ax, ok)),
        ("throughput.png", lambda ax: _throughput(ax, series)),
        ("stages.png", lambda ax: _stages(ax, ok)),
    ):
        fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
        try:
            if draw(ax):
                fig.tight_layout()
                fig.savefig(out / name)
                written.append(name)
        finally:
            plt.close(fig)
    return written


def _cdf(ax: Any, records: list[QueryRecord]) -> bool:
    latencies = sorted(r.intervals()["e2e"] for r in records if "e2e" in r.intervals())
    if not latencies:
        return False
    ax.step(latencies, [(i + 1) / len(latencies) for i in range(len(latencies))], where="post")
    ax.set(xlabel="latency, issue → last byte (s)", ylabel="fraction of queries", title="Latency CDF")
    ax.grid(alpha=0.3)
    return True


def _throughput(ax: Any, series: list[tuple[float, float]]) -> bool:
    if not series:
        return False
    width = series[1][0] if len(series) > 1 else 1.0
    ax.bar([t for t, _ in series], [v for _, v in series], width=0.9 * width, align="edge")
    ax.set(xlabel="time since start (s)", ylabel="videos completed / s", title="Throughput over time")
    return True


def _stages(ax: Any, records: list[QueryRecord]) -> bool:
    means = {}
    for stage in STAGES:
        values = [r.intervals()[stage] for r in records if stage in r.intervals()]
        if values:
            means[stage] = sum(values) / len(values)
    if not means:
        return False
    left = 0.0
    for stage, value in means.items():
        ax.barh(["mean query"], [value], left=left, label=f"{stage} {value * 1000:.1f} ms")
        left += value
    ax.set(xlabel="seconds", title="Where a query's time goes (means)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3, fontsize="small")
    return True
