"""Encode speed: reelserve.media vs the ffmpeg CLI vs diffusers' export_to_video, on the same frames.

    .venv/bin/python -m benchmarks.encode_bench [--frames 81] [--size 512x512] [--preset medium]
                                               [--shapes 256x256x33,832x480x81,1280x720x81]
                                               [--crf 23] [--threads 0] [--repeats 5]
                                               [--frame-paths] [--without-diffusers]

All three encode the same seeded, smooth moving gradients (compressible, like generated video) with
libx264 at the same preset and CRF to yuv420p MP4 with +faststart:

1. ours: `encode_video` from the uint8 (T, H, W, 3) array, timed end to end (file renamed into place);
2. the ffmpeg CLI fed the same frames as a raw rgb24 file; only the CLI process is timed (the file is
   written beforehand), process start-up included — that is what a subprocess-based encoder pays;
3. `diffusers.utils.export_to_video` given float frames in [0, 1] (what pipelines return), with the
   quality that imageio-ffmpeg maps to the same CRF; it runs its own bundled ffmpeg (libx264, default
   preset medium, default threads), so its figures apply to preset medium and threads 0 only.

Each method runs ``--repeats`` times in rotating order; medians are reported: wall-clock frames/s (what a
caller waits for) and CPU seconds (this process and its children: the work done, which stays put
when other jobs share the machine and wall-clock figures get noisy).
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
from pathlib import Path

import numpy as np

from reelserve.media import EncodeSettings, encode_video

__all__ = ["gradient_clip", "main"]


def gradient_clip(frames: int, width: int, height: int, seed: int = 0) -> np.ndarray:
    """(frames, height, width, 3) uint8 moving gradients with seeded phases and frequencies."""
    rng = np.random.default_rng(seed)
    phase, freq = rng.uniform(0, 2 * np.pi, 3), rng.uniform(1, 4, 3)
    y = np.linspace(0, 1, height, dtype=np.float32)[:, None]
    x = np.linspace(0, 1, width, dtype=np.float32)[None, :]
    out = np.empty((frames, height, width, 3), np.uint8)
    for t in range(frames):
        for c in range(3):
            wave = np.sin(2 * np.pi * freq[c] * (x + 0.5 * y) + phase[c] + 0.15 * t) * np.cos(
                3 * y - 0.05 * t
            )
            out[t, ..., c] = (127.5 + 120 * wave).astype(np.uint8)
    return out


def _ours(frames: np.ndarray, out: Path, args: argparse.Namespace) -> Callable[[], int]:
    settings = EncodeSettings(preset=args.preset, crf=args.crf, threads=args.threads)

    def run() -> int:
        return encode_video(frames, out, fps=args.fps, settings=settings).bytes

    return run


def _cli(frames: np.ndarray, out: Path, args: argparse.Namespace) -> Callable[[], int]:
    raw = out.with_suffix(".rgb")
    frames.tofile(raw)
    height, width = frames.shape[1:3]
    cmd = [
        *("ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y"),
        *(
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-s",
            f"{width}x{height}",
            "-r",
            str(args.fps),
            "-i",
            str(raw),
        ),
        *("-c:v", "libx264", "-preset", args.preset, "-crf", str(args.crf), "-threads", str(args.threads)),
        *("-pix_fmt", "yuv420p", "-movflags", "+faststart", str(out)),
    ]

    def run() -> int:
        subprocess.run(cmd, check=True)
        return out.stat().st_size

    return run


def _export_to_video(frames: np.ndarray, out: Path, args: argparse.Namespace) -> Callable[[], int]:
    # Without imageio + imageio-ffmpeg, export_to_video silently switches to an OpenCV writer (mp4v,
    # not H.264) or fails at call time; import them here so that a missing one skips this method.
    import imageio  # noqa: F401
    import imageio_ffmpeg  # noqa: F401
    from diffusers.utils import export_to_video

    floats = [frame.astype(np.float32) / 255 for frame in frames]
    # imageio-ffmpeg turns quality q into crf int((1 - q/10) * 51); invert it for the same CRF.
    quality = 10 * (1 - (args.crf + 0.5) / 51)

    def run() -> int:
        export_to_video(floats, str(out), fps=args.fps, quality=quality)
        return out.stat().st_size

    return run


def _frame_path(frames: np.ndarray, out: Path, args: argparse.Namespace, how: str) -> Callable[[], int]:
    """A bare PyAV encode loop that differs only in how each numpy frame becomes an encoder input."""
    import av

    height, width = frames.shape[1:3]

    def wrap(array: np.ndarray) -> av.VideoFrame:
        if how == "from_ndarray":  # copies the array into a new frame
            return av.VideoFrame.from_ndarray(array, format="rgb24")
        frame = av.VideoFrame.from_numpy_buffer(array, format="rgb24")  # wraps, no copy
        return frame.reformat(format="yuv420p") if how == "reformat" else frame

    def run() -> int:
        with av.open(str(out), "w", container_options={"movflags": "+faststart"}) as container:
            stream = container.add_stream(
                "libx264", rate=args.fps, options={"preset": args.preset, "crf": str(args.crf)}
            )
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.codec_context.thread_count = args.threads
            for index, array in enumerate(frames):
                frame = wrap(array)
                frame.pts = index
                container.mux(stream.encode(frame))
            container.mux(stream.encode(None))
        return out.stat().st_size

    return run


def _cpu_s() -> float:
    """CPU seconds used so far by this process (all threads) and its finished children (ffmpeg)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _time(run: Callable[[], int]) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds, output bytes) of one run. CPU time barely moves when other work
    shares the machine, so it tells the work done even when wall time is noisy."""
    wall, cpu = time.perf_counter(), _cpu_s()
    size = run()
    return time.perf_counter() - wall, _cpu_s() - cpu, size


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.encode_bench", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--frames", type=int, default=81)
    parser.add_argument("--size", default="512x512", help="WIDTHxHEIGHT (even numbers)")
    parser.add_argument(
        "--shapes",
        type=_shape_list,
        default=None,
        help="several clips, WxHxFRAMES comma separated (overrides --size/--frames)",
    )
    parser.add_argument("--fps", type=int, default=24)
    parser.add_argument("--preset", default="medium")
    parser.add_argument("--crf", type=int, default=23)
    parser.add_argument("--threads", type=int, default=0, help="0 = automatic (every core)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--without-diffusers", action="store_true", help="skip export_to_video (slow import)")
    parser.add_argument(
        "--frame-paths",
        action="store_true",
        help="also time bare PyAV loops: from_ndarray, from_numpy_buffer, explicit reformat to yuv420p",
    )
    return parser.parse_args(argv)


def _methods(frames: np.ndarray, tmp: Path, args: argparse.Namespace) -> dict[str, Callable[[], int]]:
    methods = {"ours": _ours(frames, tmp / "ours.mp4", args)}
    if shutil.which("ffmpeg"):
        methods["ffmpeg CLI"] = _cli(frames, tmp / "cli.mp4", args)
    try:
        if not args.without_diffusers:
            methods["export_to_video"] = _export_to_video(frames, tmp / "diffusers.mp4", args)
    except ImportError as exc:
        print(f"skipping export_to_video: {exc}")
    if args.frame_paths:
        for how in ("from_ndarray", "from_numpy_buffer", "reformat"):
            methods[f"pyav {how}"] = _frame_path(frames, tmp / f"{how}.mp4", args, how)
    return methods


def _measure(
    methods: dict[str, Callable[[], int]], repeats: int
) -> dict[str, list[tuple[float, float, int]]]:
    for run in methods.values():
        run()  # warm-up: page cache, imports, encoder libraries loaded
    samples: dict[str, list[tuple[float, float, int]]] = {name: [] for name in methods}
    names = list(methods)
    for rep in range(repeats):
        # Rotate the order each round so that no method always runs right after the same neighbour.
        for name in names[rep % len(names) :] + names[: rep % len(names)]:
            samples[name].append(_time(methods[name]))
    return samples


def _run_shape(
    args: argparse.Namespace, width: int, height: int, count: int
) -> tuple[dict[str, float], dict[str, float]]:
    """Measure every method on one clip shape, print its table; (frames/s, CPU s) per method."""
    frames = gradient_clip(count, width, height, args.seed)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="encode-bench-") as tmp:
        samples = _measure(_methods(frames, Path(tmp), args), args.repeats)
    wall = {name: statistics.median(s[0] for s in runs) for name, runs in samples.items()}
    cpu = {name: statistics.median(s[1] for s in runs) for name, runs in samples.items()}
    fps = {name: count / seconds for name, seconds in wall.items()}
    print(
        f"{count} frames {width}x{height} @ {args.fps} fps, libx264 preset={args.preset} "
        f"crf={args.crf} threads={args.threads}, median of {args.repeats}; "
        f"load average {load_before:.1f} → {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    print(f"  {'method':<22} {'frames/s':>8}  {'wall s':>7}  {'CPU s':>7}  {'bytes':>9}")
    for name, runs in samples.items():
        print(f"  {name:<22} {fps[name]:8.1f}  {wall[name]:7.3f}  {cpu[name]:7.3f}  {runs[-1][2]:>9}")
    if "export_to_video" in fps and (args.preset != "medium" or args.threads != 0):
        print("  note: export_to_video cannot take a preset or threads; it ran preset medium, threads auto")
    for other in ("ffmpeg CLI", "export_to_video"):
        if other in fps:
            speed, work = fps["ours"] / fps[other], cpu[other] / cpu["ours"]
            print(f"  ours / {other:<15} {speed:5.2f}x frames/s, {work:5.2f}x less CPU time")
    return fps, cpu


def _shape_list(text: str) -> list[tuple[int, int, int]]:
    """``--shapes`` value: ``WxHxFRAMES[,...]`` (argparse turns the error into a usage message, exit 2)."""
    shapes = []
    for item in text.split(","):
        parts = item.strip().lower().split("x")
        if len(parts) != 3 or not all(p.isdigit() and int(p) > 0 for p in parts):
            raise argparse.ArgumentTypeError(f"{item!r} is not WIDTHxHEIGHTxFRAMES, e.g. 256x256x33")
        shapes.append((int(parts[0]), int(parts[1]), int(parts[2])))
    return shapes


def _shapes(args: argparse.Namespace) -> list[tuple[int, int, int]]:
    if not args.shapes:
        width, height = (int(v) for v in args.size.lower().split("x"))
        return [(width, height, args.frames)]
    return list(args.shapes)


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Run the benchmark, print a table per clip shape (and a summary when there are several), and
    return frames/s (wall clock, median) per method for the last shape."""
    args = _parse(argv)
    results = []
    for width, height, count in _shapes(args):
        results.append(((width, height, count), *_run_shape(args, width, height, count)))
    if len(results) > 1:
        print("\nsummary: ours' speed-up in frames/s (and CPU time saved) against each method")
        others = [m for m in ("ffmpeg CLI", "export_to_video") if m in results[0][1]]
        print(f"  {'clip':<14} {'ours f/s':>9}  " + "  ".join(f"{m:>22}" for m in others))
        for (w, h, f), fps, cpu in results:
            cells = [f"{fps['ours'] / fps[m]:5.2f}x ({cpu[m] / cpu['ours']:4.2f}x CPU)" for m in others]
            print(f"  {f'{w}x{h}x{f}':<14} {fps['ours']:9.1f}  " + "  ".join(f"{c:>22}" for c in cells))
    return results[-1][1]


if __name__ == "__main__":
    main()
