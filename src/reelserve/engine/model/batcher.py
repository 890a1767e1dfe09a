"""The model worker's step loop: continuous batching and preemption over ``WanT2V.step_many``.

Each ``tick`` asks ``sched.continuous.plan_step`` (with the batcher's ``ordering`` rule) what to do at
this step boundary, checkpoints the preempted items (``WanT2V.dump_state``: latents + solver history,
so they resume without redoing a step), admits new ones (fresh noise, or ``load_state`` of their
checkpoint), runs ONE batched denoising step for the running set, and decodes the items that finished
(one batched VAE decode). A session's first chunk is a ``WorkItem`` with ``opening=True``: under
``streams-first`` it yields a batch slot to streaming chunks for up to ``OPENING_HOLD_S``.
A model error fails exactly the items of the failing batch; the worker stays healthy.

Every step that ran leaves a ``StepTiming`` (metadata only: sizes and wall/CPU seconds) in
``Batcher.timings`` (the last ``TIMINGS_KEPT``) and in per-batch-size totals that ``stats()`` reports:
what ``reelserve profile`` and the fidelity benchmark read to see where a chunk's time goes.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from reelserve.core.errors import Cancelled, ModelError, ReelserveError
from reelserve.core.records import Priority
from reelserve.models.wan import DenoiseState, TextCond, WanT2V
from reelserve.sched.continuous import plan_step
from reelserve.sched.ordering import ORDERINGS
from reelserve.sched.views import RequestView

__all__ = ["TIMINGS_KEPT", "Batcher", "StepTiming", "WorkItem"]

TIMINGS_KEPT = 4096  #: step timings a batcher keeps (a few minutes of steps; older ones drop)


@dataclass(eq=False)
class WorkItem:
    """One clip or chunk to denoise and decode on this worker."""

    id: str
    cond: TextCond
    seed: int
    width: int
    height: int
    frames: int
    steps: int
    on_done: Callable[[WorkItem, np.ndarray | None, ReelserveError | None], None]
    priority: Priority = Priority.INTERACTIVE
    deadline: float | None = None  #: monotonic seconds
    cond_latents: torch.Tensor | None = None
    arrival: float = field(default_factory=time.monotonic)
    state: DenoiseState | None = None
    checkpoint: bytes | None = None  #: set while preempted
    started: float | None = None  #: wall clock of the first step
    steps_run: int = 0  #: denoising steps this worker executed for it (a redo would show here)
    preemptions: int = 0
    max_batch: int = 0  #: the largest batch it ran in
    latents: torch.Tensor | None = None  #: final latents, set when done
    on_step: Callable[[WorkItem], None] | None = None  #: called after each of its steps (checkpoints)
    on_park: Callable[[WorkItem], None] | None = None  #: called when preempted, ``checkpoint`` set
    step_s: float = 0.0  #: wall time of the batched steps it ran in (shared with its batch)
    decode_s: float = 0.0  #: wall time of the batched VAE decode it finished in
    opening: bool = False  #: a session's first chunk (ordering ``streams-first`` holds it back); jobs never

    def view(self) -> RequestView:
        return RequestView(
            self.id, self.arrival, self.priority, self.deadline, 0.0, "m",
            self.width, self.height, self.frames, self.steps, self.opening,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class StepTiming:
    """Where one tick's time went (seconds, wall unless named); metadata only."""

    batch: int  #: items in the batched denoising step
    admitted: int  #: items admitted at this step boundary (fresh noise or a checkpoint restored)
    admit_s: float  #: admitting them (``start`` / ``load_state``)
    step_s: float  #: the batched denoising step (``step_many``)
    step_cpu_s: float  #: this thread's CPU time in that step (wall >> CPU: the core was shared)
    finished: int  #: items that took their last step, decoded together
    decode_s: float  #: their batched VAE decode (0 when none finished)
    done_s: float  #: their ``on_done`` callbacks (a session chunk: state export and the reply)


