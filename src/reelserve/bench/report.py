"""``report.md``: the run in prose and tables, with the PNG plots beside it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["write_report"]


def write_report(path: Path, summary: dict[str, Any], plots: list[str]) -> None:
    lines = [*_header(summary["config"]), ""]
    if "performance" in summary:
        lines += _performance(summary)
    if "questions" in summary.get("answers", {}):
        lines += _questions(summary["answers"]["questions"])
    for section, render in (
        ("delivery_comparison", _delivery),
        ("rate_search", _search),
        ("accuracy", _accuracy),
        ("streaming", _streaming),
    ):
        if section in summary:
            lines += render(summary[section])
    lines += [f"![{name}]({name})" for name in plots]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _header(cfg: dict[str, Any]) -> list[str]:
    size = f"{cfg['width']}x{cfg['height']}"
    if cfg["scenario"] == "streaming":
        return [
            f"# reelserve bench — streaming sessions against {cfg['url']}",
            "",
            f"Seed {cfg['seed']}, {size}, {cfg['stream_chunks']} chunks of {cfg['chunk_frames']} frames per "
            f"session at {cfg['fps']} fps, {cfg['concurrency']} sessions at a time, {cfg['steps']} steps.",
        ]
    return [
        f"# reelserve bench — {cfg['scenario']} against {cfg['url']} (api {cfg['api']})",
        "",
        f"Mode {cfg['mode']}, seed {cfg['seed']}, delivery {', '.join(cfg['delivery'])}, "
        f"{size} × {cfg['num_frames']} frames at {cfg['fps']} fps, {cfg['steps']} steps.",
    ]


def _ms(value: Any) -> str:
    return "—" if value is None else f"{float(value) * 1000:.1f}"


def _performance(summary: dict[str, Any]) -> list[str]:
    perf, ans = summary["performance"], summary.get("answers", {})
    lines = [
        "## Performance",
        "",
        f"{perf['completed']} of {perf['queries']} queries completed, {perf['failed']} failed, "
        f"in {perf['duration_s']:.2f} s: **{perf['videos_per_s']:.3f} videos/s**.",
        "",
        "| interval | count | mean ms | p50 ms | p90 ms | p99 ms |",
        "|---|---|---|---|---|---|",
    ]
    for name, row in perf["intervals_s"].items():
        lines.append(
            f"| {name} | {row['count']} | {_ms(row.get('mean'))} | {_ms(row.get('p50'))} "
            f"| {_ms(row.get('p90'))} | {_ms(row.get('p99'))} |"
        )
    lines += [
        "",
        f"Option A (model only): {_ms(ans.get('option_a_model_s'))} ms mean; "
        f"Option B (issue → last byte): {_ms(ans.get('option_b_e2e_s'))} ms mean.",
        "",
    ]
    if perf["errors"]:
        lines += ["Errors:", "", *[f"- {count} × {error}" for error, count in perf["errors"].items()], ""]
    return lines


def _questions(entries: list[dict[str, Any]]) -> list[str]:
    lines = ["## The seed issue's questions, answered by this run", ""]
    lines += [f"- **{entry['question']}** {entry['answer']}." for entry in entries]
    return [*lines, ""]


def _delivery(table: dict[str, Any]) -> list[str]:
    lines = [
        "## Delivery modes",
        "",
        "| mode | ok | bytes/video | e2e mean ms | MP4 ready → last byte ms | transfer mean ms | videos/s |",
    ]
    lines.append("|---|---|---|---|---|---|---|")
    for mode, row in table.items():
        lines.append(
            f"| {mode} | {row['completed']} | {row['bytes_per_video']:.0f} | {_ms(row['e2e_mean_s'])} "
            f"| {_ms(row.get('deliver_mean_s'))} | {_ms(row['transfer_mean_s'])} "
            f"| {row['videos_per_s']:.3f} |"
        )
    return [*lines, ""]


def _search(search: dict[str, Any]) -> list[str]:
    lines = [
        "## Rate search",
        "",
        f"Highest rate with p{search['quantile'] * 100:g} ≤ {search['bound_s']} s: "
        f"**{search['best_rate']}** q/s.",
        "",
    ]
    return (
        lines
        + [f"- {t['rate']:.3f} q/s: {'pass' if t['passed'] else 'fail'}" for t in search["trials"]]
        + [""]
    )


def _accuracy(acc: dict[str, Any]) -> list[str]:
    scores = acc.get("scores", {})
    lines = [
        "## Accuracy",
        "",
        f"{scores.get('videos', 0)} videos scored; "
        f"hard checks passed: {scores.get('hard_checks_passed', 0)}; "
        f"failures by check: {scores.get('hard_check_failures', {})}.",
        "",
    ]
    lines += [f"- {name}: {value:.4f}" for name, value in scores.get("dimensions", {}).items()]
    mean = scores.get("mean")
    lines += [
        "",
        f"Mean of {len(scores.get('dimensions_used', []))} dimensions: "
        f"**{'—' if mean is None else f'{mean:.4f}'}**",
    ]
    return [*lines, ""]


def _streaming(stream: dict[str, Any]) -> list[str]:
    ttfc, gaps = stream["time_to_first_chunk_s"], stream["chunk_gap_s"]
    return [
        "## Streaming sessions",
        "",
        f"{stream['completed']} of {stream['sessions']} sessions; "
        f"time to first chunk p50 {_ms(ttfc.get('p50'))} ms, "
        f"p99 {_ms(ttfc.get('p99'))} ms; chunk gap p99 {_ms(gaps.get('p99'))} ms; "
        f"stalls per session mean {stream['stalls_per_session'].get('mean', 0)}; "
        f"{stream['realtime_sessions']} sessions at ≥ {stream['target_fps']} fps.",
        "",
    ]
