"""Interactive latency while 50 batch clips are queued: preemption on vs off (one model worker).

For each mode, ``--batch-jobs`` batch clips are queued at once on one real model worker (max batch 4),
then ``--interactive`` interactive clips (another size, so they cannot simply join the running batch)
arrive every ``--period`` seconds. Without preemption an interactive clip waits for the running batch
to finish all its steps and its decode (priority ordering still puts it first in the queue); with
preemption the batch is checkpointed at the next step boundary and resumes afterwards without redoing
steps. Prints interactive latency (submit → frames) p50/max and the batch work's makespan.

    .venv/bin/python -m benchmarks.preemption_bench [--batch-jobs 50] [--interactive 5] [--period 0.7]
        [--batch-steps 40] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from concurrent.futures import Future
from typing import Any

from reelserve.engine.model.client import ModelWorkerClient
from reelserve.engine.model.config import ModelWorkerConfig

# Batch work is step-dominated (many steps, a small decode), as real models are; the decode that follows
# the last step is not preemptible. Interactive clips have another frame count: they cannot join the batch.
BATCH = {"prompt": "an archive of old film", "width": 32, "height": 32, "frames": 5}
INTERACTIVE = {"prompt": "a fox looks up", "width": 32, "height": 32, "frames": 9, "steps": 2}


def run_mode(client: ModelWorkerClient, preempt: bool, args: argparse.Namespace) -> dict[str, Any]:
    client.call("configure", max_batch=4, max_wait_s=0.01, preempt=preempt).result(30)
    tag = "on" if preempt else "off"
    t0 = time.perf_counter()
    batch = [
        client.call("clip", clip_id=f"{tag}-b{k}", spec={**BATCH, "steps": args.batch_steps, "seed": k},
                    priority="batch")
        for k in range(args.batch_jobs)
    ]  # fmt: skip
    time.sleep(args.period)
    latencies: list[float] = []
    for k in range(args.interactive):
        sent = time.perf_counter()
        fut: Future[Any] = client.call("clip", clip_id=f"{tag}-i{k}", spec={**INTERACTIVE, "seed": k})
        fut.result(600)
        latencies.append(time.perf_counter() - sent)
        time.sleep(max(0.0, args.period - latencies[-1]))
    done = [f.result(1200) for f in batch]
    makespan = time.perf_counter() - t0
    return {
        "preemption": preempt,
        "interactive_p50_s": statistics.median(latencies),
        "interactive_max_s": max(latencies),
        "interactive_s": [round(x, 3) for x in latencies],
        "batch_makespan_s": makespan,
        "batch_preemptions": sum(d["preemptions"] for d in done),
        "batch_steps_redone": sum(d["steps_run"] - args.batch_steps for d in done),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch-jobs", type=int, default=50)
    ap.add_argument("--batch-steps", type=int, default=40)
    ap.add_argument("--interactive", type=int, default=5)
    ap.add_argument("--period", type=float, default=0.7)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    client = ModelWorkerClient(ModelWorkerConfig("bench-p", "cpu", threads=args.threads))
    client.start().wait_ready(600)
    try:
        client.call("clip", clip_id="warmup", spec={**INTERACTIVE, "seed": 0}).result(300)
        rows = [run_mode(client, preempt, args) for preempt in (False, True)]
    finally:
        client.stop(drain=False)
    print(f"{args.batch_jobs} batch clips (32x32x5, {args.batch_steps} steps) queued; "
          f"{args.interactive} interactive clips (32x32x9, 2 steps)")  # fmt: skip
    print(f"{'preemption':>10} {'p50 s':>7} {'max s':>7} {'makespan s':>10} {'preempted':>9} {'redone':>6}")
    for r in rows:
        mode = "on" if r["preemption"] else "off"
        print(
            f"{mode:>10} {r['interactive_p50_s']:>7.3f} {r['interactive_max_s']:>7.3f}"
            f" {r['batch_makespan_s']:>10.2f} {r['batch_preemptions']:>9} {r['batch_steps_redone']:>6}"
        )
    out = {"config": vars(args), "rows": rows}
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=2)
    return out


if __name__ == "__main__":
    main()
