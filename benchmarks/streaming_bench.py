"""Streaming sessions on this machine: per-chunk latency and deadline misses for 1..N concurrent sessions,
and offload/resume and migration time vs session state size.

Runs the real API app (``create_app`` + the sessions router) under uvicorn on loopback with model
workers on ``--devices``; every session is read over its WebSocket like a client would. Latency is
chunk requested → media segment ready (the JSON timing message); a miss is a chunk ready after
``--deadline-ms``. State moves are timed on the live manager (export + restore between processes).

    .venv/bin/python -m benchmarks.streaming_bench [--devices cpu,cpu] [--sessions 1,2,4] [--chunks 6]
        [--size 32x32] [--chunk-frames 4] [--steps 2] [--deadline-ms 1000] [--state-sizes 32,64,128]
        [--quality best_effort,adaptive] [--min-steps 2]

``--quality`` runs each session count once per mode, interleaved (adaptive quality: ``docs/engine.md``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from websockets.sync.client import connect

from reelserve.api.app import create_app
from reelserve.api.settings import ApiSettings
from reelserve.engine.model.pool import PoolConfig
from reelserve.engine.sessions.driver import migrate, offload
from reelserve.engine.sessions.manager import ManagerConfig, SessionManager
from reelserve.sched.placement import PlacementParams
from reelserve.store.governance import create_key


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class Bench:
    def __init__(self, args: argparse.Namespace, data: Path) -> None:
        self.args = args
        self.app = create_app(ApiSettings(data_dir=data))
        devices = tuple(d for d in args.devices.split(",") if d)
        self.app.state.session_config = ManagerConfig(
            pool=PoolConfig(devices=devices, max_batch=args.max_batch, min_workers=len(devices)),
            placement=PlacementParams(offload_after_s=3600.0),
        )
        self.key, _ = create_key(
            self.app.state.services.store.engine, org="bench", project="p", role="editor"
        )
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(self.app, port=self.port, log_level="warning"))
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=lambda: self.loop.run_until_complete(self.server.serve()))
        self.thread.start()
        while not self.server.started:
            time.sleep(0.05)
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=120,
                                 headers={"Authorization": f"Bearer {self.key}"})  # fmt: skip
        self.http.get("/v1/engine")
        while len(self.http.get("/v1/engine").json()["workers"]) < len(devices):
            time.sleep(0.2)

    @property
    def manager(self) -> SessionManager:
        return self.app.state.sessions  # type: ignore[no-any-return]

    def create(self, size: str, chunks: int, seed: int = 0, quality: str = "best_effort") -> str | None:
        """A session's id; None when adaptive/strict quality refused it (409)."""
        a = self.args
        body = {"prompt": f"a city at night {seed}", "size": size, "chunk_frames": a.chunk_frames,
                "num_inference_steps": a.steps, "max_chunks": chunks, "deadline_ms": a.deadline_ms,
                "seed": seed, "quality": quality, "min_steps": a.min_steps}  # fmt: skip
        r = self.http.post("/v1/sessions", json=body)
        if r.status_code == 409:
            return None
        r.raise_for_status()
        return str(r.json()["id"])

    def stream(self, sid: str, out: list[dict[str, Any]]) -> None:
        url = f"ws://127.0.0.1:{self.port}/v1/sessions/{sid}/stream?api_key={self.key}"
        with connect(url, max_size=None) as ws:
            while True:
                msg = ws.recv(timeout=600)
                if isinstance(msg, str):
                    info = json.loads(msg)
                    if info["type"] == "chunk":
                        out.append(info)
                    if info["type"] == "end":
                        return

    def concurrency(self, n: int, quality: str = "best_effort") -> dict[str, Any]:
        made = [self.create(self.args.size, self.args.chunks, seed=k, quality=quality) for k in range(n)]
        ids = [sid for sid in made if sid is not None]
        chunks: list[dict[str, Any]] = []
        threads = [threading.Thread(target=self.stream, args=(sid, chunks)) for sid in ids]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        lat = [c["latency_ms"] for c in chunks]
        frames = sum(c["frames"] for c in chunks)
        return {
            "sessions": n, "quality": quality, "refused": n - len(ids), "chunks": len(chunks),
            "degraded": sum(bool(c.get("quality", {}).get("degraded")) for c in chunks),
            "mean_steps": statistics.mean(c["steps"] for c in chunks),
            "p50_ms": statistics.median(lat), "p99_ms": pct(lat, 0.99),
            "max_ms": max(lat), "misses": sum(c["deadline_missed"] for c in chunks),
            "mean_batch": statistics.mean(c["batch_size"] for c in chunks), "frames_per_s": frames / wall,
            "queue_p50_ms": statistics.median(c["queue_ms"] for c in chunks),
            "encode_p50_ms": statistics.median(c["encode_ms"] for c in chunks),
        }  # fmt: skip

    def state_moves(self, side: int) -> dict[str, Any]:
        """Run one chunk at ``side``x``side``, pause, then time migrate / offload / resume of its state."""
        sid = self.create(f"{side}x{side}", chunks=1000)
        url = f"ws://127.0.0.1:{self.port}/v1/sessions/{sid}/stream?api_key={self.key}"
        with connect(url, max_size=None) as ws:
            while not (isinstance(m := ws.recv(timeout=600), str) and json.loads(m)["type"] == "chunk"):
                pass
            ws.send(json.dumps({"type": "pause"}))
            s = self.manager.sessions[sid]
            while s.lock.locked() or s.active or s.worker is None:
                time.sleep(0.01)
            row = self._time_moves(s)
        self.http.delete(f"/v1/sessions/{sid}")
        return row

    def _time_moves(self, s: Any) -> dict[str, Any]:
        mgr = self.manager
        moves, offs, resumes = [], [], []
        for _k in range(self.args.repeats):
            target = next(w for w in mgr.pool.live() if w != s.worker)

            async def move(target: str = target) -> float:
                async with s.lock:
                    t0 = time.perf_counter()
                    await migrate(mgr, s, target)
                    return time.perf_counter() - t0

            moves.append(asyncio.run_coroutine_threadsafe(move(), self.loop).result(120))
            t0 = time.perf_counter()
            asyncio.run_coroutine_threadsafe(offload(mgr, s), self.loop).result(120)
            offs.append(time.perf_counter() - t0)
            worker = mgr.pool.live()[0]

            async def restore(worker: str = worker) -> float:
                t1 = time.perf_counter()
                await asyncio.wrap_future(mgr.pool.client(worker).call("restore", sid=s.id, state=s.state))
                s.worker, s.offloaded = worker, False
                return time.perf_counter() - t1

            resumes.append(asyncio.run_coroutine_threadsafe(restore(), self.loop).result(120))
        return {
            "size": f"{s.spec.width}x{s.spec.height}", "state_kb": len(s.state or b"") / 1024,
            "migrate_ms": 1000 * statistics.median(moves), "offload_ms": 1000 * statistics.median(offs),
            "resume_ms": 1000 * statistics.median(resumes),
        }  # fmt: skip

    def close(self) -> None:
        self.server.should_exit = True  # the lifespan stops the model workers (SIGTERM, drain)
        self.thread.join(120)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devices", default="cpu,cpu")
    ap.add_argument("--sessions", default="1,2,4")
    ap.add_argument("--chunks", type=int, default=6)
    ap.add_argument("--size", default="32x32")
    ap.add_argument("--chunk-frames", type=int, default=4)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--deadline-ms", type=float, default=1000.0)
    ap.add_argument("--quality", default="best_effort", help="comma list: best_effort,adaptive,strict")
    ap.add_argument("--min-steps", type=int, default=1)
    ap.add_argument("--max-batch", type=int, default=4)
    ap.add_argument("--state-sizes", default="32,64,128")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        bench = Bench(args, Path(tmp))
        try:
            modes = args.quality.split(",")  # interleaved per session count: same-moment comparison
            rows = [bench.concurrency(int(n), q) for n in args.sessions.split(",") for q in modes]
            moves = [bench.state_moves(int(s)) for s in args.state_sizes.split(",") if s]
        finally:
            bench.close()
    print(f"devices {args.devices}; {args.size}, {args.chunk_frames} frames/chunk, {args.steps} steps, "
          f"deadline {args.deadline_ms:.0f} ms, {args.chunks} chunks per session")  # fmt: skip
    print(f"{'sessions':>8} {'quality':>11} {'p50 ms':>8} {'p99 ms':>8} {'misses':>9} {'batch':>6} "
          f"{'frames/s':>9} {'steps':>6} {'degraded':>9} {'refused':>7}")  # fmt: skip
    for r in rows:
        print(f"{r['sessions']:>8} {r['quality']:>11} {r['p50_ms']:>8.1f} {r['p99_ms']:>8.1f} "
              f"{r['misses']:>4}/{r['chunks']:<4} {r['mean_batch']:>6.2f} {r['frames_per_s']:>9.1f} "
              f"{r['mean_steps']:>6.2f} {r['degraded']:>4}/{r['chunks']:<4} {r['refused']:>7}")  # fmt: skip
    print(f"{'size':>8} {'state KB':>9} {'migrate ms':>11} {'offload ms':>11} {'resume ms':>10}")
    for m in moves:
        print(f"{m['size']:>8} {m['state_kb']:>9.1f} {m['migrate_ms']:>11.1f} {m['offload_ms']:>11.1f} "
              f"{m['resume_ms']:>10.1f}")  # fmt: skip
    out = {"config": vars(args), "concurrency": rows, "state_moves": moves}
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
