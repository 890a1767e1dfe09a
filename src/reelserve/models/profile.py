"""Measure a model's cost on this machine's devices and fit the profiles the schedulers use.

``measure_profile`` loads a model (``load_model``) and, at each (size, frames, batch) point, times
text encoding, denoising steps (``WanT2V.start/step``, batch = several seeds), the VAE decode and the
video encode of every clip (``media.encode.encode_video``). The result is the JSON ``sim.profiles.
load_profile`` reads (``measurements``, which it fits as ``fixed + per_mvoxel * mvoxels * batch**e``)
plus the catalog's ``LatencyProfile`` form (``latency_profile``: per-step ms at a reference size ×
(tokens/ref)^token_exponent × batch^batch_exponent, exponents fitted by least squares on log-log).

Timing rule: a warm-up pass runs first (allocators, kernels, the encoder), then each figure is the
median of its repeats; steps are timed one by one.

These are the model's bare costs. What a streaming chunk costs in the live engine — the worker's own
batcher, state export, the reply, the fMP4 encode — is measured on the engine's code by
``engine.model.chunk_profile`` (``reelserve profile --chunk-path``), in a model worker process of its
own with the driver's encodes overlapping it, as the engine runs them.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from reelserve.core.errors import InvalidInput

__all__ = ["Point", "fit_latency_profile", "grid", "measure_point", "measure_profile", "tokens"]


@dataclass(frozen=True, slots=True)
class Point:
    """One measuring point."""

    width: int  #: pixels, a multiple of the model's size multiple
    height: int  #: pixels
    frames: int  #: frames generated (the model's 4k+1 rule)
    batch: int  #: clips denoised together (one seed each)


def grid(sizes: Sequence[tuple[int, int]], frames: Sequence[int], batches: Sequence[int]) -> list[Point]:
    """Every (size, frames) at batch 1, plus every batch > 1 at the smallest and largest (size, frames).

    That is enough to fit the size and batch exponents without the full product's cost.
    """
    shapes = [(w, h, f) for (w, h) in sizes for f in frames]
    if not shapes or not batches:
        raise InvalidInput("profile needs at least one size, one frame count and one batch size")
    shapes.sort(key=lambda s: s[0] * s[1] * s[2])
    points = [Point(w, h, f, 1) for (w, h, f) in shapes]
    for w, h, f in {shapes[0], shapes[-1]}:
        points += [Point(w, h, f, b) for b in sorted(set(batches)) if b > 1]
    return points


def tokens(width: int, height: int, frames: int) -> float:
    """The catalog's token count: latent frames × (H/16) × (W/16)."""
    return ((frames - 1) // 4 + 1) * (height / 16) * (width / 16)


def _median_ms(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000.0)
    return statistics.median(times)


def measure_point(model: Any, p: Point, *, steps: int, repeats: int, workdir: Path) -> dict[str, float]:
    """Time text encoding, one denoising step, VAE decode and video encode at one point (ms)."""
    from reelserve.media.codecs import EncodeSettings
    from reelserve.media.encode import encode_video

    prompts = [f"a red fox running through snow, take {i}" for i in range(p.batch)]
    cond = model.encode_text(prompts, [""] * p.batch, 1.0)
    text_ms = _median_ms(lambda: model.encode_text(prompts, [""] * p.batch, 1.0), repeats)
    seeds = list(range(p.batch))
    state = model.start(seeds=seeds, width=p.width, height=p.height, frames=p.frames, steps=steps)
    step_times = []
    while not state.done:
        t0 = time.perf_counter()
        model.step(state, cond)
        step_times.append((time.perf_counter() - t0) * 1000.0)
    video = model.decode(state.latents)
    decode_ms = _median_ms(lambda: model.decode(state.latents), max(1, repeats - 1))
    settings = EncodeSettings(preset="ultrafast", threads=1, faststart=False)

    def encode_all() -> None:
        for i in range(p.batch):
            encode_video(video[i], workdir / f"clip{i}.mp4", fps=16, settings=settings)

    encode_ms = _median_ms(encode_all, max(1, repeats - 1))
    return {
        "width": p.width,
        "height": p.height,
        "frames": p.frames,
        "batch": p.batch,
        "step_ms": round(statistics.median(step_times), 3),
        "text_ms": round(text_ms, 3),
        "vae_decode_ms": round(decode_ms, 3),
        "encode_ms": round(encode_ms, 3),
    }


def measure_profile(
    model_name: str,
    device: str,
    points: Sequence[Point],
    *,
    steps: int = 4,
    repeats: int = 3,
    threads: int = 1,
    progress: Callable[[dict[str, float]], None] | None = None,
    extra: Callable[[Any], Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """Run ``model_name`` on ``device`` at every point; return the profile JSON (measurements + fit).

    ``extra(model)``, when given, runs after the grid on the same loaded model; its keys join the JSON.
    """
    import torch

    from reelserve.models.registry import load_model

    if steps < 2 or repeats < 1:
        raise InvalidInput("profile needs --steps >= 2 and --repeats >= 1")
    if device == "cpu" and threads > 0:
        torch.set_num_threads(threads)
    model = load_model(model_name, device=device)
    rows = []
    with tempfile.TemporaryDirectory(prefix="reelserve-profile-") as tmp:
        measure_point(model, points[0], steps=2, repeats=1, workdir=Path(tmp))  # warm-up
        for p in points:
            row = measure_point(model, p, steps=steps, repeats=repeats, workdir=Path(tmp))
            rows.append(row)
            if progress is not None:
                progress(row)
    return {
        "model": model_name,
        "device": device,
        "threads": threads,
        "default_steps": steps,
        "measurements": rows,
        "latency_profile": fit_latency_profile(rows, device),
        **(extra(model) if extra is not None else {}),
    }


def _through_origin(x: np.ndarray, y: np.ndarray) -> float:
    return max(0.0, float(x @ y / (x @ x))) if float(x @ x) > 0 else 0.0


def fit_latency_profile(rows: Sequence[Mapping[str, Any]], device: str) -> dict[str, Any]:
    """The catalog's ``LatencyProfile`` fields fitted to ``rows`` (reference = the first batch-1 row).

    ``log step = log step_ref + token_exponent·log(tokens/ref) + batch_exponent·log(batch)`` by least
    squares; an exponent whose factor never varies is reported as 1.0. Decode is linear in tokens ×
    batch; encode linear in frames × batch; text encoding is the batch-1 median.
    """
    if len(rows) < 2:
        raise InvalidInput("a profile needs at least two measurements to fit", param="measurements")
    ref = next((r for r in rows if r["batch"] == 1), rows[0])
    ref_tokens = tokens(ref["width"], ref["height"], ref["frames"])
    scale = np.array([tokens(r["width"], r["height"], r["frames"]) / ref_tokens for r in rows])
    batch = np.array([float(r["batch"]) for r in rows])
    step = np.array([float(r["step_ms"]) for r in rows])
    cols = [np.ones_like(step)]
    varies = [np.ptp(scale) > 0, np.ptp(batch) > 0]
    cols += [np.log(v) for v, ok in zip((scale, batch), varies, strict=True) if ok]
    coef, *_ = np.linalg.lstsq(np.column_stack(cols), np.log(step), rcond=None)
    exps = iter(coef[1:])
    token_e = float(next(exps)) if varies[0] else 1.0
    batch_e = float(next(exps)) if varies[1] else 1.0
    frames_batch = np.array([float(r["frames"] * r["batch"]) for r in rows])
    text = [float(r["text_ms"]) for r in rows if r["batch"] == 1 and "text_ms" in r]
    decode = _through_origin(scale * batch, np.array([float(r["vae_decode_ms"]) for r in rows]))
    encode = _through_origin(frames_batch, np.array([float(r["encode_ms"]) for r in rows]))
    return {
        "source": f"measured on {device} by `reelserve profile`",
        "device": device,
        "ref": {"width": ref["width"], "height": ref["height"], "frames": ref["frames"], "batch": 1},
        "step_ms": round(float(np.exp(coef[0])), 3),
        "token_exponent": round(token_e, 4),
        "batch_exponent": round(batch_e, 4),
        "text_ms": round(statistics.median(text), 3) if text else 0.0,
        "vae_decode_ms": round(decode, 3),
        "encode_ms_per_frame": round(encode, 4),
    }