class Batcher:
    """Waiting and running items of one model worker. Not thread-safe: the worker loop owns it."""

    def __init__(
        self,
        model: WanT2V,
        max_batch: int = 4,
        max_wait_s: float = 0.01,
        preempt: bool = True,
        ordering: str = "edf",
    ):
        ORDERINGS.get(ordering)  # an unknown rule fails here, listing the valid ones, not at the first tick
        self.model = model
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.preempt = preempt
        self.ordering = ordering  #: ``sched.ordering`` rule for the queue: "edf" or "streams-first"
        self.waiting: dict[str, WorkItem] = {}
        self.running: dict[str, WorkItem] = {}
        self.batch_sizes: list[int] = []  #: size of every step's batch (metrics)
        self.preempted = 0
        self.timings: deque[StepTiming] = deque(maxlen=TIMINGS_KEPT)  #: the last steps' timings
        self.step_totals: dict[int, list[float]] = {}  #: batch size -> [steps, wall s, CPU s]
        self.decode_totals: dict[int, list[float]] = {}  #: items decoded together -> [decodes, wall s]

    def submit(self, item: WorkItem) -> None:
        self.waiting[item.id] = item

    def cancel(self, prefix: str) -> int:
        """Drop waiting and running items whose id starts with ``prefix``; each gets ``Cancelled``."""
        gone = [i for i in (*self.waiting.values(), *self.running.values()) if i.id.startswith(prefix)]
        for item in gone:
            self.waiting.pop(item.id, None)
            self.running.pop(item.id, None)
            item.state = None
            item.on_done(item, None, Cancelled(f"{item.id} was cancelled"))
        return len(gone)

    @property
    def busy(self) -> bool:
        return bool(self.running or self.waiting)

    def tick(self) -> float | None:
        """Run one step (or nothing); returns when to tick again if nothing ran (monotonic), else None."""
        now = time.monotonic()
        plan = plan_step(
            [i.view() for i in self.running.values()],
            [i.view() for i in self.waiting.values()],
            now,
            max_batch=self.max_batch,
            max_wait_s=self.max_wait_s,
            preempt=self.preempt,
            ordering=self.ordering,
        )
        for vid in plan.preempt:
            self._park(self.running.pop(vid))
        t0 = time.perf_counter()
        for aid in plan.admit:
            self._admit(self.waiting.pop(aid))
        admit_s = time.perf_counter() - t0
        if not self.running:
            return plan.wake_at if plan.wake_at is not None else now + 0.5
        self._step(len(plan.admit), admit_s)
        return None

    def _park(self, item: WorkItem) -> None:
        assert item.state is not None
        item.checkpoint = self.model.dump_state(item.state)
        item.state = None
        item.preemptions += 1
        self.preempted += 1
        self.waiting[item.id] = item
        if item.on_park is not None:  # e.g. a job writes the checkpoint to its store
            item.on_park(item)

    def _admit(self, item: WorkItem) -> None:
        if item.checkpoint is not None:
            item.state = self.model.load_state(item.checkpoint)
            item.checkpoint = None
        elif item.state is None:  # a job's item may come with its state restored from the store
            cond = None if item.cond_latents is None else item.cond_latents
            item.state = self.model.start(
                seeds=[item.seed], width=item.width, height=item.height, frames=item.frames,
                steps=item.steps, cond_latents=cond,
            )  # fmt: skip
        if item.started is None:
            item.started = time.time()
        self.running[item.id] = item

    def _step(self, admitted: int, admit_s: float) -> None:
        items = list(self.running.values())
        n = len(items)
        self.batch_sizes.append(n)
        t0, c0 = time.perf_counter(), time.thread_time()
        try:
            self.model.step_many([i.state for i in items], [i.cond for i in items])  # type: ignore[misc]
        except ReelserveError as exc:
            self._fail(items, exc)
            return
        except Exception as exc:  # a bug in the model must fail its batch, not the worker
            self._fail(items, ModelError(f"{type(exc).__name__}: {exc}"))
            return
        dt, cpu = time.perf_counter() - t0, time.thread_time() - c0
        for i in items:
            i.steps_run += 1
            i.step_s += dt
            i.max_batch = max(i.max_batch, n)
            if i.on_step is not None:
                i.on_step(i)
        done = [i for i in items if i.state is not None and i.state.done]
        decode_s, done_s = self._finish(done) if done else (0.0, 0.0)
        self.timings.append(StepTiming(n, admitted, admit_s, dt, cpu, len(done), decode_s, done_s))
        total = self.step_totals.setdefault(n, [0, 0.0, 0.0])
        total[0] += 1
        total[1] += dt
        total[2] += cpu
        if done:
            dec = self.decode_totals.setdefault(len(done), [0, 0.0])
            dec[0] += 1
            dec[1] += decode_s

    def _finish(self, done: list[WorkItem]) -> tuple[float, float]:
        """Decode ``done`` together and hand each its frames; returns (decode s, callbacks s)."""
        for i in done:
            self.running.pop(i.id, None)
        t0 = time.perf_counter()
        try:
            frames = self.model.decode(torch.cat([i.state.latents for i in done]))  # type: ignore[union-attr]
        except ReelserveError as exc:
            self._fail(done, exc)
            return time.perf_counter() - t0, 0.0
        t1 = time.perf_counter()
        for k, i in enumerate(done):
            i.decode_s = t1 - t0
            i.latents = i.state.latents  # type: ignore[union-attr]
            i.state = None
            i.on_done(i, frames[k], None)
        return t1 - t0, time.perf_counter() - t1

    def _fail(self, items: list[WorkItem], exc: ReelserveError) -> None:
        for i in items:
            self.running.pop(i.id, None)
            i.state = None
            i.on_done(i, None, exc)

    def stats(self) -> dict[str, Any]:
        return {
            "running": len(self.running),
            "waiting": len(self.waiting),
            "steps": len(self.batch_sizes),
            "preempted": self.preempted,
            "ordering": self.ordering,
            # per batch size: steps run, mean wall and CPU ms per step (CPU well below wall: a shared core)
            "step_ms": {
                n: {"steps": int(c), "wall": round(1000 * w / c, 3), "cpu": round(1000 * u / c, 3)}
                for n, (c, w, u) in sorted(self.step_totals.items())
            },
            "decode_ms": {  # per number of items decoded together: decodes, mean wall ms
                k: {"decodes": int(c), "wall": round(1000 * w / c, 3)}
                for k, (c, w) in sorted(self.decode_totals.items())
            },
        }
