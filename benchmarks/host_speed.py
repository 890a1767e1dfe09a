"""How steady is this machine's speed? The same batched VAE decode, back to back, in one process.

    .venv/bin/python -m benchmarks.host_speed [--seconds 60] [--batch 2] [--size 64x64] [--frames 9]
                                              [--window-s 2] [--json OUT]

The fidelity benchmark (``benchmarks.sim_fidelity``) compares a live engine run with a simulation drawn
from profile slices taken a few seconds before and after it; a change in the machine's speed between
them moves the ratio though neither side is wrong. This measures that speed directly: tiny-wan's
batched VAE decode (the part that dominates a chunk's cost) on the same latents, one torch thread,
over and over for ``--seconds``. Nothing changes between repetitions (same tensors, same process, no
allocation growth), so every change in its time is the machine's. Reported:

- the decodes' median, p10 and p90 (ms), and /proc/stat's shares over the run (steal: time the
  hypervisor gave another guest; busy: everything this guest ran, this probe included);
- rolling medians over ``--window-s`` (an engine run is 8–15 s, a profile slice ~7 s): their range as
  a ratio of the overall median, and the *episodes* -- stretches of at least one window whose rolling
  median stays 20% or more above the overall median -- with their start, length and level.

Run it alone: a second job on the other core is exactly what it would see.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.sim_fidelity import cpu_jiffies, cpu_shares

__all__ = ["episodes", "main", "rolling_medians"]


def rolling_medians(stamps: list[float], ms: list[float], window_s: float) -> list[tuple[float, float]]:
    """(window start s, median ms of the decodes that started in it), windows stepped by half a window."""
    out: list[tuple[float, float]] = []
    start, end = stamps[0], stamps[-1]
    t = start
    while t + window_s <= end + 1e-9:
        inside = [m for s, m in zip(stamps, ms, strict=True) if t <= s < t + window_s]
        if inside:
            out.append((round(t - start, 2), statistics.median(inside)))
        t += window_s / 2
    return out


def episodes(
    rolled: list[tuple[float, float]], overall: float, window_s: float, above: float = 1.2
) -> list[dict[str, float]]:
    """Runs of consecutive windows whose median is ``above`` × the overall median or more."""
    found: list[dict[str, float]] = []
    run: list[tuple[float, float]] = []
    for w in [*rolled, (float("inf"), 0.0)]:  # a sentinel closes the last run
        if w[1] >= above * overall:
            run.append(w)
            continue
        if run:
            found.append(
                {
                    "start_s": run[0][0],
                    "length_s": round(run[-1][0] - run[0][0] + window_s, 2),
                    "level": round(max(m for _, m in run) / overall, 3),
                }
            )
        run = []
    return found


def measure(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from reelserve.models.registry import load_model

    torch.set_num_threads(1)
    model = load_model("tiny-wan", device="cpu")
    width, height = (int(v) for v in args.size.lower().split("x"))
    seeds = list(range(args.batch))
    state = model.start(seeds=seeds, width=width, height=height, frames=args.frames, steps=2)
    for _ in range(3):  # warm up: first calls build kernels and grow the allocator's pools
        model.decode(state.latents)
    stamps: list[float] = []
    ms: list[float] = []
    cpu0, t0 = cpu_jiffies(), time.monotonic()
    while time.monotonic() - t0 < args.seconds:
        s = time.perf_counter()
        model.decode(state.latents)
        stamps.append(s)
        ms.append((time.perf_counter() - s) * 1000)
    shares = cpu_shares(cpu0, cpu_jiffies())
    overall = statistics.median(ms)
    rolled = rolling_medians(stamps, ms, args.window_s)
    levels = [m for _, m in rolled]
    return {
        "decodes": len(ms),
        "batch": args.batch,
        "size": args.size,
        "frames": args.frames,
        "median_ms": round(overall, 1),
        "p10_ms": round(float(np.percentile(ms, 10)), 1),
        "p90_ms": round(float(np.percentile(ms, 90)), 1),
        "window_s": args.window_s,
        "window_median_range": [round(min(levels) / overall, 3), round(max(levels) / overall, 3)]
        if levels
        else None,
        "episodes": episodes(rolled, overall, args.window_s),
        "cpu": shares,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--size", default="64x64")
    ap.add_argument("--frames", type=int, default=9)
    ap.add_argument("--window-s", type=float, default=2.0)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    out = measure(args)
    print(json.dumps(out, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
