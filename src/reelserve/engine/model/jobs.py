"""The job lane of a model worker: store-claimed t2v jobs whose denoising steps share the worker's batches.

With ``job_slots > 0`` a model worker runs that many claimer threads. Each claims a queued t2v job with
a lease (``Store.claim_job``; the runner heartbeats it), then runs the job's stages like ``JobRunner``
does — except ``generate``, whose steps go through the worker's ``Batcher``: they coalesce with other
jobs' steps and with session chunks, and batch-priority jobs are preempted at step boundaries by
interactive work. The store contract is unchanged: a solver checkpoint every ``checkpoint_every`` steps
(taken in the step loop, written by the job's thread), frames and latents when done; a killed worker's
job goes back to the queue when its lease expires and resumes from its newest checkpoint.
"""

from __future__ import annotations

import functools
import logging
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from reelserve.core.ids import sha256_bytes
from reelserve.core.records import StageStatus
from reelserve.engine.model.batcher import WorkItem
from reelserve.models.registry import load_model
from reelserve.models.wan import DenoiseState, WanT2V
from reelserve.pipeline.context import StageContext
from reelserve.pipeline.generate import segment_seed
from reelserve.pipeline.jobkinds import StageDef
from reelserve.pipeline.plan import OVERLAP_LATENT_FRAMES, Segment
from reelserve.pipeline.runner import JobRunner
from reelserve.pipeline.t2v import segments_of

__all__ = ["JobLane"]

log = logging.getLogger("reelserve.engine.jobs")

Submit = Callable[[Callable[[], None]], None]  #: runs a function on the worker's loop thread


def _start_state(ctx: StageContext, model: WanT2V, seg: Segment) -> DenoiseState:
    """The newest checkpoint of this segment, else fresh noise continuing the previous segment."""
    rec = ctx.record("generate", seg.index)
    if rec is not None and rec.state.get("ckpt") is not None:
        art = ctx.find_artifact(f"ckpt/{seg.index}")
        if art is not None and art.blob.sha256 == rec.state["ckpt"]:
            return model.load_state(ctx.read_verified(art.blob))
    cond = None
    if seg.index > 0:
        art = ctx.find_artifact(f"latents/{seg.index - 1}")
        if art is None:
            raise RuntimeError(f"segment {seg.index - 1} of {ctx.job.id} is done but its latents are missing")
        cond = torch.from_numpy(ctx.load_array(art.blob))[:, :, -OVERLAP_LATENT_FRAMES:].contiguous()
    s = ctx.spec
    seed = segment_seed(s.seed, seg.index)
    return model.start(seeds=[seed], width=s.width, height=s.height, frames=seg.length, steps=s.steps,
                       cond_latents=cond)  # fmt: skip


def _save_checkpoint(
    ctx: StageContext, seg: Segment, n: int, step: int, blob: bytes, state: dict[str, Any]
) -> None:
    """The solver state after ``step`` (periodic, or at a preemption: ``state["preempted_at"]``)."""
    t0 = time.perf_counter()
    ref = ctx.blobs.put_bytes(blob, "scratch", suffix=".pt")
    ctx.checkpoint(
        "generate", seg.index, StageStatus.RUNNING,
        state={**state, "step": step, "ckpt": ref.sha256},
        artifacts=[ctx.artifact(f"ckpt/{seg.index}", ref)],
        job_progress=0.9 * (seg.index + step / ctx.spec.steps) / n,
        timings={"io": time.perf_counter() - t0},
    )  # fmt: skip


def _save_done(
    ctx: StageContext,
    seg: Segment,
    n: int,
    item: WorkItem,
    frames: np.ndarray,
    facts: dict[str, Any],
    timings: dict[str, float],
) -> None:
    t0 = time.perf_counter()
    frames = np.ascontiguousarray(frames[seg.drop :])
    sha = sha256_bytes(frames.data)
    assert item.latents is not None
    arts = [
        ctx.artifact(f"frames/{seg.index}", ctx.put_array(frames)),
        ctx.artifact(f"latents/{seg.index}", ctx.put_array(item.latents.cpu().numpy())),
    ]
    state = {
        **facts, "step": ctx.spec.steps, "frames": int(frames.shape[0]), "frames_sha256": sha,
        "max_batch": item.max_batch, "preemptions": facts["preempted_before"] + item.preemptions,
        "steps_run": item.steps_run,
    }  # fmt: skip
    ctx.checkpoint(
        "generate", seg.index, StageStatus.DONE, output_sha256=sha, state=state, artifacts=arts,
        job_progress=0.9 * (seg.index + 1) / n, timings={**timings, "io": time.perf_counter() - t0},
    )  # fmt: skip


def _lane_timings(item: WorkItem, t_text: float, in_batcher_s: float) -> dict[str, float]:
    """text / denoise (its batched steps) / vae_decode, and the rest of its time in the batcher
    (waiting to be admitted, or preempted) as ``batch_wait``, which is not model time."""
    wait = max(0.0, in_batcher_s - item.step_s - item.decode_s)
    return {"text": t_text, "denoise": item.step_s, "vae_decode": item.decode_s, "batch_wait": wait}


