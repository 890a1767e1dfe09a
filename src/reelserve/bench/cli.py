"""``reelserve bench``: the Typer app (mounted into the main CLI as the ``bench`` command).

Options are parsed here and handed inward as a frozen :class:`BenchConfig`; a bad value or setup
exits 2 with a message that says what to change, before or instead of any load.
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

import typer

from reelserve.bench.config import Api, BenchConfig, Delivery, Mode, Scenario, parse_enum, parse_size
from reelserve.bench.runner import run_bench
from reelserve.core.errors import ReelserveError

__all__ = ["app", "bench"]

app = typer.Typer(add_completion=False, help="Benchmark a video generation endpoint over HTTP.")


@app.command("bench")
def bench(
    url: Annotated[str, typer.Option(help="Base URL of the server, e.g. http://127.0.0.1:8000")],
    api: Annotated[str, typer.Option(help="openai | sync | mlcommons")] = "openai",
    scenario: Annotated[
        str, typer.Option(help="offline | single-stream | server | concurrency | streaming")
    ] = ("single-stream"),
    queries: Annotated[int, typer.Option(help="Performance-phase queries (streaming: sessions)")] = 50,
    accuracy_queries: Annotated[int, typer.Option(help="Accuracy-phase queries")] = 248,
    out: Annotated[str, typer.Option(help="Output directory")] = "bench-out",
    rate: Annotated[float, typer.Option(help="Server scenario: Poisson arrivals per second")] = 1.0,
    concurrency: Annotated[int, typer.Option(help="Queries in flight (concurrency/streaming)")] = 1,
    mode: Annotated[str, typer.Option(help="performance | accuracy | both")] = "performance",
    dataset: Annotated[
        str | None, typer.Option(help="JSONL of {id, prompt}; default the shipped 248")
    ] = None,
    seed: Annotated[int, typer.Option(help="Fixes query order, arrival times and generation seeds")] = 42,
    delivery: Annotated[
        str, typer.Option(help="Comma list of reference|blob|stream|raw; first is main")
    ] = "blob",
    warmup: Annotated[int, typer.Option(help="Warm-up queries, excluded from the numbers")] = 1,
    latency_bound: Annotated[
        float | None, typer.Option(help="Server: search the top rate meeting it (s)")
    ] = None,
    search_quantile: Annotated[float, typer.Option(help="Percentile the latency bound applies to")] = 0.99,
    search_trials: Annotated[int, typer.Option(help="Rates tried by the search")] = 6,
    search_queries: Annotated[
        int | None, typer.Option(help="Queries per search trial; default --queries")
    ] = None,
    delivery_queries: Annotated[
        int | None, typer.Option(help="Queries per compared delivery mode (not the first); default --queries")
    ] = None,
    timeout: Annotated[float, typer.Option(help="Per-query timeout, seconds")] = 600.0,
    model: Annotated[str, typer.Option(help="Model name sent with each request")] = "tiny-wan",
    size: Annotated[str, typer.Option(help="WIDTHxHEIGHT")] = "256x256",
    frames: Annotated[int, typer.Option(help="Frames per video")] = 17,
    fps: Annotated[int, typer.Option(help="Frames per second")] = 16,
    steps: Annotated[int, typer.Option(help="Denoising steps")] = 4,
    guidance_scale: Annotated[float, typer.Option(help="Guidance scale")] = 1.0,
    poll_ms: Annotated[
        int | None, typer.Option(help="openai: poll interval; default the server's hint")
    ] = None,
    stream_chunks: Annotated[int, typer.Option(help="Streaming: chunks per session")] = 8,
    chunk_frames: Annotated[int, typer.Option(help="Streaming: frames per chunk")] = 16,
    api_key: Annotated[str | None, typer.Option(envvar="REELSERVE_API_KEY", help="Bearer key")] = None,
    dino_weights: Annotated[str | None, typer.Option(help="Local DINO/ViT dir: subject consistency")] = None,
    clip_weights: Annotated[str | None, typer.Option(help="Local CLIP dir: background consistency")] = None,
    progress: Annotated[bool, typer.Option(help="Live progress (only on a terminal)")] = True,
    plots: Annotated[bool, typer.Option(help="Write PNG plots beside report.md")] = True,
) -> None:
    """Run a benchmark against URL and write DIR/result_summary.json, events.jsonl and report.md."""
    try:
        width, height = parse_size(size)
        cfg = BenchConfig(
            url=url,
            api=parse_enum(Api, api, "--api"),
            scenario=parse_enum(Scenario, scenario, "--scenario"),
            mode=parse_enum(Mode, mode, "--mode"),
            queries=queries,
            accuracy_queries=accuracy_queries,
            rate=rate,
            concurrency=concurrency,
            seed=seed,
            warmup=warmup,
            delivery=tuple(
                parse_enum(Delivery, d.strip(), "--delivery") for d in delivery.split(",") if d.strip()
            ),
            dataset=dataset,
            out=out,
            timeout_s=timeout,
            latency_bound_s=latency_bound,
            search_quantile=search_quantile,
            search_trials=search_trials,
            search_queries=search_queries,
            delivery_queries=delivery_queries,
            model=model,
            width=width,
            height=height,
            num_frames=frames,
            fps=fps,
            steps=steps,
            guidance_scale=guidance_scale,
            poll_ms=poll_ms,
            stream_chunks=stream_chunks,
            chunk_frames=chunk_frames,
            api_key=api_key,
            dino_weights=dino_weights,
            clip_weights=clip_weights,
            progress=progress,
            plots=plots,
        )
        summary = asyncio.run(run_bench(cfg))
    except ReelserveError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from None
    typer.echo(json.dumps(_headline(summary), default=str))
    typer.echo(f"wrote {out}/result_summary.json and {out}/report.md")


def _headline(summary: dict[str, Any]) -> dict[str, Any]:
    """The few numbers worth printing: the scenario's headline, accuracy, or the streaming counts."""
    out: dict[str, Any] = dict(summary.get("headline") or {})
    if isinstance(summary.get("accuracy"), dict):
        scores = summary["accuracy"]["scores"]
        out |= {"accuracy_mean": scores["mean"], "hard_checks_passed": scores["hard_checks_passed"]}
    if isinstance(summary.get("streaming"), dict):
        stream = summary["streaming"]
        out |= {k: stream[k] for k in ("sessions", "completed", "failed", "realtime_sessions")}
    return out
