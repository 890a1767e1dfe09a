"""How much of what `reelserve bench` reports is the harness itself?

Starts a trivial endpoint in a separate process (raw asyncio HTTP/1.1 on 127.0.0.1 answering
``POST /v1/videos/sync`` at once with a fixed MP4, stamping when it read the request and when it
answered), then drives it with the real harness:

1. timing error: single-stream queries through the harness vs the same request from a minimal client
   (one socket, one write, no HTTP library), interleaved in time; and per query the harness's latency
   minus the server's own time (what is left is loopback + HTTP parsing + the harness).
2. scheduling error: the server scenario (Poisson); how late queries leave (issue lag).
3. throughput ceiling: offline at concurrency 64; videos/s the harness can count when the server
   costs nothing — to compare with what endpoints do (0.02–0.06 videos/s on 8 GPUs, REFERENCES.md).

Run: ``.venv/bin/python -m benchmarks.harness_overhead [--queries 300] [--rate 50] [--out DIR]``.
On a shared 2-core machine the figures move with the load of other processes: the load average is
printed with them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from reelserve.bench.config import Api, BenchConfig, Scenario
from reelserve.bench.runner import run_bench
from reelserve.bench.scoring.video import encode_mp4
from reelserve.bench.stats import summarize

__all__ = ["main"]

_UNPROCESSABLE = b"HTTP/1.1 422 Unprocessable\r\ncontent-length: 2\r\n\r\n{}"


def _payload() -> bytes:
    """A fixed MP4: 17 frames of 256×256 blocky noise (~170 kB, like a short compressed clip)."""
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (17, 64, 64, 3), dtype=np.uint8).repeat(4, axis=1).repeat(4, axis=2)
    return encode_mp4(frames, 16)


async def _handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, payload: bytes) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            body = await reader.readexactly(_content_length(head))
            received = time.time()
            if b'"prompt"' not in body:
                writer.write(_UNPROCESSABLE)
                continue
            sent = time.time()
            stamps = json.dumps({"queued": received, "started": received, "generated": sent, "encoded": sent})
            head_out = (
                f"HTTP/1.1 200 OK\r\ncontent-length: {len(payload)}\r\nx-reelserve-timings: {stamps}\r\n\r\n"
            )
            writer.write(head_out.encode() + payload)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":", 1)[1])
    return 0


async def _serve() -> None:
    payload = _payload()
    server = await asyncio.start_server(lambda r, w: _handle(r, w, payload), "127.0.0.1", 0, backlog=1024)
    print(server.sockets[0].getsockname()[1], len(payload), flush=True)
    async with server:
        await server.serve_forever()


async def _baseline(port: int, queries: int) -> list[float]:
    """Latency (ms) of the same request from a minimal client: one socket, one write, no HTTP library."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    body = b'{"prompt": "baseline"}'
    request = b"POST /v1/videos/sync HTTP/1.1\r\nhost: x\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)
    latencies = []
    for _ in range(queries):
        started = time.monotonic_ns()
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        await reader.readexactly(_content_length(head))
        latencies.append((time.monotonic_ns() - started) / 1e6)
    writer.close()
    return latencies


async def _httpx_alone(port: int, queries: int) -> list[float]:
    """Latency (ms) of the same request through a bare httpx.AsyncClient: the HTTP library's share."""
    latencies = []
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        for _ in range(queries):
            started = time.monotonic_ns()
            async with client.stream("POST", "/v1/videos/sync", json={"prompt": "httpx"}) as response:
                async for _chunk in response.aiter_bytes():
                    pass
            latencies.append((time.monotonic_ns() - started) / 1e6)
    return latencies


def _records(out: Path) -> list[dict[str, Any]]:
    lines = (out / "queries.jsonl").read_text().splitlines()
    return [row for row in map(json.loads, lines) if row["phase"] == "performance" and row["ok"]]


