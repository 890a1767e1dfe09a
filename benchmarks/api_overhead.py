"""API overhead: end-to-end latency of a tiny job through HTTP vs calling the engine directly, same run.

    .venv/bin/python -m benchmarks.api_overhead [--jobs 5] [--steps 2]

HTTP: ``POST /v1/videos/sync`` against a real ``reelserve serve`` with one worker process (its model
loaded by a warm-up job): request sent → last MP4 byte received. Direct: ``submit_generation`` then
``JobRunner.run`` in this process (model loaded by a warm-up job): submit → finished. Both report
the job's own intervals, so the difference splits into queue wait (the worker's claim polling),
HTTP and delivery; "outside the run" = end-to-end minus the job's started→finished time.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from benchmarks.api_server import serve
from reelserve.core.records import GenerationSpec
from reelserve.local import DataDir, open_data_dir
from reelserve.pipeline.runner import JobRunner
from reelserve.pipeline.submit import submit_generation

__all__ = ["main"]

SETTINGS = {"size": "64x64", "num_frames": 9}


def _run_s(timings: dict[str, float]) -> float:
    return timings["finished"] - timings["started"]


def _http_once(client: httpx.Client, i: int, steps: int) -> tuple[float, float]:
    body = {"prompt": f"a paper boat {i}", "num_inference_steps": steps, "seed": i, **SETTINGS}
    t0 = time.perf_counter()
    response = client.post("/v1/videos/sync", json=body)
    elapsed = time.perf_counter() - t0
    assert response.status_code == 200, response.text[:300]
    return elapsed, _run_s(json.loads(response.headers["x-reelserve-timings"]))


def _direct_once(dd: DataDir, runner: JobRunner, i: int, steps: int) -> tuple[float, float]:
    spec = GenerationSpec(prompt=f"a paper boat {i}", width=64, height=64, num_frames=9, steps=steps, seed=i)
    t0 = time.perf_counter()
    job, _ = submit_generation(dd.store, spec)
    claimed = dd.store.claim_job(runner.worker_id, runner.lease_s, job_id=job.id)
    assert claimed is not None
    done = runner.run(claimed)
    return time.perf_counter() - t0, _run_s(done.timings)


def measure(n: int, steps: int) -> dict[str, list[tuple[float, float]]]:
    """Alternating direct and HTTP jobs (after one warm-up each); (end-to-end s, run s) per job."""
    results: dict[str, list[tuple[float, float]]] = {"direct": [], "http": []}
    with tempfile.TemporaryDirectory() as tmp, serve(Path(tmp) / "srv", workers=1) as server:
        headers = {"Authorization": f"Bearer {server.key}"}
        with (
            open_data_dir(Path(tmp) / "direct") as dd,
            httpx.Client(base_url=server.url, headers=headers, timeout=600) as client,
        ):
            runner = JobRunner(dd.store, dd.blobs)
            for i in range(n + 1):
                direct = _direct_once(dd, runner, i, steps)
                http = _http_once(client, i, steps)
                if i:  # the first of each loads its model
                    results["direct"].append(direct)
                    results["http"].append(http)
    return results


def _summary(label: str, runs: list[tuple[float, float]]) -> float:
    e2e = statistics.median(r[0] for r in runs)
    run = statistics.median(r[1] for r in runs)
    over = statistics.median(r[0] - r[1] for r in runs)
    print(f"{label:<7} end-to-end median {e2e:6.3f} s   job run {run:6.3f} s   outside the run {over:6.3f} s")
    return over


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--steps", type=int, default=2)
    args = parser.parse_args()
    results = measure(args.jobs, args.steps)
    direct = _summary("direct", results["direct"])
    http = _summary("http", results["http"])
    print(
        f"API overhead (median time outside the job's run, http - direct): {http - direct:+.3f} s "
        f"({args.jobs} jobs each)"
    )


if __name__ == "__main__":
    main()
