"""Batch admission through the API: seconds for ``POST /v1/batches`` with 10,000 variants (one
request, one transaction) on SQLite and PostgreSQL, and for repeating it (every variant exists).

    .venv/bin/python -m benchmarks.api_batch_admission [--variants 10000] [--pg URL]

A real server process (no workers) on a temporary data directory; PostgreSQL in a temporary schema
(``--pg``, else ``REELSERVE_TEST_PG``, else the loopback default), skipped when no server answers.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import httpx

from benchmarks.admission_bench import PG_DEFAULT, pg_schema
from benchmarks.api_server import serve

__all__ = ["main", "measure"]


def body(n: int) -> dict[str, object]:
    variants = [{"variant_id": f"v{i:06d}", "seed": i, "prompt": f"a sneaker, variant {i}"} for i in range(n)]
    template = {"model": "tiny-wan", "size": "256x256", "num_frames": 17, "num_inference_steps": 4}
    return {"template": template, "variants": variants}


def measure(data: Path, n: int, store_url: str | None) -> tuple[float, float, int]:
    """(seconds first, seconds repeat, request bytes) for one batch of ``n`` variants."""
    payload = body(n)
    with serve(data, store_url=store_url) as server:
        headers = {"Authorization": f"Bearer {server.key}", "Idempotency-Key": "bench-batch"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=600) as client:
            t0 = time.perf_counter()
            first = client.post("/v1/batches", json=payload)
            first_s = time.perf_counter() - t0
            t1 = time.perf_counter()
            repeat = client.post("/v1/batches", json=payload)
            repeat_s = time.perf_counter() - t1
    assert first.status_code == 200 and first.json()["admitted"] == n, first.text[:300]
    assert repeat.status_code == 200 and repeat.json()["admitted"] == 0
    return first_s, repeat_s, len(first.request.content)


def _report(backend: str, n: int, first_s: float, repeat_s: float, size: int) -> None:
    print(
        f"{backend:<11} POST /v1/batches with {n} variants ({size / 1e6:.1f} MB): {first_s:6.2f} s "
        f"({n / first_s:6.0f} variants/s)   repeat (all exist): {repeat_s:6.2f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", type=int, default=10_000)
    parser.add_argument("--pg", default=os.environ.get("REELSERVE_TEST_PG") or PG_DEFAULT)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        _report("sqlite", args.variants, *measure(Path(tmp), args.variants, None))
    with pg_schema(args.pg) as url, tempfile.TemporaryDirectory() as tmp:
        if url is None:
            print(f"postgresql  skipped: no server at {args.pg} (pass --pg URL)")
        else:
            _report("postgresql", args.variants, *measure(Path(tmp), args.variants, url))


if __name__ == "__main__":
    main()
