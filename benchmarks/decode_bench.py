"""Decode-bound throughput of the analysis pipeline vs ``ffmpeg -i FILE -f null -`` on the same file.

    .venv/bin/python -m benchmarks.decode_bench [--seconds 60] [--size 1280x720] [--fps 24]
                                                [--chunk-seconds 10] [--repeats 3] [--keep DIR]

Makes a synthetic H.264 video (panning textures, a hard cut every 4 s, 2 s GOPs, x264 veryfast) and
times, in one run, rotating the order each repeat:

- ``ffmpeg -threads T -i FILE -f null -`` for T = 1 and T = 0 (one per core). The null muxer still
  decodes every frame (into ``wrapped_avframe``: no pixel conversion, no copy);
- ours, ``analyze_videos`` with a cheap model (tiny-resnet labels at 1 frame/s): split at keyframes,
  decode every frame, convert the sampled ones, infer. Like with like: ``decoders=1, decode_threads=1``
  against ``-threads 1``; ``decoders=N, decode_threads=1`` (chunk-parallel) against ``-threads 0``
  (frame threads), N = cores. Ours also reports the shots task, which converts every frame;
- threads vs processes for decode workers: the same chunks decoded by a thread pool and by a process
  pool (frames pickled back), N workers each.

Figures are frames/s over the whole file, median of the repeats: wall-clock, and per CPU-second (this
process and its children), which stays meaningful when other jobs share the cores. Ratio = ours / ffmpeg.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import numpy as np

from reelserve.media import EncodeSettings, VideoWriter, probe, split_at_keyframes
from reelserve.pipeline.analyze.decoder import ChunkTask, decode_chunk
from reelserve.pipeline.analyze.flow import analyze_videos
from reelserve.pipeline.analyze.spec import AnalyzeSpec

__all__ = ["main", "make_test_video"]


def make_test_video(
    path: Path, seconds: float, width: int, height: int, fps: int = 24, seed: int = 0
) -> Path:
    """Panning blocky textures with a new scene (texture and tint) every 4 s; H.264, 2 s GOPs."""
    rng = np.random.default_rng(seed)
    settings = EncodeSettings(preset="veryfast", crf=23, gop=2 * fps)
    total, scene_len = round(seconds * fps), 4 * fps
    with VideoWriter(path, width, height, fps, settings) as writer:
        for start in range(0, total, scene_len):
            coarse = rng.integers(0, 256, ((height + 64) // 8 + 1, (width + 128) // 8 + 1, 3), dtype=np.uint8)
            texture = np.repeat(np.repeat(coarse, 8, axis=0), 8, axis=1)
            tint = rng.uniform(0.4, 1.0, 3)
            frames = []
            for t in range(min(scene_len, total - start)):
                dx, dy = (2 * t) % 64, t % 64
                frames.append((texture[dy : dy + height, dx : dx + width] * tint).astype(np.uint8))
            writer.write(frames)
    return path


def _ffmpeg(path: Path, threads: int) -> Callable[[], None]:
    cmd = [
        "ffmpeg",
        "-hide_banner",
        "-nostats",
        "-loglevel",
        "error",
        "-threads",
        str(threads),
        "-i",
        str(path),
        "-f",
        "null",
        "-",
    ]

    def run() -> None:
        subprocess.run(cmd, check=True)

    return run


def _ours(path: Path, decoders: int, tasks: tuple[str, ...], chunk_s: float) -> Callable[[], None]:
    spec = AnalyzeSpec(
        tasks=tasks, fps=1.0, chunk_seconds=chunk_s, decoders=decoders, decode_threads=1, model_threads=1
    )

    def run() -> None:
        result = analyze_videos([path], spec).results[0]
        assert result["status"] == "succeeded", result.get("error")

    return run


def _pool(
    make: Callable[[int], Executor], tasks: list[ChunkTask], spec: AnalyzeSpec, n: int
) -> Callable[[], None]:
    def run() -> None:
        with make(n) as pool:
            list(pool.map(decode_chunk, tasks, [spec] * len(tasks)))

    return run


def _chunk_tasks(path: Path, chunk_s: float, out: Path) -> list[ChunkTask]:
    info = probe(path)
    chunks = split_at_keyframes(path, chunk_s, out)
    return [
        ChunkTask(0, k, s, e, p, chunks[k + 1].path if k + 1 < len(chunks) else None, 1 / info.fps)
        for k, (s, e, p) in enumerate(chunks)
    ]


def _time(fn: Callable[[], None]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process and its children)."""
    before, children = time.process_time(), resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    fn()
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    child = after.ru_utime - children.ru_utime + after.ru_stime - children.ru_stime
    return wall, time.process_time() - before + child


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--fps", type=int, default=24)
    parser.add_argument("--chunk-seconds", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--keep", type=Path, default=None, help="Reuse/keep the test video in this directory."
    )
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    cores = os.cpu_count() or 1
    scratch = Path(tempfile.mkdtemp(prefix="decode-bench-"))
    try:
        folder = args.keep or scratch
        folder.mkdir(parents=True, exist_ok=True)
        video = folder / f"bench-{args.size}-{args.seconds:g}s.mp4"
        if not video.is_file():
            started = time.perf_counter()
            make_test_video(video, args.seconds, width, height, args.fps)
            print(f"made {video.name} in {time.perf_counter() - started:.1f} s")
        info = probe(video)
        print(
            f"video: {info.width}x{info.height} {info.codec} {info.fps:g} fps, {info.frames} frames, "
            f"{info.duration_s:.1f} s, {video.stat().st_size / 1e6:.1f} MB; cores: {cores}"
        )
        chunk_spec = AnalyzeSpec(tasks=("labels",), fps=1.0, decode_threads=1)
        tasks = _chunk_tasks(video, args.chunk_seconds, scratch)
        cases: dict[str, Callable[[], None]] = {
            "ffmpeg -threads 1": _ffmpeg(video, 1),
            "ours decoders=1 (labels @1fps)": _ours(video, 1, ("labels",), args.chunk_seconds),
            "ffmpeg -threads 0": _ffmpeg(video, 0),
            f"ours decoders={cores} (labels @1fps)": _ours(video, cores, ("labels",), args.chunk_seconds),
            f"ours decoders={cores} (shots, every frame)": _ours(
                video, cores, ("shots",), args.chunk_seconds
            ),
            f"chunk decode, {cores} threads": _pool(ThreadPoolExecutor, tasks, chunk_spec, cores),
            f"chunk decode, {cores} processes": _pool(ProcessPoolExecutor, tasks, chunk_spec, cores),
        }
        _ours(video, 1, ("labels",), args.chunk_seconds)()  # warm-up: model load, imports
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
        names = list(cases)
        for r in range(args.repeats):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                times[name].append(_time(cases[name]))
        _report(times, info.frames)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _report(times: dict[str, list[tuple[float, float]]], frames: int) -> None:
    wall = {name: frames / statistics.median(w for w, _ in ts) for name, ts in times.items()}
    cpu = {name: frames / statistics.median(c for _, c in ts) for name, ts in times.items()}
    print(f"\nload average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (others share the machine)")
    print(f"{'case':44} {'wall fps':>9} {'vs ffmpeg':>9} {'CPU fps':>9} {'vs ffmpeg':>9}")
    for name in times:
        ref = "ffmpeg -threads 1" if ("=1 " in name or name.endswith(" 1")) else "ffmpeg -threads 0"
        w, c = wall[name], cpu[name]
        print(f"{name:44} {w:9.0f} {w / wall[ref]:8.2f}x {c:9.0f} {c / cpu[ref]:8.2f}x")
    print("wall fps = frames / median wall time; CPU fps = frames / median CPU seconds (process + children)")


if __name__ == "__main__":
    main()
