"""The Markdown report and its PNG plots (latency CDF, GPUs over time, cost–latency frontier).

Plots need matplotlib (pinned in the notes of docs/simulator.md); without it the report says so and
still has every table. This is the only module of ``sim`` that imports matplotlib.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from reelserve.sim.runner import RunOutput

__all__ = ["write_report"]

COLUMNS = (
    ("worst_chunk_latency_s", "worst chunk (s)"),
    ("p99_chunk_latency_s", "p99 chunk (s)"),
    ("p50_chunk_latency_s", "p50 chunk (s)"),
    ("deadline_miss_rate", "deadline miss"),
    ("ttff_p99_s", "TTFF p99 (s)"),
    ("gpu_hours", "GPU-hours"),
    ("cost_usd", "cost ($)"),
    ("mean_gpus", "mean GPUs"),
    ("utilization", "utilization"),
    ("migrations", "migrations"),
    ("offloads", "offloads"),
    ("evictions", "evictions"),
    ("degraded", "degraded"),
)


def _plots(out: Path, summary: dict[str, Any], runs: list[RunOutput]) -> list[str]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    files = []
    fig, ax = plt.subplots(figsize=(6, 4))
    for r in runs:
        lat = np.sort(np.frombuffer(r.metrics.chunk_latency_s, dtype=np.float64))
        if lat.size:
            ax.plot(lat, np.arange(1, lat.size + 1) / lat.size, label=r.policy)
    ax.set_xlabel("per-chunk latency (s)")
    ax.set_ylabel("fraction of chunks")
    ax.set_title("Latency CDF")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "latency_cdf.png", dpi=110)
    plt.close(fig)
    files.append("latency_cdf.png")
    fig, ax = plt.subplots(figsize=(6, 4))
    for r in runs:
        steps = r.metrics.gpu_steps
        if steps:
            ax.step([t / 60 for t, _ in steps], [n for _, n in steps], where="post", label=r.policy)
    ax.set_xlabel("time (min)")
    ax.set_ylabel("GPUs billed")
    ax.set_title("GPUs over time")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "gpus_over_time.png", dpi=110)
    plt.close(fig)
    files.append("gpus_over_time.png")
    frontier = summary["_run"]["frontier"]
    if frontier:
        fig, ax = plt.subplots(figsize=(6, 4))
        for policy in dict.fromkeys(p["policy"] for p in frontier):
            pts = sorted(
                (p["cost_usd"], p["worst_chunk_latency_s"]) for p in frontier if p["policy"] == policy
            )
            ax.plot([c for c, _ in pts], [v for _, v in pts], marker="o", label=policy)
        ax.set_xlabel("cost ($)")
        ax.set_ylabel("worst per-chunk latency (s)")
        ax.set_title("Cost–latency frontier across budgets")
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / "frontier.png", dpi=110)
        plt.close(fig)
        files.append("frontier.png")
    return files


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def write_report(
    out: Path, summary: dict[str, Any], runs: list[RunOutput], command: str, *, plots: bool = True
) -> Path:
    """Write ``report.md`` (and PNGs) into ``out``; returns the report's path."""
    out.mkdir(parents=True, exist_ok=True)
    run = summary["_run"]
    lines = [
        f"# Simulation report: {run['workload']}",
        "",
        f"Command: `{command}`",
        "",
        f"{run['sessions'] or run['jobs']} {'sessions' if run['kind'] == 'streaming' else 'jobs'}, "
        f"horizon {run['horizon_s'] / 3600:.2f} h, seed {run['seed']}, cluster "
        f"{run['cluster']['gpus']} x {run['cluster']['gpu']} (spot share {run['cluster']['spot_share']}).",
        "",
        "| policy | " + " | ".join(label for _, label in COLUMNS) + " |",
        "|---|" + "---|" * len(COLUMNS),
    ]
    for r in runs:
        s = summary[r.policy]
        lines.append(f"| {r.policy} | " + " | ".join(_fmt(s.get(k)) for k, _ in COLUMNS) + " |")
    if run["comparison"]:
        lines += ["", "## Against the static baseline's frontier", ""]
        lines += [
            "`main`: the run at the full budget against the static frontier; `frontier`: the best",
            "point of the policy's sweep at equal cost, and the cheapest of its points reaching static's",
            "latency at the full budget against static's cost for it — latency only, and at equal",
            "service (TTFF p99 also within static's at the full budget, or the deadline; `sim.compare`).",
            "",
            "| policy | compared | metric | latency cut at equal cost | cost cut at equal latency "
            "| cost cut at equal service |",
            "|---|---|---|---|---|---|",
        ]
        for c in run["comparison"]:
            cells = (
                c["latency_reduction_at_equal_cost"],
                c["cost_reduction_at_equal_latency"],
                (c.get("equal_service") or {}).get("cost_reduction"),
            )
            lines.append(
                f"| {c['policy']} | {c.get('kind', 'main')} | {c['metric']} | "
                + " | ".join(_fmt(None if v is None else f"{v:.1%}") for v in cells)
                + " |"
            )
    if run["frontier"]:
        lines += [
            "",
            "## Frontier points",
            "",
            "| policy | GPUs | per-GPU | cost ($) | worst (s) | p99 (s) | TTFF p99 (s) |",
        ]
        lines.append("|---|---|---|---|---|---|---|")
        for p in run["frontier"]:
            lines.append(
                f"| {p['policy']} | {p['gpus']} | {_fmt(p['per_gpu'])} | {_fmt(p['cost_usd'])} | "
                f"{_fmt(p['worst_chunk_latency_s'])} | {_fmt(p['p99_chunk_latency_s'])} | "
                f"{_fmt(p.get('ttff_p99_s'))} |"
            )
    files = _plots(out, summary, runs) if plots else []
    lines += ["", "## Plots", ""]
    lines += [f"![{name}]({name})" for name in files] or [
        "(no plots: --no-plots, or matplotlib is not installed)"
    ]
    path = out / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path
