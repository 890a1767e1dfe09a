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
from reelserve.core.records import Priority
from reelserve.local import open_data_dir
from reelserve.store import JobDraft

__all__ = ["main", "poll"]


def _store_jobs(data: Path, n: int, store_url: str | None) -> list[str]:
    spec = {"prompt": "a clip", "model": "tiny-wan", "width": 64, "height": 64, "num_frames": 9, "steps": 1}
    drafts = [JobDraft("default/default", "t2v", {**spec, "seed": i}, Priority.BATCH) for i in range(n)]
    with open_data_dir(data, store_url) as dd:
        return [job.id for job, _ in dd.store.create_jobs(drafts)]


async def _client_loop(
    host: str, port: int, key: str, ids: list[str], stop: float, seed: int, lat: list[float]
) -> int:
    """One keep-alive HTTP/1.1 connection polling random ids; returns non-200 answers."""
    rng = random.Random(seed)
    reader, writer = await asyncio.open_connection(host, port)
    errors = 0
    try:
        while time.perf_counter() < stop:
            path = f"/v1/videos/{rng.choice(ids)}"
            request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\n\r\n"
            t0 = time.perf_counter()
            writer.write(request.encode())
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            length = next(int(h.split(b":")[1]) for h in lines if h.lower().startswith(b"content-length:"))
            await reader.readexactly(length)
            if lines[0].split(b" ")[1] == b"200":
                lat.append(time.perf_counter() - t0)
            else:
                errors += 1
    finally:
        writer.close()
    return errors


async def poll(url: str, key: str, ids: list[str], clients: int, seconds: float) -> list[float]:
    """Latencies (s) of every 200 answer within ``seconds`` from ``clients`` concurrent connections.

    A minimal asyncio HTTP/1.1 client: httpx's async pool tops out near 50 requests/s at 64
    connections on this machine, which would measure the client instead of the server."""
    host, port = url.removeprefix("http://").split(":")
    latencies: list[float] = []
    stop = time.perf_counter() + seconds
    loops = (_client_loop(host, int(port), key, ids, stop, i, latencies) for i in range(clients))
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
