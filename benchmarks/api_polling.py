"""Status polling: requests/s and latency percentiles of ``GET /v1/videos/{id}`` with 64 concurrent
clients against 10,000 stored jobs (a real server process, no workers; SQLite by default).

    .venv/bin/python -m benchmarks.api_polling [--jobs 10000] [--clients 64] [--seconds 10] [--pg URL]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from benchmarks.admission_bench import pg_schema
from benchmarks.api_server import serve
from reelserve.bench.http1 import HttpClient
from reelserve.core.records import Priority
from reelserve.local import open_data_dir
from reelserve.store import JobDraft

__all__ = ["main", "poll"]


def _store_jobs(data: Path, n: int, store_url: str | None) -> list[str]:
    spec = {"prompt": "a clip", "model": "tiny-wan", "width": 64, "height": 64, "num_frames": 9, "steps": 1}
    drafts = [JobDraft("default/default", "t2v", {**spec, "seed": i}, Priority.BATCH) for i in range(n)]
    with open_data_dir(data, store_url) as dd:
        return [job.id for job, _ in dd.store.create_jobs(drafts)]


async def _client_loop(client: HttpClient, ids: list[str], stop: float, seed: int, lat: list[float]) -> int:
    """One client polling random ids until ``stop``; returns non-200 answers."""
    rng = random.Random(seed)
    errors = 0
    while time.perf_counter() < stop:
        response = await client.get(f"/v1/videos/{rng.choice(ids)}", keep_body=False)
        if response.status_code == 200:
            lat.append((response.complete_ns - response.sent_ns) / 1e9)
        else:
            errors += 1
    return errors


async def poll(url: str, key: str, ids: list[str], clients: int, seconds: float) -> list[float]:
    """Latencies (s) of every 200 answer within ``seconds`` from ``clients`` concurrent connections.

    Through the benchmark harness's lean HTTP/1.1 client (keep-alive, one write per request):
    httpx's async pool tops out near 50 requests/s at 64 connections on this machine, which would
    measure the client instead of the server."""
    latencies: list[float] = []
    stop = time.perf_counter() + seconds
    headers = {"Authorization": f"Bearer {key}"}
    async with HttpClient(url, pool=clients, headers=headers) as client:
        loops = (_client_loop(client, ids, stop, i, latencies) for i in range(clients))
        errors = sum(await asyncio.gather(*loops))
    if errors:
        print(f"  {errors} requests failed")
    return latencies


def _pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000)[int(q * 1000) - 1] if len(values) > 1 else values[0]


@contextmanager
def _store(pg: str | None) -> Iterator[str | None]:
    if pg is None:
        yield None
        return
    with pg_schema(pg) as url:
        if url is None:
            raise SystemExit(f"no PostgreSQL server at {pg}")
        yield url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--pg", default=None, help="a PostgreSQL server URL (a temporary schema) instead of SQLite"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, _store(args.pg) as store_url:
        data = Path(tmp)
        ids = _store_jobs(data, args.jobs, store_url)
        with serve(data, store_url=store_url) as server:
            asyncio.run(poll(server.url, server.key, ids, args.clients, 1.0))  # warm up connections
            lat = asyncio.run(poll(server.url, server.key, ids, args.clients, args.seconds))
    backend = "postgresql" if args.pg else "sqlite"
    print(
        f"{backend}: {len(lat) / args.seconds:8.0f} req/s  p50 {1000 * _pct(lat, 0.5):7.1f} ms  "
        f"p99 {1000 * _pct(lat, 0.99):7.1f} ms  "
        f"({args.clients} clients, {args.jobs} jobs, {args.seconds:g} s)"
    )


if __name__ == "__main__":
    main()
