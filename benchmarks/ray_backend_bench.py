"""The Ray backend against the local model workers: the same calls and jobs through both, in one run.

    .venv/bin/python -m benchmarks.ray_backend_bench [--jobs 8] [--rounds 2] [--calls 200] [--clips 5]
        [--size 32x32] [--frames 5] [--steps 6] [--json out.json]

Two backends are up at once, each with ONE model worker (1 torch thread) and its own SQLite store:
``ModelBackend`` (a spawned process, pipe transport) and ``RayBackend`` (a Ray actor, Ray transport;
the Ray runtime's files in a temp directory). Phases run one system at a time, rounds alternate the
order (ABBA) so load from other work on a shared machine falls on both alike:

- ``ping``: sequential control calls (the transport's round trip, µs/call);
- ``clip``: sequential clips through the worker op (the frames come back over the transport);
- ``job``: sequential store jobs (submit → succeeded): ``e2e`` from creation, ``run`` from the claim
  (``timings['started']``), so the job lane's 0.2 s idle claim poll is visible separately;
- ``burst``: ``--jobs`` jobs submitted at once, wall time to the last one → jobs/s (the job lane's
  throughput, batched steps included).

Figures are medians over rounds; ``ray/local`` is the same-run ratio. CPU seconds per item (``/proc``):
the model worker process's, this process's, and ``daemons`` = every other descendant of this process
(Ray's GCS, raylet, agents and pooled workers; they run during both systems' phases, so the difference
between the columns is what Ray's own calls cost them).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from reelserve.core.records import GenerationSpec
from reelserve.engine.model.backend import ModelBackend
from reelserve.engine.model.pool import PoolConfig
from reelserve.pipeline.submit import parse_size, submit_generation
from reelserve.store import Store, default_url, open_store

Row = dict[str, float]


def _proc_cpu(pid: int | None) -> float:
    """User + system CPU seconds of a process (Linux ``/proc``)."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                ppid = int((p / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            children.setdefault(ppid, []).append(int(p.name))
    out, todo = [], [pid]
    while todo:
        kids = children.get(todo.pop(), [])
        out += kids
        todo += kids
    return out


def _daemons_cpu(exclude: set[int | None]) -> float:
    """CPU seconds of this process's descendants but the model workers: Ray's GCS, raylet, agents."""
    total = 0.0
    for pid in _descendants(os.getpid()):
        if pid not in exclude:
            with contextlib.suppress(OSError):  # a process that ended meanwhile
                total += _proc_cpu(pid)
    return total


class System:
    def __init__(self, name: str, backend: ModelBackend, root: Path) -> None:
        self.name = name
        self.backend = backend
        self.store: Store = open_store(default_url(root))
        self.seq = 0
        self.workers: set[int | None] = set()  #: every model worker's pid (both systems), set by _start

    def client(self) -> Any:
        return self.backend.pool.client(self.backend.pool.live()[0])

    def measure(self, phase: str, fn: Any, n: int) -> Row:
        pid = self.client().pid
        r0, w0, d0 = _daemons_cpu(self.workers), _proc_cpu(pid), time.process_time()
        t0 = time.perf_counter()
        extra = fn()
        wall = time.perf_counter() - t0
        cpu = {
            "worker_cpu_s": (_proc_cpu(pid) - w0) / n,
            "driver_cpu_s": (time.process_time() - d0) / n,
            "daemons_cpu_s": (_daemons_cpu(self.workers) - r0) / n,
        }
        return {"wall_s": wall / n, **cpu, **extra}

    def pings(self, n: int) -> Row:
        c = self.client()
        for _ in range(n):
            c.call("ping").result(60)
        return {}

    def clips(self, spec: dict[str, Any], n: int) -> Row:
        c = self.client()
        for k in range(n):
            out = c.call("clip", clip_id=f"c-{self.seq}-{k}", spec={**spec, "seed": k}).result(600)
            assert out["frames"].shape[0] == spec["frames"]
        self.seq += 1
        return {}

    def submit(self, spec: GenerationSpec, n: int) -> list[str]:
        self.seq += 1
        specs = [GenerationSpec.from_dict({**spec.to_dict(), "seed": self.seq * 100 + k}) for k in range(n)]
        return [submit_generation(self.store, s)[0].id for s in specs]

    def wait(self, ids: list[str]) -> list[Any]:
        while True:
            jobs = [self.store.get_job(i) for i in ids]
            if all(j is not None and j.status.terminal for j in jobs):
                bad = [j.error_code for j in jobs if j and j.status.value != "succeeded"]
                assert not bad, bad
                return jobs
            time.sleep(0.02)  # the figures come from the store's timestamps, not from this poll

    def jobs_one_by_one(self, spec: GenerationSpec, n: int) -> Row:
        e2e, run = [], []
        for _ in range(n):
            (job,) = self.wait(self.submit(spec, 1))
            e2e.append(job.timings["finished"] - job.created_at)
            run.append(job.timings["finished"] - job.timings["started"])
        return {"e2e_s": statistics.median(e2e), "run_s": statistics.median(run)}

    def burst(self, spec: GenerationSpec, n: int) -> Row:
        jobs = self.wait(self.submit(spec, n))
        span = max(j.timings["finished"] for j in jobs) - min(j.created_at for j in jobs)
        return {"jobs/s": n / span}


