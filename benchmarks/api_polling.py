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
from pathlib import Path

import httpx

from benchmarks.api_server import serve
from reelserve.core.records import Priority
from reelserve.local import open_data_dir
from reelserve.store import JobDraft

__all__ = ["main", "poll"]


def _store_jobs(data: Path, n: int, store_url: str | None) -> list[str]:
    spec = {"prompt": "a clip", "model": "tiny-wan", "width": 64, "height": 64, "num_frames": 9, "steps": 1}
    drafts = [JobDraft("default/default", "t2v", {**spec, "seed": i}, Priority.BATCH) for i in range(n)]
    with open_data_dir(data, store_url) as dd:
        return [job.id for job, _ in dd.store.create_jobs(drafts)]


async def poll(url: str, key: str, ids: list[str], clients: int, seconds: float) -> list[float]:
    """Latencies (s) of every request that answered 200 within ``seconds``, from ``clients`` loops."""
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    headers = {"Authorization": f"Bearer {key}"}
    latencies: list[float] = []
    errors = 0
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=30) as client:
        stop = time.perf_counter() + seconds

        async def loop(seed: int) -> None:
            nonlocal errors
            rng = random.Random(seed)
            while time.perf_counter() < stop:
                t0 = time.perf_counter()
                response = await client.get(f"/v1/videos/{rng.choice(ids)}")
                if response.status_code == 200:
                    latencies.append(time.perf_counter() - t0)
                else:
                    errors += 1

        await asyncio.gather(*(loop(i) for i in range(clients)))
    if errors:
        print(f"  {errors} requests failed")
    return latencies


def _pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000)[int(q * 1000) - 1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--pg", default=None, help="a PostgreSQL URL instead of SQLite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        ids = _store_jobs(data, args.jobs, args.pg)
        with serve(data, store_url=args.pg) as server:
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
