"""Model worker start-up: ``forkserver`` (torch + diffusers pre-imported once) vs ``spawn``.

Each start is a real model worker process loading tiny-wan until it answers ready; the worker is then
killed. The start methods alternate per round (in fresh Python processes, since a fork server lives as
long as its parent), so both see the same machine load. Prints each start and the median ratio.

    .venv/bin/python -m benchmarks.worker_start_bench [--rounds 2] [--starts 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from reelserve.engine.model.client import ModelWorkerClient
from reelserve.engine.model.config import ModelWorkerConfig


def starts(n: int) -> list[float]:
    """``n`` workers one after another in this process; seconds from start to ready."""
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        client = ModelWorkerClient(ModelWorkerConfig(f"mw-{i}")).start().wait_ready(600)
        out.append(time.perf_counter() - t0)
        client.stop(drain=False)
    return out


def _child(method: str, n: int) -> list[float]:
    env = {**os.environ, "REELSERVE_WORKER_START": method}
    code = f"import json, benchmarks.worker_start_bench as b; print(json.dumps(b.starts({n})))"
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return list(json.loads(res.stdout.strip().splitlines()[-1]))


def main(argv: list[str] | None = None) -> dict[str, list[float]]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--starts", type=int, default=3, help="workers started one after another per process")
    args = ap.parse_args(argv)
    got: dict[str, list[float]] = {"forkserver": [], "spawn": []}
    for r in range(args.rounds):
        for method in ("forkserver", "spawn") if r % 2 == 0 else ("spawn", "forkserver"):
            times = _child(method, args.starts)
            got[method].extend(times)
            print(f"round {r} {method:>10}: " + "  ".join(f"{t:6.2f}" for t in times) + " s", flush=True)
    later = {m: statistics.median(t for i, t in enumerate(v) if i % args.starts) for m, v in got.items()}
    first = {m: statistics.median(v[:: args.starts]) for m, v in got.items()}
    print(f"first start (median): forkserver {first['forkserver']:.2f} s, spawn {first['spawn']:.2f} s")
    print(f"later starts (median): forkserver {later['forkserver']:.2f} s, spawn {later['spawn']:.2f} s "
          f"= {later['spawn'] / later['forkserver']:.0f}x faster")  # fmt: skip
    return got


if __name__ == "__main__":
    main()