async def _measure(port: int, queries: int, rate: float, out: Path) -> dict[str, Any]:
    common: dict[str, Any] = {"url": f"http://127.0.0.1:{port}", "api": Api.SYNC, "progress": False}
    common |= {"warmup": 20, "timeout_s": 30.0}
    baseline: list[float] = []
    bare_httpx: list[float] = []
    harness: list[float] = []
    residual: list[float] = []
    for part in range(4):  # interleaved, so both see the same background load
        baseline += await _baseline(port, queries // 4)
        bare_httpx += await _httpx_alone(port, queries // 4)
        name = f"single{part}"
        await run_bench(
            BenchConfig(**common, scenario=Scenario.SINGLE_STREAM, queries=queries // 4, out=str(out / name))
        )
        rows = _records(out / name)
        harness += [r["intervals"]["e2e"] * 1000 for r in rows]
        residual += [(r["intervals"]["e2e"] - r["intervals"]["server"]) * 1000 for r in rows]
    poisson = BenchConfig(
        **common, scenario=Scenario.SERVER, rate=rate, queries=queries, out=str(out / "server")
    )
    await run_bench(poisson)
    lag = [r["intervals"]["issue_lag"] * 1000 for r in _records(out / "server")]
    offline = BenchConfig(
        **common, scenario=Scenario.OFFLINE, concurrency=64, queries=queries * 4, out=str(out / "o")
    )
    ceiling = await run_bench(offline)
    return {
        "baseline_client_e2e_ms": summarize(baseline),
        "httpx_alone_e2e_ms": summarize(bare_httpx),
        "harness_e2e_ms": summarize(harness),
        "harness_minus_baseline_p50_ms": summarize(harness)["p50"] - summarize(baseline)["p50"],
        "harness_minus_baseline_min_ms": min(harness) - min(baseline),
        "harness_minus_server_time_ms": summarize(residual),
        "poisson_rate_qps": rate,
        "poisson_issue_lag_ms": summarize(lag),
        "offline_ceiling_videos_per_s": ceiling["performance"]["videos_per_s"],
        "offline_failed": ceiling["performance"]["failed"],
        "load_average_1m": os.getloadavg()[0],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Measure the benchmark harness's own overhead.")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--rate", type=float, default=50.0, help="Poisson rate for the issue-lag check")
    parser.add_argument("--out", default=None, help="keep the runs' outputs here (default: a temp dir)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        asyncio.run(_serve())
        return
    command = [sys.executable, "-m", "benchmarks.harness_overhead", "--serve"]
    child = subprocess.Popen(command, stdout=subprocess.PIPE)
    try:
        assert child.stdout is not None
        port, size = (int(x) for x in child.stdout.readline().split())
        with tempfile.TemporaryDirectory() as tmp:
            figures = asyncio.run(_measure(port, args.queries, args.rate, Path(args.out or tmp)))
    finally:
        child.terminate()
        child.wait(timeout=10)
    _print(figures, size)


def _print(figures: dict[str, Any], size: int) -> None:
    base, e2e = figures["baseline_client_e2e_ms"], figures["harness_e2e_ms"]
    res, lag = figures["harness_minus_server_time_ms"], figures["poisson_issue_lag_ms"]
    load, overhead = figures["load_average_1m"], figures["harness_minus_baseline_p50_ms"]
    rate, ceiling = figures["poisson_rate_qps"], figures["offline_ceiling_videos_per_s"]
    print(f"payload {size} B MP4 per query; loopback; server in its own process; 1-min load {load:.1f}")
    print(
        f"single-stream latency p50: harness {e2e['p50']:.3f} ms, minimal socket client {base['p50']:.3f} ms "
        f"-> harness overhead {overhead:.3f} ms"
    )
    bare = figures["httpx_alone_e2e_ms"]
    print(f"  the HTTP library alone (bare httpx client): p50 {bare['p50']:.3f} ms, min {bare['min']:.3f} ms")
    print(
        f"single-stream latency min (least disturbed by other load): harness {e2e['min']:.3f} ms, "
        f"minimal client {base['min']:.3f} ms -> overhead {figures['harness_minus_baseline_min_ms']:.3f} ms"
    )
    print(
        f"harness latency - server time ({res['count']} queries): p50 {res['p50']:.3f} ms, "
        f"p99 {res['p99']:.3f} ms (loopback + HTTP + harness)"
    )
    print(f"Poisson issue lag at {rate:g} q/s: p50 {lag['p50']:.3f} ms, p99 {lag['p99']:.3f} ms")
    print(f"throughput ceiling, offline at concurrency 64: {ceiling:.0f} videos/s")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
