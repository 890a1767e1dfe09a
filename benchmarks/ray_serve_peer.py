"""The Ray Serve video benchmark's pipeline, re-created, against ours: same video, machine and model.

    .venv/bin/python -m benchmarks.ray_serve_peer [--seconds 30] [--size 1280x720] [--chunk-seconds 10]
                                                  [--rounds 2] [--in-flight 2] [--threads 2]
                                                  [--our-batch 8] [--modes chunked,combined]

The peer (anyscale/runtime-benchmarks ``serve-video-perf``, see ../shared/seeds): four Ray Serve
deployments — ingress → ``VideoProcessingService`` (cuts time chunks with ``ffmpeg -ss -t -c copy``
into fragmented MP4 bytes in memory) → ``VideoDecoder`` (an ffmpeg process per chunk keeping 1 frame
per second as full-resolution RGB arrays, which travel through Ray's object store) →
``ModelInference`` (ResNet-50 at batch 1). Chunked: one model call per chunk; combined: all frames
of the video in one call. Ours: ``analyze_videos`` with the same ResNet-50 weights (random init,
transformers ``ResNetConfig`` at ResNet-50 sizes, saved once and loaded by both from one directory),
the same preprocessing (`to_pixels`, 224×224) and the same torch thread count, at batch 1 and at
``--our-batch``. Ray runs with 2 decoder replicas and 1 model replica (a GPU's worth), ours with 2
decode threads and one model worker. Requests are issued ``--in-flight`` at a time, like the seed's
client (12 requests, 4 in flight, scaled down here), in ``--rounds`` rounds that interleave the systems
(rotated order) so that load from other jobs on a shared machine falls on all alike; latency = client
wall clock per request; one warm-up request per system is not counted. Ray writes its session files
under a scratch directory (HOME and ``_temp_dir`` point there) that is removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.decode_bench import make_test_video

__all__ = ["main"]


def save_resnet50(out: Path) -> Path:
    """Random-init ResNet-50 (transformers) written as ``out/labels`` (our --weights-dir layout)."""
    import torch
    from transformers import ResNetConfig, ResNetForImageClassification

    config = ResNetConfig(
        embedding_size=64,
        hidden_sizes=[256, 512, 1024, 2048],
        depths=[3, 4, 6, 3],
        layer_type="bottleneck",
        num_labels=1000,
    )
    torch.manual_seed(0)
    ResNetForImageClassification(config).eval().save_pretrained(str(out / "labels"))
    return out


# -- the peer: Ray Serve deployments -------------------------------------------------------------


def _workers(serve: Any) -> tuple[Any, Any]:
    """The decoder and model deployments (defined in a function: cloudpickle ships them by value)."""

    @serve.deployment(num_replicas=2, ray_actor_options={"num_cpus": 0.5})
    class VideoDecoder:
        def decode(self, chunk: bytes, width: int, height: int) -> np.ndarray:
            cmd = [
                "ffmpeg",
                "-loglevel",
                "error",
                "-threads",
                "1",
                "-i",
                "pipe:0",
                "-vf",
                "fps=1",
                "-f",
                "rawvideo",
                "-pix_fmt",
                "rgb24",
                "pipe:1",
            ]
            raw = subprocess.run(cmd, input=chunk, capture_output=True, check=True).stdout
            return np.frombuffer(raw, np.uint8).reshape(-1, height, width, 3)

    @serve.deployment(ray_actor_options={"num_cpus": 1})
    class ModelInference:
        def __init__(self, weights: str, threads: int) -> None:
            import torch

            from reelserve.models.understanding import load_task

            torch.set_num_threads(threads)
            self.model = load_task("labels", Path(weights) / "labels", batch_size=1)

        def infer(self, frames: np.ndarray) -> list[str]:
            # Batch 1, as in the seed: one forward pass per frame.
            return [self.model.infer(frames[i : i + 1])[0][0]["label"] for i in range(len(frames))]

    return VideoDecoder, ModelInference


def _peer_app(weights: Path, threads: int) -> Any:
    from ray import serve

    decoder_cls, model_cls = _workers(serve)

    @serve.deployment(ray_actor_options={"num_cpus": 0.1})
    class VideoProcessingService:
        def __init__(self, decoder: Any, model: Any) -> None:
            self.decoder, self.model = decoder, model

        async def _chunk(self, path: str, start: float, length: float) -> bytes:
            cmd = [
                "ffmpeg",
                "-loglevel",
                "error",
                "-ss",
                str(start),
                "-t",
                str(length),
                "-i",
                path,
                "-c",
                "copy",
                "-f",
                "mp4",
                "-movflags",
                "frag_keyframe+empty_moov",
                "pipe:1",
            ]
            proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE)
            out, _ = await proc.communicate()
            return out

        async def process(self, req: dict[str, Any]) -> dict[str, Any]:
            starts = np.arange(0.0, req["duration"], req["chunk_seconds"])
            chunks = await asyncio.gather(
                *(self._chunk(req["path"], s, req["chunk_seconds"]) for s in starts)
            )
            decode = self.decoder.decode
            if req["mode"] == "chunked":

                async def one(chunk: bytes) -> list[str]:
                    frames = await decode.remote(chunk, req["width"], req["height"])
                    return await self.model.infer.remote(frames)

                labels = [x for part in await asyncio.gather(*(one(c) for c in chunks)) for x in part]
            else:
                parts = await asyncio.gather(*(decode.remote(c, req["width"], req["height"]) for c in chunks))
                labels = await self.model.infer.remote(np.concatenate(parts))
            return {"frames": len(labels)}

    @serve.deployment(ray_actor_options={"num_cpus": 0.1})
    class VideoProcessingAPI:
        def __init__(self, service: Any) -> None:
            self.service = service

        async def __call__(self, req: dict[str, Any]) -> dict[str, Any]:
            return await self.service.process.remote(req)

    model = model_cls.bind(str(weights), threads)
    return VideoProcessingAPI.bind(VideoProcessingService.bind(decoder_cls.bind(), model))


def _start_ray(scratch: Path, weights: Path, threads: int) -> Any:
    home = scratch / "home"
    home.mkdir()
    os.environ["HOME"] = str(home)  # Ray writes ~/.ray (and more) under HOME
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ["RAY_TMPDIR"] = str(scratch / "ray")  # any implicit ray.init lands in scratch too
    import ray
    from ray import serve

    # Logical CPUs only gate placement: 4 per core lets every replica (and Serve's own actors) start;
    # the processes then share the real cores, as ours do.
    ray.init(
        num_cpus=4 * (os.cpu_count() or 2),
        _temp_dir=str(scratch / "ray"),
        include_dashboard=False,
        object_store_memory=2 * 1024**3,
        log_to_driver=False,
        configure_logging=False,
    )
    with socket.socket() as s:  # Serve's HTTP proxy needs a port even when only handles are used
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    return serve.run(_peer_app(weights, threads), name="peer", route_prefix=None)


# -- ours ------------------------------------------------------------------------------------------


def _ours(
    weights: Path, mode: str, batch: int, chunk_s: float, threads: int
) -> Callable[[dict[str, Any]], Any]:
    from reelserve.pipeline.analyze.flow import analyze_videos
    from reelserve.pipeline.analyze.spec import AnalyzeSpec

    spec = AnalyzeSpec(
        tasks=("labels",),
        fps=1.0,
        chunk_seconds=chunk_s,
        mode=mode,
        batch_size=batch,
        decoders=2,
        decode_threads=1,
        weights_dir=str(weights),
        model_threads=threads,
    )

    def run(req: dict[str, Any]) -> dict[str, Any]:
        result = analyze_videos([req["path"]], spec).results[0]
        assert result["status"] == "succeeded", result.get("error")
        return {"frames": len(result["samples"])}

    return run


def _burst(
    call: Callable[[dict[str, Any]], Any], req: dict[str, Any], in_flight: int
) -> list[tuple[float, int]]:
    """``in_flight`` requests at once; (latency, frames) of each."""

    def timed(_: int) -> tuple[float, int]:
        start = time.perf_counter()
        out = call(req)
        return time.perf_counter() - start, out["frames"]

    with ThreadPoolExecutor(in_flight) as pool:
        return list(pool.map(timed, range(in_flight)))


def _measure(
    systems: dict[str, Callable[[dict[str, Any]], Any]], req: dict[str, Any], rounds: int, in_flight: int
) -> dict[str, list[tuple[float, int]]]:
    """Warm every system up, then interleave: each round runs one burst per system, in rotated order,
    so a neighbour's load on the shared machine falls on all systems alike."""
    for call in systems.values():
        call(req)  # model load, first-call overheads
    done: dict[str, list[tuple[float, int]]] = {name: [] for name in systems}
    names = list(systems)
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            done[name] += _burst(systems[name], req, in_flight)
    return done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--chunk-seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=2, help="bursts of --in-flight requests per system")
    parser.add_argument("--in-flight", type=int, default=2)
    parser.add_argument(
        "--threads", type=int, default=os.cpu_count() or 2, help="torch threads, both systems"
    )
    parser.add_argument("--our-batch", type=int, default=8)
    parser.add_argument("--modes", default="chunked,combined")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    scratch = Path(tempfile.mkdtemp(prefix="rsp-"))
    try:
        video = make_test_video(scratch / "video.mp4", args.seconds, width, height)
        weights = save_resnet50(scratch / "weights")
        req = {
            "path": str(video),
            "duration": args.seconds,
            "chunk_seconds": args.chunk_seconds,
            "width": width,
            "height": height,
        }
        modes = args.modes.split(",")
        systems: dict[str, Callable[[dict[str, Any]], Any]] = {}
        for mode in modes:
            for batch in dict.fromkeys((1, args.our_batch)):
                systems[f"ours {mode} batch {batch}"] = _ours(
                    weights, mode, batch, args.chunk_seconds, args.threads
                )
        started = time.perf_counter()
        handle = _start_ray(scratch, weights, args.threads)
        print(f"ray + serve start: {time.perf_counter() - started:.1f} s (not counted)")
        for mode in modes:
            systems[f"ray serve {mode} batch 1"] = lambda r, m=mode: handle.remote({**r, "mode": m}).result()
        rows = _measure(systems, req, args.rounds, args.in_flight)
        _report(rows, args, video)
    finally:
        _stop_ray()
        shutil.rmtree(scratch, ignore_errors=True)


def _stop_ray() -> None:
    import sys

    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():  # serve.shutdown() would start a cluster otherwise
        from ray import serve

        try:
            serve.shutdown()
        finally:
            ray.shutdown()


def _report(rows: dict[str, list[tuple[float, int]]], args: argparse.Namespace, video: Path) -> None:
    print(
        f"\nvideo {args.size}, {args.seconds:g} s, {args.chunk_seconds:g} s chunks, 1 frame/s, ResNet-50 "
        f"(random init), torch threads {args.threads}; {args.rounds} rounds x {args.in_flight} in flight, "
        f"interleaved; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    print(f"{'system':30} {'frames':>6} {'mean s':>8} {'p50 s':>8} {'max s':>8}")
    for name, done in rows.items():
        lat = [d for d, _ in done]
        mean, p50 = statistics.mean(lat), statistics.median(lat)
        print(f"{name:30} {done[0][1]:6d} {mean:8.2f} {p50:8.2f} {max(lat):8.2f}")


if __name__ == "__main__":
    main()
