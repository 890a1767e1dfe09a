"""The ``generate`` stage: text → latents → frames, one frame-range segment at a time.

Checkpoints: the full solver state every ``checkpoint_every`` steps (scratch blob + stage row in one
transaction), then the segment's frames and final latents when it is done. Resume loads the newest
checkpoint and continues at its step; the result is bit-identical to an uninterrupted run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from reelserve.core.errors import NotFound, StorageError
from reelserve.core.ids import sha256_bytes
from reelserve.core.records import StageStatus
from reelserve.models.registry import load_model
from reelserve.models.wan import DenoiseState, WanT2V
from reelserve.pipeline.context import StageContext
from reelserve.pipeline.plan import OVERLAP_LATENT_FRAMES, Segment

__all__ = ["run_generate_segment", "segment_seed"]

log = logging.getLogger("reelserve.pipeline")


def segment_seed(seed: int, segment: int) -> int:
    """Segment 0 uses the job's seed; each later segment its own, derived deterministically."""
    return seed + 1_000_003 * segment


def _previous_latents(ctx: StageContext, segment: int) -> torch.Tensor | None:
    if segment == 0:
        return None
    latents = torch.from_numpy(ctx.load_intermediate(f"latents/{segment - 1}", "generate", segment - 1))
    return latents[:, :, -OVERLAP_LATENT_FRAMES:].contiguous()


def _restore_or_start(
    ctx: StageContext, model: WanT2V, seg: Segment, cond_latents: torch.Tensor | None
) -> DenoiseState:
    spec = ctx.spec
    rec = ctx.record("generate", seg.index)
    if rec is not None and rec.state.get("ckpt") is not None:
        art = ctx.find_artifact(f"ckpt/{seg.index}")
        if art is not None and art.blob.sha256 == rec.state["ckpt"]:
            try:
                return model.load_state(ctx.read_verified(art.blob))
            except (NotFound, StorageError) as exc:  # an unsynced scratch blob an OS crash lost
                log.warning("checkpoint lost; segment restarts", extra={"job": ctx.job.id, "code": exc.code})
    return model.start(
        seeds=[segment_seed(spec.seed, seg.index)],
        width=spec.width,
        height=spec.height,
        frames=seg.length,
        steps=spec.steps,
        cond_latents=cond_latents,
    )


@contextmanager
def _same_threads(ctx: StageContext, seg: Segment, device: torch.device) -> Iterator[int]:
    """Run a resumed CPU segment with the torch thread count it started with, and yield the count.

    Floating-point sums split over a different number of threads may round differently, so a
    segment checkpointed by a 2-thread process and finished by a 1-thread one would not give the
    frames an uninterrupted run gives (measured: 250 steps at 64x64, two different frame hashes).
    The count is recorded in every checkpoint of the segment (``threads``); GPU kernels do not
    depend on it."""
    current = torch.get_num_threads()
    rec = ctx.record("generate", seg.index)
    wanted = rec.state.get("threads") if rec is not None and rec.state.get("ckpt") else None
    if device.type != "cpu" or not isinstance(wanted, int) or wanted == current:
        yield current
        return
    log.info("resuming with the checkpoint's thread count", extra={"job": ctx.job.id, "threads": wanted})
    torch.set_num_threads(wanted)
    try:
        yield wanted
    finally:
        torch.set_num_threads(current)


def run_generate_segment(ctx: StageContext, seg: Segment, n_segments: int) -> None:
    spec = ctx.spec
    t0 = time.perf_counter()
    model: WanT2V = load_model(spec.model, None if spec.weights is None else Path(spec.weights), ctx.device)
    t_load = time.perf_counter() - t0
    with _same_threads(ctx, seg, model.device) as threads:
        _run_segment(ctx, seg, n_segments, model, t_load, threads)


def _run_segment(
    ctx: StageContext, seg: Segment, n_segments: int, model: WanT2V, t_load: float, threads: int
) -> None:
    spec = ctx.spec
    label = f"denoise {seg.index + 1}/{n_segments}" if n_segments > 1 else "denoise"
    t0 = time.perf_counter()
    cond = model.encode_text([spec.prompt], [spec.negative_prompt], spec.guidance_scale)
    t_text = time.perf_counter() - t0
    state = _restore_or_start(ctx, model, seg, _previous_latents(ctx, seg.index))
    resumed_from = state.step  # > 0 when a checkpoint saved us from redoing steps
    ctx.progress.stage_started(label, state.total)
    ctx.progress.advance(label, state.step)
    # Load and text-encoding time ride on the segment's next checkpoint: no transaction of their own.
    carry = {"load": t_load, "text": t_text}
    t_model = 0.0
    while not state.done:
        ctx.check()
        t1 = time.perf_counter()
        model.step(state, cond)
        t_model += time.perf_counter() - t1
        ctx.progress.advance(label, state.step)
        if spec.checkpoint_every and state.step % spec.checkpoint_every == 0 and not state.done:
            t2 = time.perf_counter()
            ref = ctx.blobs.put_bytes(model.dump_state(state), "scratch", suffix=".pt")
            done_frac = (seg.index + state.step / state.total) / n_segments
            ctx.checkpoint(
                "generate",
                seg.index,
                StageStatus.RUNNING,
                state={
                    "step": state.step,
                    "ckpt": ref.sha256,
                    "resumed_from": resumed_from,
                    "threads": threads,
                },
                timings={**carry, "denoise": t_model, "io": time.perf_counter() - t2},
                artifacts=[ctx.artifact(f"ckpt/{seg.index}", ref)],
                job_progress=0.9 * done_frac,
            )
            carry, t_model = {}, 0.0
    ctx.progress.stage_finished(label)
    ctx.check()
    t3 = time.perf_counter()
    frames = model.decode(state.latents)[0][seg.drop :]
    t_vae = time.perf_counter() - t3
    t4 = time.perf_counter()
    frames = np.ascontiguousarray(frames)
    frames_sha = sha256_bytes(frames.data)
    frames_ref = ctx.put_array(frames)
    latents_ref = ctx.put_array(state.latents.cpu().numpy())
    ctx.checkpoint(
        "generate",
        seg.index,
        StageStatus.DONE,
        output_sha256=frames_sha,
        state={
            "step": state.step,
            "frames": int(frames.shape[0]),
            "frames_sha256": frames_sha,
            "resumed_from": resumed_from,
            "threads": threads,
        },
        timings={**carry, "denoise": t_model, "vae_decode": t_vae, "io": time.perf_counter() - t4},
        artifacts=[
            ctx.artifact(f"frames/{seg.index}", frames_ref),
            ctx.artifact(f"latents/{seg.index}", latents_ref),
        ],
        job_progress=0.9 * (seg.index + 1) / n_segments,
        job_timings=ctx.job_stamp(),
    )
