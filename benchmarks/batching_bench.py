"""Coalescing gain: clip throughput at batch 1, 2 and 4 on one model worker (tiny-wan by default).

One real model worker process; for each max batch, ``--clips`` compatible clips (same model, size,
frames, steps; different seeds and prompts) are submitted at once and the wall time until the last
one is decoded is measured. Same worker, same loaded model: only ``max_batch`` changes (the worker's
``configure`` op). Prints clips/s, the speed-up over batch 1 and the mean batch size seen.

    .venv/bin/python -m benchmarks.batching_bench [--size 64x64] [--frames 9] [--steps 4] [--clips 8]
        [--batches 1,2,4] [--repeats 2] [--threads 1] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

from reelserve.engine.model.client import ModelWorkerClient
from reelserve.engine.model.config import ModelWorkerConfig
from reelserve.pipeline.submit import parse_size


def run_round(client: ModelWorkerClient, spec: dict[str, Any], clips: int, tag: str) -> dict[str, float]:
    t0 = time.perf_counter()
    futs = [
        client.call("clip", clip_id=f"{tag}-{k}", spec={**spec, "seed": k, "prompt": f"{spec['prompt']} {k}"})
        for k in range(clips)
    ]
    results = [f.result(900) for f in futs]
    wall = time.perf_counter() - t0
    return {
        "wall_s": wall,
        "clips_per_s": clips / wall,
        "mean_batch": statistics.mean(r["batch_size"] for r in results),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="tiny-wan")
    ap.add_argument("--size", default="64x64")
    ap.add_argument("--frames", type=int, default=9)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--clips", type=int, default=8)
    ap.add_argument("--batches", default="1,2,4")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1, help="torch threads in the worker (0 = all cores)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    width, height = parse_size(args.size)
    spec = {"prompt": "a lighthouse in a storm", "width": width, "height": height, "frames": args.frames,
            "steps": args.steps}  # fmt: skip
    client = ModelWorkerClient(ModelWorkerConfig("bench-0", "cpu", args.model, threads=args.threads))
    client.start().wait_ready(600)
    rows: list[dict[str, Any]] = []
    try:
        run_round(client, spec, 2, "warmup")
        for b in [int(x) for x in args.batches.split(",")]:
            client.call("configure", max_batch=b, max_wait_s=0.05).result(30)
            rounds = [run_round(client, spec, args.clips, f"b{b}-r{r}") for r in range(args.repeats)]
            best = max(rounds, key=lambda r: r["clips_per_s"])
            rows.append(
                {"max_batch": b, **best, "all_clips_per_s": [round(r["clips_per_s"], 3) for r in rounds]}
            )
    finally:
        client.stop(drain=False)
    base = rows[0]["clips_per_s"]
    print(f"{args.model} {args.size} x{args.frames} frames, {args.steps} steps, {args.clips} clips per round")
    print(f"{'max_batch':>9} {'clips/s':>9} {'speed-up':>9} {'mean batch':>11} {'wall s':>8}")
    for r in rows:
        print(
            f"{r['max_batch']:>9} {r['clips_per_s']:>9.3f} {r['clips_per_s'] / base:>8.2f}x "
            f"{r['mean_batch']:>11.2f} {r['wall_s']:>8.2f}"
        )
    out = {"config": vars(args), "rows": rows}
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=2)
    return out


if __name__ == "__main__":
    main()