def batched_generate(lane: JobLane, ctx: StageContext, segment: int) -> None:
    """The ``generate`` stage with its steps run by the worker's batcher (same checkpoints as pipeline's)."""
    spec, plan = ctx.spec, segments_of(ctx)
    seg, n = plan[segment], len(plan)
    model = lane.model
    t0 = time.perf_counter()
    cond = model.encode_text([spec.prompt], [spec.negative_prompt], spec.guidance_scale)
    t_text = time.perf_counter() - t0
    state = _start_state(ctx, model, seg)
    resumed = state.step
    events: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()

    # preemptions of earlier attempts (a lost lease, a killed worker) count too: they ride on checkpoints
    rec = ctx.record("generate", seg.index)
    before = int(rec.state.get("preemptions", 0)) if rec is not None and resumed > 0 else 0
    facts = {
        "resumed_from": resumed,
        "worker": lane.worker_id,
        "device": lane.device,
        "preempted_before": before,
    }

    def on_step(item: WorkItem) -> None:  # on the loop thread: take the checkpoint, let the job write it
        st = item.state
        if st is not None and spec.checkpoint_every and st.step % spec.checkpoint_every == 0 and not st.done:
            events.put(("ckpt", st.step, model.dump_state(st), {"preemptions": before + item.preemptions}))

    def on_park(item: WorkItem) -> None:  # preempted: its checkpoint goes to the store, as a periodic one
        assert item.checkpoint is not None
        step = resumed + item.steps_run
        counts = {"preempted_at": step, "preemptions": before + item.preemptions}
        events.put(("ckpt", step, item.checkpoint, counts))

    item = WorkItem(
        f"job/{ctx.job.id}/{seg.index}", cond, 0, spec.width, spec.height, seg.length, spec.steps,
        lambda it, frames, err: events.put(("done", it, frames, err)), ctx.job.priority,
        None if ctx.job.deadline is None else time.monotonic() + (ctx.job.deadline - time.time()),
        state=state, on_step=on_step, on_park=on_park,
    )  # fmt: skip
    lane.submit(lambda: lane.batcher().submit(item))
    t1 = time.perf_counter()
    while True:
        try:
            event = events.get(timeout=0.2)
        except queue.Empty:
            try:
                ctx.check()
            except BaseException:
                lane.submit(lambda: lane.batcher().cancel(item.id))
                raise
            continue
        if event[0] == "ckpt":
            _save_checkpoint(ctx, seg, n, event[1], event[2], {**facts, **event[3]})
            continue
        _, done, frames, err = event
        if err is not None:
            raise err
        timings = _lane_timings(done, t_text, time.perf_counter() - t1)
        _save_done(ctx, seg, n, done, frames, {**facts, "batch_wait_s": timings["batch_wait"]}, timings)
        return


class _LaneRunner(JobRunner):
    """``JobRunner`` whose ``generate`` stage runs on the batcher when the job uses this worker's model."""

    def __init__(self, lane: JobLane, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lane = lane

    def stage_run(self, stage: StageDef, ctx: StageContext) -> Callable[[StageContext, int], None]:
        spec = ctx.spec
        weights = None if spec.weights is None else Path(spec.weights)
        mine = load_model(spec.model, weights, self.device) is self.lane.model
        if mine and stage.name == "generate":
            return functools.partial(batched_generate, self.lane)
        return stage.run


class JobLane:
    """``slots`` claimer threads inside a model worker process."""

    def __init__(
        self, worker: Any, store_url: str, blob_root: str, slots: int, lease_s: float = 30.0
    ) -> None:
        from reelserve.store import FsBlobStore, open_store

        self.worker = worker
        self.model: WanT2V = worker.model
        self.store = open_store(store_url)
        self.blobs = FsBlobStore(Path(blob_root))
        self.lease_s = lease_s
        self.stopping = threading.Event()
        self.active = 0
        self._lock = threading.Lock()
        self.threads = [
            threading.Thread(target=self._claim_loop, name=f"jobs-{i}", daemon=True) for i in range(slots)
        ]

    def batcher(self) -> Any:
        return self.worker.batcher

    @property
    def worker_id(self) -> str:
        return str(self.worker.cfg.worker_id)

    @property
    def device(self) -> str:
        return str(self.worker.cfg.device)

    def submit(self, fn: Callable[[], None]) -> None:
        self.worker.inbox.put(fn)

    @property
    def busy(self) -> bool:
        return self.active > 0

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def _claim_loop(self) -> None:
        runner = _LaneRunner(
            self, self.store, self.blobs, lease_s=self.lease_s, device=self.worker.cfg.device
        )
        while not self.stopping.is_set():
            with self._lock:
                job = self.store.claim_job(runner.worker_id, self.lease_s, kinds=["t2v"])
                self.active += job is not None
            if job is None:
                time.sleep(0.2)
                continue
            try:
                runner.run(job)
            except Exception:  # the runner fails jobs itself; this keeps the slot alive
                log.exception("job lane slot failed", extra={"job": job.id})
            finally:
                with self._lock:
                    self.active -= 1
