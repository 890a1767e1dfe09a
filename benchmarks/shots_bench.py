"""What shot detection costs per frame, next to decoding that frame; ours against PySceneDetect's own.

    .venv/bin/python -m benchmarks.shots_bench [--seconds 30] [--size 1280x720] [--repeats 3]

On a synthetic H.264 video (``decode_bench.make_test_video``: panning textures, scene changes),
one decode thread, CPU time of the measuring thread per frame (far less sensitive to neighbours'
load than wall time, though not immune: caches and cores are shared), median of the repeats:

- ``decode``: PyAV decodes every frame (no pixel conversion): the floor every detector pays;
- ``small frame``: swscale to the 96-px-wide RGB frame the detectors compare, with its default
  bilinear filter (what we used) and with ``AREA`` (what we use);
- ``score``: PySceneDetect's ``ContentDetector.process_frame`` one frame at a time, with a stats
  manager (how we read its score before: it then also computes Canny edges, weight 0) and without,
  against ours (`ContentShots.pair_scores`, all frames at once; the scores must be identical);
- end to end, process CPU seconds: ``analyze_videos`` with shots vs with a cheap frame task only
  (the extra cost of shots), and PySceneDetect's own pipeline (``scenedetect.detect``: OpenCV
  decode, its downscale, the detector) on the same file.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import av
import numpy as np

from benchmarks.decode_bench import make_test_video
from reelserve.models.understanding.shots import ContentShots
from reelserve.pipeline.analyze.flow import analyze_videos
from reelserve.pipeline.analyze.spec import AnalyzeSpec

__all__ = ["main"]


def _decoded(path: Path) -> list[av.VideoFrame]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.codec_context.thread_count = 1
        return list(container.decode(stream))


def _cpu(fn: Callable[[], Any], clock: Callable[[], float] = time.thread_time) -> tuple[float, Any]:
    start = clock()
    out = fn()
    return clock() - start, out


def _small(frames: list[av.VideoFrame], interpolation: str | None) -> np.ndarray:
    width = 96
    height = round(frames[0].height * width / frames[0].width / 2) * 2
    return np.stack(
        [
            f.reformat(width=width, height=height, format="rgb24", interpolation=interpolation).to_ndarray()
            for f in frames
        ]
    )


def _pyscenedetect(small: np.ndarray, stats: bool) -> np.ndarray:
    from scenedetect import ContentDetector, FrameTimecode, StatsManager

    detector = ContentDetector(threshold=27.0, min_scene_len=0)
    manager = StatsManager() if stats else None
    detector.stats_manager = manager
    scores = np.zeros(len(small), np.float32)
    for i, rgb in enumerate(small):
        detector.process_frame(FrameTimecode(i, fps=1000.0), np.ascontiguousarray(rgb[..., ::-1]))
        scores[i] = detector._frame_score or 0.0
    return scores


def _per_frame(path: Path, repeats: int) -> dict[str, float]:
    """Median thread-CPU milliseconds per frame of each step."""
    steps: dict[str, list[float]] = {}
    for _ in range(repeats):
        spent, frames = _cpu(partial(_decoded, path))
        results = {"decode (every frame, no conversion)": spent}
        results["small frame, swscale bilinear (before)"] = _cpu(partial(_small, frames, None))[0]
        spent, small = _cpu(partial(_small, frames, "AREA"))
        results["small frame, swscale AREA (now)"] = spent
        spent, with_stats = _cpu(partial(_pyscenedetect, small, True))
        results["score: PySceneDetect per frame, stats (before)"] = spent
        spent, plain = _cpu(partial(_pyscenedetect, small, False))
        results["score: PySceneDetect per frame, no stats"] = spent
        spent, ours = _cpu(partial(ContentShots().pair_scores, small))
        results["score: ours, all frames at once (now)"] = spent
        assert np.allclose(ours, plain, atol=1e-4) and np.allclose(ours, with_stats, atol=1e-4)
        for name, value in results.items():
            steps.setdefault(name, []).append(value * 1e3 / len(frames))
    return {name: statistics.median(v) for name, v in steps.items()}


def _end_to_end(path: Path, repeats: int) -> dict[str, tuple[float, int]]:
    """Median process CPU seconds and cut count: ours with/without shots, PySceneDetect's pipeline."""

    def ours(tasks: tuple[str, ...]) -> Callable[[], int]:
        spec = AnalyzeSpec(tasks=tasks, fps=1.0, decoders=1, decode_threads=1, model_threads=1)
        return lambda: len(analyze_videos([path], spec).results[0].get("shot_boundaries", []))

    def theirs() -> int:
        from scenedetect import ContentDetector, detect

        return len(detect(str(path), ContentDetector(threshold=27.0))) - 1

    cases = {
        "ours, labels @1 fps (no shots)": ours(("labels",)),
        "ours, shots + labels @1 fps": ours(("shots", "labels")),
        "PySceneDetect detect() (OpenCV decode)": theirs,
    }
    for fn in cases.values():
        fn()  # warm-up: imports, model load
    runs: dict[str, list[tuple[float, int]]] = {name: [] for name in cases}
    for r in range(repeats):
        names = list(cases)
        for name in names[r % len(names) :] + names[: r % len(names)]:
            runs[name].append(_cpu(cases[name], time.process_time))
    return {name: (statistics.median(c for c, _ in v), v[0][1]) for name, v in runs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    scratch = Path(tempfile.mkdtemp(prefix="shots-bench-"))
    try:
        video = make_test_video(scratch / "video.mp4", args.seconds, width, height)
        frames = round(args.seconds * 24)
        steps = _per_frame(video, args.repeats)
        ends = _end_to_end(video, args.repeats)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    decode = steps["decode (every frame, no conversion)"]
    print(
        f"\n{args.size}, {frames} frames, 1 decode thread; thread CPU ms per frame (median of {args.repeats})"
    )
    print(f"{'step':48} {'ms/frame':>9} {'vs decode':>10}")
    for name, ms in steps.items():
        print(f"{name:48} {ms:9.3f} {ms / decode:9.2f}x")
    print(f"\nend to end, process CPU seconds (median of {args.repeats})")
    base = ends["ours, labels @1 fps (no shots)"][0]
    print(f"{'case':48} {'CPU s':>7} {'ms/frame':>9} {'vs no shots':>12} {'cuts':>5}")
    for name, (cpu, cuts) in ends.items():
        print(f"{name:48} {cpu:7.2f} {cpu * 1e3 / frames:9.2f} {cpu / base:11.2f}x {cuts:5d}")


if __name__ == "__main__":
    main()