def _phases(args: argparse.Namespace) -> dict[str, Any]:
    w, h = parse_size(args.size)
    clip: dict[str, Any] = {
        "prompt": "a lighthouse in a storm",
        "width": w,
        "height": h,
        "frames": args.frames,
        "steps": args.steps,
    }
    spec = GenerationSpec(clip["prompt"], width=w, height=h, num_frames=args.frames, steps=args.steps,
                          checkpoint_every=2, preset="ultrafast")  # fmt: skip
    return {
        "ping": (lambda s: s.pings(args.calls), args.calls),
        "clip": (lambda s: s.clips(clip, args.clips), args.clips),
        "job": (lambda s: s.jobs_one_by_one(spec, args.clips), args.clips),
        "burst": (lambda s: s.burst(spec, args.jobs), args.jobs),
    }


def _start(scratch: Path, slots: int) -> tuple[dict[str, System], dict[str, float]]:
    from reelserve.engine.ray import RayRuntime
    from reelserve.engine.ray.backend import RayBackend

    cfg = PoolConfig(devices=("cpu",), max_wait_s=0.05, lease_s=30.0)
    made: dict[str, System] = {}
    ready: dict[str, float] = {}
    for name in ("local", "ray"):
        root = scratch / name
        root.mkdir()
        url, blobs = default_url(root), str(root / "blobs")
        if name == "local":
            backend = ModelBackend(cfg, url, blobs, job_slots=slots)
        else:
            backend = RayBackend(cfg, url, blobs, job_slots=slots, runtime=RayRuntime(str(scratch / "r"), 2))
        t0 = time.perf_counter()
        backend.start()
        backend.wait_ready()
        ready[name] = time.perf_counter() - t0
        made[name] = System(name, backend, root)
    pids = {s.client().pid for s in made.values()}
    for s in made.values():
        s.workers = pids
    return made, ready


def _unit(phase: str, key: str) -> tuple[float, str]:
    """Seconds per item print as µs for pings and ms otherwise; rates as they are."""
    if not key.endswith("_s"):
        return 1.0, key
    return (1e6, key[:-2] + " µs") if phase == "ping" else (1e3, key[:-2] + " ms")


def _report(rows: dict[str, dict[str, list[Row]]], ready: dict[str, float]) -> dict[str, Any]:
    out: dict[str, Any] = {"ready_s": ready, "load": os.getloadavg(), "phases": {}}
    print(f"load average {os.getloadavg()[0]:.1f}; ready (s): local {ready['local']:.1f}, "
          f"ray {ready['ray']:.1f} (includes ray.init)")  # fmt: skip
    print(f"{'phase':<7}{'figure':<14}{'local':>12}{'ray':>12}{'ray/local':>11}")
    for phase, by in rows.items():
        med = {s: {k: statistics.median(r[k] for r in by[s]) for k in by[s][0]} for s in by}
        out["phases"][phase] = med
        for key in med["local"]:
            a, b = med["local"][key], med["ray"][key]
            unit, label = _unit(phase, key)
            ratio = b / a if a else float("nan")
            print(f"{phase:<7}{label:<14}{a * unit:>12.2f}{b * unit:>12.2f}{ratio:>10.2f}x")
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=8, help="jobs per burst")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--calls", type=int, default=200, help="pings per round")
    ap.add_argument("--clips", type=int, default=5, help="sequential clips and jobs per round")
    ap.add_argument("--size", default="32x32")
    ap.add_argument("--frames", type=int, default=5)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    from reelserve.engine.ray import shutdown_ray

    scratch = Path(tempfile.mkdtemp(prefix="rs-bench-"))
    systems, ready = _start(scratch, slots=args.jobs)
    phases = _phases(args)
    rows: dict[str, dict[str, list[Row]]] = {p: {"local": [], "ray": []} for p in phases}
    try:
        for s in systems.values():  # warm-up: first clip and job of each
            s.clips({"prompt": "warm", "width": 32, "height": 32, "frames": 5, "steps": 2}, 1)
            s.wait(s.submit(GenerationSpec("warm", width=32, height=32, num_frames=5, steps=2), 1))
        for r in range(args.rounds):
            order = ["local", "ray"] if r % 2 == 0 else ["ray", "local"]
            for phase, (fn, n) in phases.items():
                for name in order:
                    sys_ = systems[name]
                    rows[phase][name].append(sys_.measure(phase, functools.partial(fn, sys_), n))
        out = _report(rows, ready)
    finally:
        for s in systems.values():
            s.backend.stop(drain=True)
            s.store.close()
        shutdown_ray()
        shutil.rmtree(scratch, ignore_errors=True)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
